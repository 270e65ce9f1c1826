"""Metal density of a GDS, per layer: over the whole die and in sliding windows (the way foundry
density rules are written: a window size and a step), from the merged shapes of every cell level."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import klayout.db as kdb

METRIC_UNITS = {"density__{layer}__die": "fraction", "density__{layer}__window_min": "fraction",
                "density__{layer}__window_max": "fraction"}


@dataclass(frozen=True)
class LayerDensity:
    """One layer's density: whole die, and the lowest and highest of its windows."""

    layer: str
    die: float
    window_min: float
    window_max: float
    windows: int


def _starts(length: int, window: int, step: int) -> list[int]:
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, step))
    return starts if starts[-1] == length - window else starts + [length - window]


def density_windows(die: kdb.Box, window: int, step: int) -> list[kdb.Box]:
    """The windows of ``window`` x ``window`` (database units) moved by ``step`` over ``die``, the
    last ones flush with its top and right edge (one window, the die, when it is smaller)."""
    return [kdb.Box(die.left + x, die.bottom + y, die.left + x + min(window, die.width()),
                    die.bottom + y + min(window, die.height()))
            for x in _starts(die.width(), window, step) for y in _starts(die.height(), window, step)]


def metal_density(gds: Path, top: str, layers: dict[str, tuple[int, int]], *, window_um: float,
                  step_um: float) -> list[LayerDensity]:
    """Density of each of ``layers`` (name -> GDS layer, datatype) in ``top`` of ``gds``: windows of
    ``window_um`` moved by ``step_um`` over the die (one window, the die, when it is smaller)."""
    layout = kdb.Layout()
    layout.read(str(gds))
    cell = layout.cell(top)
    if cell is None:
        raise ValueError(f"{gds}: no cell {top!r}")
    die = cell.bbox()
    window, step = round(window_um / layout.dbu), round(step_um / layout.dbu)
    boxes = density_windows(die, window, step)
    found = []
    for name, (number, datatype) in layers.items():
        region = kdb.Region(cell.begin_shapes_rec(layout.layer(number, datatype))).merged()
        ratios = [(region & kdb.Region(box)).area() / box.area() for box in boxes]
        found.append(LayerDensity(name, round(region.area() / die.area(), 4), round(min(ratios), 4),
                                  round(max(ratios), 4), len(boxes)))
    return found


def density_metrics(densities: list[LayerDensity]) -> dict[str, float]:
    """Flat metrics ``density__<layer>__die`` / ``__window_min`` / ``__window_max``."""
    metrics = {}
    for d in densities:
        metrics.update({f"density__{d.layer}__die": d.die, f"density__{d.layer}__window_min": d.window_min,
                        f"density__{d.layer}__window_max": d.window_max})
    return metrics
