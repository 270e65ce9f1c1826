"""The RTL-to-GDS flow: its stages in order, one module each under ``kchip.flows.stages``.

elaborate -> lint -> synth -> floorplan -> place -> cts -> route -> gds -> gds_rules, drc, lvs, sta, antenna, equiv -> report
"""

from __future__ import annotations

from kchip.flows.stage import Stage
from kchip.flows.stages.antenna import Antenna
from kchip.flows.stages.cts import ClockTree
from kchip.flows.stages.drc import Drc
from kchip.flows.stages.elaborate import Elaborate
from kchip.flows.stages.equiv import Equivalence
from kchip.flows.stages.floorplan import Floorplan
from kchip.flows.stages.gds import Gds
from kchip.flows.stages.gds_rules import GdsRules
from kchip.flows.stages.lint import Lint
from kchip.flows.stages.lvs import Lvs
from kchip.flows.stages.place import Place
from kchip.flows.stages.report import Report
from kchip.flows.stages.route import Route
from kchip.flows.stages.sta import Sta
from kchip.flows.stages.synth import Synth

#: every stage by name, in flow order
STAGES: dict[str, type[Stage]] = {cls.name: cls for cls in sorted(
    (Elaborate, Lint, Synth, Floorplan, Place, ClockTree, Route, Gds, GdsRules, Drc, Lvs, Sta, Antenna, Equivalence,
     Report),
    key=lambda c: c.order)}


def downstream_of(name: str) -> set[str]:
    """The stage and every stage that depends on it."""
    found = {name}
    changed = True
    while changed:
        changed = False
        for stage in STAGES.values():
            if stage.name not in found and found & set(stage.upstream):
                found.add(stage.name)
                changed = True
    return found
