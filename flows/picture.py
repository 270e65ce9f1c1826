"""A PNG picture of a layout, rendered headless with KLayout and the PDK's layer colours."""

from __future__ import annotations

import os
from pathlib import Path

import klayout.lay as klay


def render_png(gds: Path, lyp: Path, out: Path, *, width: int = 1200, height: int = 1200) -> Path:
    """Render every layer of the top cell of ``gds`` to ``out`` (written atomically)."""
    view = klay.LayoutView()
    view.set_config("background-color", "#ffffff")
    view.set_config("grid-visible", "false")
    view.load_layout(str(gds), True)
    view.load_layer_props(str(lyp))
    view.max_hier()
    view.zoom_fit()
    tmp = Path(f"{out}.tmp{os.getpid()}.png")
    view.save_image(str(tmp), width, height)
    os.replace(tmp, out)
    return out
