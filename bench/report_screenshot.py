"""Screenshot a run's HTML report with headless Chromium and say whether it looks drawn.

    python bench/report_screenshot.py RUN_DIR_OR_REPORT_HTML [--out PNG] [--width 1280] [--height 2400]

Prints JSON: the PNG's path, its size, the fraction of pixels that are not white, the number of
distinct colours, the images the page references and those the browser could not load (a copy of
the page with a ``<base>`` pointing at the report's folder and a small script is loaded with
``--dump-dom``; the script lists every ``<img>`` that is incomplete or has no natural width).
Exits 1 when Chromium is missing or an image did not load.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import klayout.lay as klay
import numpy as np

CHECK = ("<script>window.addEventListener('load', () => { document.body.setAttribute('data-broken', "
         "[...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
         ".map(i => i.getAttribute('src')).join(' ')); });</script>")


def chromium() -> str | None:
    """The Chromium binary on PATH, or None."""
    return next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)


def _run(binary: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--allow-file-access-from-files", *args], capture_output=True, text=True, timeout=120)


def broken_images(binary: str, html: Path) -> list[str]:
    """The ``src`` of every image of ``html`` the browser could not load."""
    page = html.read_text()
    base = f"<base href='{html.parent.resolve().as_uri()}/'>"
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe.html"
        probe.write_text(page.replace("<meta charset='utf-8'>", "<meta charset='utf-8'>" + base, 1) + CHECK)
        dom = _run(binary, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()).stdout
    found = re.search(r'data-broken="([^"]*)"', dom)
    if found is None:
        raise RuntimeError(f"the probe page of {html} did not report its images:\n{dom[:2000]}")
    return found.group(1).split()


def screenshot(binary: str, html: Path, out: Path, width: int, height: int) -> dict:
    """Screenshot ``html`` into ``out``; the measurements printed by this script."""
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _run(binary, f"--screenshot={out}", f"--window-size={width},{height}", "--virtual-time-budget=10000",
                html.resolve().as_uri())
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot of {html}:\n{done.stderr[-2000:]}")
    buffer = klay.PixelBuffer.read_png(str(out))
    data = buffer.to_bytes()
    pixels = np.frombuffer(data[len(data) - 4 * buffer.width() * buffer.height():], np.uint32) & 0xffffff
    return {"png": str(out), "width": buffer.width(), "height": buffer.height(),
            "non_white_fraction": round(float(np.mean(pixels != 0xffffff)), 4),
            "colours": int(len(np.unique(pixels))),
            "images": re.findall(r"<img src='([^']+)'", html.read_text()),
            "broken_images": broken_images(binary, html)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", type=Path, help="run folder (its final/report.html) or an HTML file")
    parser.add_argument("--out", type=Path, help="PNG to write (default: report.png beside this run's report "
                                                 "in a temporary folder)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    html = args.target / "final" / "report.html" if args.target.is_dir() else args.target
    binary = chromium()
    if binary is None:
        print(json.dumps({"error": "no chromium on PATH (Debian: apt-get install chromium)"}))
        return 1
    out = args.out or Path(tempfile.mkdtemp(prefix="kchip-report-")) / "report.png"
    result = screenshot(binary, html, out, args.width, args.height)
    print(json.dumps(result, indent=1))
    return 1 if result["broken_images"] else 0


if __name__ == "__main__":
    sys.exit(main())
