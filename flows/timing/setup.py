"""Setup repair by gate sizing, after placement.

A path that misses setup is made faster by giving its gates more drive: every combinational cell
whose worst setup slack is in the worse half of the violation (from 0 down to the worst slack) is
swapped for the next larger cell of the same logic and moved to the free sites nearest its old
centre. The layout is then timed again; a pass that does not raise the worst slack is undone
whole (a stronger gate also loads the gate before it more), and the next pass upsizes only the
most critical cells (within 15 % of the worst slack); when that does not help either, the repair
stops. ``measure``
times the layout as it is (:class:`~kchip.tools.opensta_endpoints.PlacedTiming` with cell slacks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from kchip.flows.physical.layout import Layout
from kchip.flows.physical.placer import PlacementError, RowOccupancy
from kchip.formats.lef import Macro
from kchip.tools.opensta_endpoints import PlacedTiming

Measure = Callable[[Layout], PlacedTiming]
#: a pass must raise the worst setup slack by more than this (ns) to be kept
MIN_GAIN_NS = 1e-4
#: which cells a pass upsizes: those whose slack is at most this share of the worst slack; after a
#: pass that does not help, the next share (fewer, more critical cells) is tried
SHARES = (0.5, 0.85)


@dataclass
class SetupRepair:
    """What the repair did: the cell of every resized instance (first and last), and the worst and
    total negative setup slack before and after (ns)."""

    resized: dict[str, tuple[str, str]] = field(default_factory=dict)
    ws_before: float | None = None
    ws_after: float | None = None
    tns_before: float = 0.0
    tns_after: float = 0.0
    passes: int = 0
    #: the timing of the layout as the repair leaves it
    timing: PlacedTiming | None = None

    def metrics(self) -> dict[str, float]:
        values = {"repair__setup_resized__count": len(self.resized), "repair__setup_passes__count": self.passes,
                  "repair__setup_before__ws": self.ws_before, "repair__setup_after__ws": self.ws_after,
                  "repair__setup_before__tns": round(self.tns_before, 4),
                  "repair__setup_after__tns": round(self.tns_after, 4)}
        return {name: value for name, value in values.items() if value is not None}


#: units of :meth:`SetupRepair.metrics`
METRIC_UNITS = {"repair__setup_resized__count": "cells", "repair__setup_passes__count": "passes",
                "repair__setup_before__ws": "ns", "repair__setup_after__ws": "ns",
                "repair__setup_before__tns": "ns", "repair__setup_after__tns": "ns"}


def repair_setup(layout: Layout, macros: dict[str, Macro], measure: Measure, larger: dict[str, str], *,
                 max_passes: int = 4) -> SetupRepair:
    """Upsize the cells on failing paths (see the module); ``larger`` names, for each cell that
    has one, the next larger usable cell of the same logic."""
    result = SetupRepair()
    timing = measure(layout)
    result.ws_before, result.tns_before = timing.setup_ws, timing.setup_tns
    share = SHARES[0]
    for _ in range(max_passes):
        worst = timing.setup_ws
        if worst is None or worst >= 0:
            break
        critical = sorted((slack, name) for name, slack in timing.cells.items()
                          if slack <= worst * share and name in layout.instances
                          and layout.instances[name].cell in larger)
        undo = upsize(layout, macros, [name for _, name in critical], larger)
        if not undo:
            break
        after = measure(layout)
        if after.setup_ws is None or after.setup_ws <= worst + MIN_GAIN_NS:
            _restore(layout, undo)
            if share == SHARES[-1]:
                break
            share = SHARES[SHARES.index(share) + 1]
            continue
        result.passes += 1
        for name, (cell, *_) in undo.items():
            first = result.resized.get(name, (cell, cell))[0]
            result.resized[name] = (first, layout.instances[name].cell)
        timing = after
    result.ws_after, result.tns_after, result.timing = timing.setup_ws, timing.setup_tns, timing
    return result


def upsize(layout: Layout, macros: dict[str, Macro], names: list[str], larger: dict[str, str]) -> dict:
    """Swap each of ``names`` for its larger cell on the nearest free sites (a cell with no room
    left keeps its own); returns each swapped instance's old (cell, x, y, orient)."""
    occupancy = RowOccupancy(layout, macros)
    rows = dict(layout.rows)
    undo = {}
    for name in names:
        inst = layout.instances[name]
        old = (inst.cell, inst.x, inst.y, inst.orient)
        new = larger[inst.cell]
        occupancy.free(inst.x, inst.y, macros[inst.cell].width)
        centre = inst.x + macros[inst.cell].width / 2
        try:
            x, y = occupancy.nearest(centre - macros[new].width / 2, inst.y, macros[new].width,
                                     what=f"{name} ({new})")
        except PlacementError:
            occupancy.mark(inst.x, inst.y, macros[inst.cell].width)
            continue
        inst.cell, inst.x, inst.y, inst.orient = new, x, y, rows[y]
        undo[name] = old
    return undo


def _restore(layout: Layout, undo: dict) -> None:
    for name, (cell, x, y, orient) in undo.items():
        inst = layout.instances[name]
        inst.cell, inst.x, inst.y, inst.orient = cell, x, y, orient
