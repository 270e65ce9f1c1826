"""GDS rules: the final GDS checked with KLayout against the PDK's published rule values."""

from __future__ import annotations

from kchip.flows.signoff.gds_rules import check_gds, write_report
from kchip.flows.stage import Stage, StageFailed


class GdsRules(Stage):
    """Width, spacing (notches and corners included), area and enclosure of li1, met1 to met4 and
    their cuts, from the values of the PDK descriptor's ``[gds_rules]`` (not the router's tables).
    Any violation fails the stage, naming the rule and the place."""

    name, order, upstream = "gds_rules", 9, ("gds",)
    reads = ("gds",)
    writes = ("gds_rules_report",)

    def execute(self, ctx):
        try:
            result = check_gds(ctx.views["gds"], ctx.design.top, ctx.pdk)
        except ValueError as exc:
            raise StageFailed(str(exc)) from exc
        report = ctx.folder / "gds_rules.json"
        write_report(result, report, ctx.folder / "gds_rules.lyrdb")
        if result.violations:
            places = "\n  ".join(f"{v.rule} on {v.layer} at ({v.x}, {v.y}) um" for v in result.violations[:10])
            raise StageFailed(f"{result.total} GDS rule violation(s) in {ctx.views['gds']} "
                              f"({', '.join(f'{r}: {n}' for r, n in result.errors_by_rule.items())}):\n  {places}"
                              f"\nmarkers: {ctx.folder / 'gds_rules.lyrdb'} (klayout -m)")
        return {"gds_rules_report": report}, result.metrics()
