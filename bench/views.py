"""Render the pictures and heatmaps of a finished run folder into another folder (the run folder is
only read), with the timings printed as JSON.

    KCHIP_PDK_ROOT=... .venv/bin/python bench/views.py RUN_DIR OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from kchip.flows.physical.layout import Layout
from kchip.formats.lef import read_macros
from kchip.flows.views.render import render_views
from kchip.pdk import load_pdk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    gds_state = json.loads(next(args.run_dir.glob("stages/[0-9]*-gds/*/state.json")).read_text())
    gds = next((args.run_dir / "final").glob("*.gds"))
    pdk = load_pdk()
    started = time.perf_counter()
    layout = Layout.load(Path(gds_state["inherited_views"]["layout"]))
    loaded = time.perf_counter()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    listing = render_views(gds, layout, read_macros(pdk.lef), pdk, args.out_dir, gds.stem)
    print(json.dumps({"layout_load_s": round(loaded - started, 1),
                      "render_s": round(time.perf_counter() - loaded, 1),
                      "pictures": {k: str(args.out_dir / v) for k, v in json.loads(listing.read_text()).items()}},
                     indent=1))


if __name__ == "__main__":
    main()
