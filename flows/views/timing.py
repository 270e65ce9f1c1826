"""Timing over the placement, from OpenSTA's setup slack at every pin and its worst setup path.

- ``slack``: the die's outline and every placed cell filled with the colour of its worst setup slack (the smallest over its
  pins), red for the design's worst slack and dark blue for the best, with a labelled scale in ns;
  cells without a timed pin (taps, fill, diodes, tie cells) are light grey;
- ``worst_path``: the placement in grey, the cells of the worst setup path filled orange (with an
  orange marker at their centre, visible at die scale) and joined in path order by a dark line from
  the start point (a green square) to the end point (a red square); a path that starts or ends at a
  port starts or ends at the port's pin.

Fill cells are not drawn: the core shows light grey where they are.

Both are drawn with numpy (:class:`Frame` maps die nanometres to pixels) and written as PNG by
:func:`~kchip.flows.views.heatmaps.write_png`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from kchip.flows.physical.layout import Layout
from kchip.flows.views.heatmaps import MARGIN, blank, colour, scale_bar, write_png
from kchip.formats.files import write_atomic

UNTIMED, PLACED, PATH_CELL, CORE = (200, 200, 200), (200, 200, 200), (255, 127, 14), (244, 244, 244)
PATH_LINE, START, END, EDGE, DIE = (30, 30, 30), (44, 160, 44), (214, 39, 40), (150, 150, 150), (64, 64, 64)
#: smallest cell (pixels along both sides) drawn with an outline; half the side of a path cell's marker
OUTLINED_PX, MARKER_HALF = 6, 4


def read_pin_slacks(path: Path) -> dict[str, float]:
    """``pin rise fall`` lines (OpenSTA's ``pin_slack.txt``) as pin -> the smaller slack (inf when
    the pin is not timed)."""
    slacks = {}
    for line in Path(path).read_text().splitlines():
        pin, rise, fall = line.split()
        slacks[pin] = min(float(rise), float(fall))
    return slacks


def instance_slacks(pin_slacks: dict[str, float]) -> dict[str, float]:
    """The worst finite slack over each instance's pins (``instance/pin``; ports are left out)."""
    worst: dict[str, float] = {}
    for pin, slack in pin_slacks.items():
        instance, divider, _ = pin.rpartition("/")
        if divider and math.isfinite(slack):
            worst[instance] = min(slack, worst.get(instance, slack))
    return worst


def path_cells(pins: list[str]) -> list[str]:
    """The instances a path's pins (``instance/pin`` or a port name) pass through, in order."""
    cells: list[str] = []
    for pin in pins:
        instance, divider, _ = pin.rpartition("/")
        if divider and (not cells or cells[-1] != instance):
            cells.append(instance)
    return cells


class Frame:
    """Die nanometres to the pixels of a picture ``size`` pixels along the die's longer side, inside
    :data:`~kchip.flows.views.heatmaps.MARGIN` (rows run down from the die's top)."""

    def __init__(self, die: tuple[int, int, int, int], size: int):
        self.x0, self.y0, x1, y1 = die
        self.scale = size / max(x1 - self.x0, y1 - self.y0)
        self.width = max(1, round((x1 - self.x0) * self.scale))
        self.height = max(1, round((y1 - self.y0) * self.scale))

    def column(self, x: float) -> int:
        return MARGIN + min(self.width - 1, max(0, int((x - self.x0) * self.scale)))

    def row(self, y: float) -> int:
        return MARGIN + self.height - 1 - min(self.height - 1, max(0, int((y - self.y0) * self.scale)))

    def box(self, rect: tuple[int, int, int, int]) -> tuple[slice, slice]:
        """The rows and columns a rectangle covers (at least one pixel)."""
        c0 = MARGIN + round((rect[0] - self.x0) * self.scale)
        c1 = max(c0 + 1, MARGIN + round((rect[2] - self.x0) * self.scale))
        r1 = MARGIN + self.height - round((rect[1] - self.y0) * self.scale)
        r0 = min(r1 - 1, MARGIN + self.height - round((rect[3] - self.y0) * self.scale))
        return slice(r0, r1), slice(c0, c1)


def cell_rects(layout: Layout, cell_sizes: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int, int, int]]:
    """Each placed instance's rectangle (nm; ``cell_sizes``: cell -> width, height), fill cells left out."""
    rects = {}
    for name, inst in layout.instances.items():
        if inst.x is not None and inst.cell in cell_sizes and inst.role != "fill":
            w, h = cell_sizes[inst.cell]
            if inst.orient in ("E", "W", "FE", "FW"):
                w, h = h, w
            rects[name] = (inst.x, inst.y, inst.x + w, inst.y + h)
    return rects


def _die(canvas: np.ndarray, frame: Frame, layout: Layout) -> None:
    """The die's outline, one pixel outside the picture, and the core in light grey."""
    top, left, bottom, right = MARGIN - 1, MARGIN - 1, MARGIN + frame.height, MARGIN + frame.width
    canvas[[top, bottom], left:right + 1] = DIE
    canvas[top:bottom + 1, [left, right]] = DIE
    if layout.core:
        canvas[frame.box(layout.core)] = CORE


