"""Every picture and heatmap of a routed layout, as the gds stage makes them (also used by
``bench/views.py`` on an existing run folder)."""

from __future__ import annotations

import json
from pathlib import Path

from kchip.formats.files import write_atomic
from kchip.flows.physical.layout import Layout
from kchip.flows.views.heatmaps import render_heatmaps
from kchip.flows.views.pictures import PictureSetup, cell_kinds, render_pictures


def render_views(gds: Path, layout: Layout, macros: dict, pdk, out_dir: Path, stem: str) -> Path:
    """Render the pictures and heatmaps of ``gds`` and its ``layout`` (with the LEF ``macros``) into
    ``out_dir`` and list them, name -> file name, in ``out_dir/pictures.json``; return that listing."""
    sizes = {name: (macro.width, macro.height) for name, macro in macros.items()}
    flops = {name for name, macro in macros.items() if any(p.use == "CLOCK" for p in macro.pins.values())}
    pictures = render_pictures(gds, layout, cell_kinds(layout, flops), sizes, PictureSetup.from_pdk(pdk),
                               out_dir, stem)
    pictures.update(render_heatmaps(layout, sizes, out_dir, stem))
    listing = out_dir / "pictures.json"
    write_atomic(listing, json.dumps({name: path.name for name, path in pictures.items()}, indent=1))
    return listing
