"""Report: the signed-off results gathered into the stage's ``final/`` folder, which the runner
publishes as the run folder's ``final/``."""

from __future__ import annotations

from kchip.flows.report import write_final
from kchip.flows.stage import Stage


class Report(Stage):
    """Collect the signed-off results: GDS, DEF (placed and routed), netlist, metrics (with the
    configuration digest), pictures, markers and report."""

    name, order, upstream = "report", 15, ("gds_rules", "drc", "lvs", "sta", "antenna", "equiv")
    reads = ("gds", "def", "placed_def", "png", "pictures", "timing_pictures", "final_netlist", "drc_report",
             "drc_markers", "lvs_report", "sta_report", "antenna_report", "antenna_markers", "gds_rules_report",
             "floorplan_report", "density_report")
    writes = ("report", "final")

    def execute(self, ctx):
        final = ctx.folder / "final"
        report = write_final(ctx, final, {"flow__config__digest": self.digest()})
        return {"report": report, "final": final}, {"flow__config__digest": self.digest()}