def _fill(canvas: np.ndarray, frame: Frame, rect, rgb) -> None:
    rows, cols = frame.box(rect)
    canvas[rows, cols] = rgb
    if rows.stop - rows.start >= OUTLINED_PX and cols.stop - cols.start >= OUTLINED_PX:
        canvas[rows, cols][[0, -1], :] = EDGE
        canvas[rows, cols][:, [0, -1]] = EDGE


def draw_slack_map(layout: Layout, cell_sizes: dict[str, tuple[int, int]], slacks: dict[str, float],
                   path: Path, *, size: int = 1000) -> Path:
    """Every placed cell in the colour of its slack (``slacks``: instance -> ns), with the scale."""
    frame = Frame(layout.die, size)
    canvas = blank(frame.width, frame.height)
    _die(canvas, frame, layout)
    rects = cell_rects(layout, cell_sizes)
    timed = [s for name, s in slacks.items() if name in rects]
    worst, best = (min(timed), max(timed)) if timed else (0.0, 0.0)
    span = best - worst or 1.0
    for name, rect in rects.items():
        slack = slacks.get(name)
        rgb = UNTIMED if slack is None else tuple(colour(np.array((best - slack) / span)))
        _fill(canvas, frame, rect, rgb)
    scale_bar(canvas, frame.width, frame.height,
              tuple(f"{value:.2f}ns" for value in (worst, (worst + best) / 2, best)))
    return write_png(canvas, path)


def _line(canvas: np.ndarray, start: tuple[int, int], end: tuple[int, int], rgb, width: int = 3) -> None:
    """A straight line of ``width`` pixels between two (column, row) points."""
    steps = 2 * max(abs(end[0] - start[0]), abs(end[1] - start[1]), 1)
    half = width // 2
    for t in np.linspace(0.0, 1.0, steps + 1):
        col = round(start[0] + (end[0] - start[0]) * t)
        row = round(start[1] + (end[1] - start[1]) * t)
        canvas[max(0, row - half):row + half + 1, max(0, col - half):col + half + 1] = rgb


def _square(canvas: np.ndarray, point: tuple[int, int], rgb, half: int = 6) -> None:
    col, row = point
    canvas[max(0, row - half):row + half + 1, max(0, col - half):col + half + 1] = rgb


def path_points(layout: Layout, rects: dict[str, tuple[int, int, int, int]], pins: list[str]) -> list[tuple[float, float]]:
    """The points (nm) a path is drawn through: each of its cells' centres and, for a port it starts
    or ends at, the centre of the port's pin."""
    ports = {p.name: p.rect for p in layout.ports if p.rect}
    points, last = [], None
    for pin in pins:
        instance, divider, _ = pin.rpartition("/")
        rect = rects.get(instance) if divider else ports.get(pin)
        key = instance if divider else pin
        if rect is not None and key != last:
            points.append(((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2))
            last = key
    return points


def draw_worst_path(layout: Layout, cell_sizes: dict[str, tuple[int, int]], pins: list[str], path: Path,
                    *, size: int = 1000) -> Path:
    """The placement with the cells of the path ``pins`` (start to end) highlighted and joined."""
    frame = Frame(layout.die, size)
    canvas = blank(frame.width, frame.height, scale=False)
    _die(canvas, frame, layout)
    rects = cell_rects(layout, cell_sizes)
    on_path = path_cells(pins)
    for name, rect in rects.items():
        _fill(canvas, frame, rect, PLACED)
    points = [(frame.column(x), frame.row(y)) for x, y in path_points(layout, rects, pins)]
    for start, end in zip(points, points[1:]):
        _line(canvas, start, end, PATH_LINE)
    for name in on_path:
        rows, cols = frame.box(rects[name])
        centre = ((cols.start + cols.stop) // 2, (rows.start + rows.stop) // 2)
        _square(canvas, centre, PATH_LINE, MARKER_HALF + 1)
        _square(canvas, centre, PATH_CELL, MARKER_HALF)
        canvas[rows, cols] = PATH_CELL
    if points:
        _square(canvas, points[0], START)
        _square(canvas, points[-1], END)
    return write_png(canvas, path)


def render_timing_views(layout: Layout, cell_sizes: dict[str, tuple[int, int]], pin_slacks: Path,
                        worst_pins: list[str], out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Draw ``<stem>.slack.png`` and ``<stem>.worst_path.png`` into ``out_dir``; write the slack of
    every instance and the worst setup path (pins and cells) to ``slack.json`` and the pictures,
    name -> file name, to ``timing_pictures.json``; return those two files."""
    slacks = instance_slacks(read_pin_slacks(pin_slacks))
    pictures = {"slack": draw_slack_map(layout, cell_sizes, slacks, out_dir / f"{stem}.slack.png"),
                "worst_path": draw_worst_path(layout, cell_sizes, worst_pins, out_dir / f"{stem}.worst_path.png")}
    report = out_dir / "slack.json"
    write_atomic(report, json.dumps({"worst_setup_path": {"pins": worst_pins, "cells": path_cells(worst_pins)},
                                     "instances": dict(sorted(slacks.items()))}, indent=1))
    listing = out_dir / "timing_pictures.json"
    write_atomic(listing, json.dumps({name: file.name for name, file in pictures.items()}, indent=1))
    return report, listing
