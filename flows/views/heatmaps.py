"""Heatmaps (PNG with a colour scale) of a layout: placement density and routing usage per layer.

Areas per bin are measured with KLayout's region rasteriser; the picture is drawn with numpy and
written as a PNG by :func:`write_png` (no imaging library needed). The colour scale on the right runs
from 0 at the bottom to the largest bin at the top, labelled in percent.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import klayout.db as kdb
import numpy as np

from kchip.flows.physical.layout import Layout
from kchip.formats.files import write_atomic

#: colour ramp (dark blue, teal, green, yellow, red) the values are mapped onto
RAMP = np.array([(48, 18, 59), (40, 130, 190), (60, 190, 110), (250, 210, 60), (200, 30, 30)], float)
#: 3x5 pixel glyphs of the scale's labels, one row of three bits per line
GLYPHS = {"0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
          "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
          "8": "111101111101111", "9": "111101111001111", "%": "101001010100101", ".": "000000000000010",
          "-": "000000111000000", "n": "000110101101101", "s": "000011100001110"}
#: room right of a picture for its colour scale and labels, and the margin around it (pixels)
SCALE_ROOM, MARGIN = 210, 20


def write_png(rgb: np.ndarray, path: Path) -> Path:
    """Write an (height, width, 3) uint8 array as an 8-bit RGB PNG, atomically."""
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[row].astype(np.uint8).tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    write_atomic(path, png)
    return path


def colour(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] onto :data:`RAMP`."""
    position = np.clip(values, 0, 1) * (len(RAMP) - 1)
    low = np.minimum(position.astype(int), len(RAMP) - 2)
    frac = (position - low)[..., None]
    return (RAMP[low] * (1 - frac) + RAMP[low + 1] * frac).astype(np.uint8)


def _text(canvas: np.ndarray, text: str, x: int, y: int, scale: int = 5) -> None:
    for glyph in text:
        bits = np.array([int(b) for b in GLYPHS[glyph]], bool).reshape(5, 3)
        block = np.kron(bits, np.ones((scale, scale), bool))
        canvas[y:y + block.shape[0], x:x + block.shape[1]][block] = 0
        x += 4 * scale


def blank(width: int, height: int, *, scale: bool = True) -> np.ndarray:
    """A white canvas for a ``width`` x ``height`` picture with its margin (and the room of a scale)."""
    return np.full((height + 2 * MARGIN, width + 2 * MARGIN + SCALE_ROOM * scale, 3), 255, np.uint8)


def scale_bar(canvas: np.ndarray, width: int, height: int, labels: tuple[str, str, str]) -> None:
    """Draw the colour scale right of a ``width`` x ``height`` picture on ``canvas`` (:func:`blank`):
    the top of :data:`RAMP` at the top, labelled top, middle and bottom with ``labels``."""
    bar = colour(np.linspace(1, 0, height))[:, None, :]
    left = MARGIN + width + 20
    canvas[MARGIN:MARGIN + height, left:left + 30] = np.repeat(bar, 30, axis=1)
    for label, y in zip(labels, (MARGIN, MARGIN + height // 2 - 12, MARGIN + height - 25)):
        _text(canvas, label, left + 38, y)


def draw_heatmap(grid: np.ndarray, path: Path, *, cell_px: int | None = None, size: int = 800) -> Path:
    """Draw ``grid`` (fractions, row 0 at the bottom of the die) with a labelled colour scale."""
    rows, cols = grid.shape
    cell_px = cell_px or max(1, size // max(rows, cols))
    top = float(grid.max()) if grid.size and grid.max() > 0 else 1.0
    image = np.kron(colour(grid[::-1] / top), np.ones((cell_px, cell_px, 1), np.uint8))
    height, width = image.shape[:2]
    canvas = blank(width, height)
    canvas[MARGIN:MARGIN + height, MARGIN:MARGIN + width] = image
    scale_bar(canvas, width, height, tuple(f"{fraction * 100:.0f}%" for fraction in (top, top / 2, 0.0)))
    return write_png(canvas, path)


def _grid(region: kdb.Region, area: kdb.Box, bins: int) -> np.ndarray:
    """Fraction of each of ``bins`` x ``bins`` (or fewer along the short side) bins ``region`` covers."""
    step = max(area.width(), area.height()) // bins + 1
    nx, ny = max(1, -(-area.width() // step)), max(1, -(-area.height() // step))
    raster = region.rasterize(area.p1, kdb.Vector(step, step), nx, ny)
    return np.array(raster, float) / float(step * step)


def _region(rects) -> kdb.Region:
    region = kdb.Region()
    for rect in rects:
        region.insert(kdb.Box(*rect))
    region.merge()
    return region


def placement_density(layout: Layout, cell_sizes: dict[str, tuple[int, int]], bins: int = 48) -> np.ndarray:
    """Fraction of each bin of the core covered by placed cells other than fill (``cell_sizes``: nm)."""
    rects = [(i.x, i.y, i.x + cell_sizes[i.cell][0], i.y + cell_sizes[i.cell][1])
             for i in layout.instances.values() if i.x is not None and i.role != "fill" and i.cell in cell_sizes]
    return _grid(_region(rects), kdb.Box(*(layout.core or layout.die)), bins)


def routing_usage(layout: Layout, bins: int = 48) -> dict[str, np.ndarray]:
    """Fraction of each bin of the die covered by routed wires, per layer."""
    by_layer: dict[str, list] = {}
    for shape in layout.shapes:
        by_layer.setdefault(shape.layer, []).append(shape.rect)
    area = kdb.Box(*layout.die)
    return {name: _grid(_region(rects), area, bins) for name, rects in sorted(by_layer.items())}


def render_heatmaps(layout: Layout, cell_sizes: dict[str, tuple[int, int]], out_dir: Path, stem: str,
                    *, bins: int = 48) -> dict[str, Path]:
    """The placement density and per-layer routing usage heatmaps as ``<stem>.heat_<what>.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    maps = {"heat_density": draw_heatmap(placement_density(layout, cell_sizes, bins),
                                         out_dir / f"{stem}.heat_density.png")}
    for name, grid in routing_usage(layout, bins).items():
        maps[f"heat_{name}"] = draw_heatmap(grid, out_dir / f"{stem}.heat_{name}.png")
    return maps
