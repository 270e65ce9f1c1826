"""Net weights for timing-driven placement: the nets of paths that miss setup pull harder.

Every net driven by a cell whose worst setup slack is negative gets a weight between 1 and
``max_weight``, in proportion to how close the cell's slack is to the worst slack; the placer
multiplies the net's pull by it, so the cells of the worst paths end up closer together.
"""

from __future__ import annotations

from kchip.flows.physical.layout import Layout
from kchip.formats.lef import Macro


def critical_net_weights(layout: Layout, macros: dict[str, Macro], cell_slacks: dict[str, float],
                         worst: float, *, max_weight: float) -> dict[str, float]:
    """The weight of every net a cell with negative slack drives (``worst`` < 0 is the worst
    slack; a net with several such drivers takes the largest weight)."""
    if worst >= 0:
        return {}
    weights: dict[str, float] = {}
    for name, slack in cell_slacks.items():
        inst = layout.instances.get(name)
        if inst is None or slack >= 0:
            continue
        weight = 1.0 + (max_weight - 1.0) * min(1.0, slack / worst)
        for pin, net in inst.conns.items():
            if macros[inst.cell].pins[pin].direction == "OUTPUT" and net != layout.clock_net:
                weights[net] = max(weights.get(net, 1.0), weight)
    return weights
