"""Pictures, heatmaps, marker databases, the report and ``kchip view`` of a counter run.

The pictures are judged by pixel statistics (not blank, not one colour) and by drawing no text: a
picture of the GDS equals the picture of the same GDS with every text shape deleted. A DRC error
injected into the GDS comes back, every marker of it, from the final ``.lyrdb`` read with KLayout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import klayout.db as kdb
import klayout.lay as klay
import numpy as np
import pytest

from kchip.flows.physical.layout import Layout, Shape
from kchip.flows.signoff.antenna import Violation
from kchip.flows.views.markers import antenna_markers, read_markers, write_markers
from kchip.flows.views.pictures import PictureSetup, gds_view, text_layers, visible_layers
from kchip.flows.views.render import render_views

REPO = Path(__file__).resolve().parent.parent
COUNTER = REPO / "rtl" / "examples" / "counter.toml"
#: the report must fit on a screen or two
REPORT_MAX_BYTES = 12_000
REPORT_MAX_LINES = 220


def _kchip(pdk, *args, env=None):
    env = {**(env if env is not None else os.environ), "KCHIP_PDK_ROOT": str(pdk.root)}
    return subprocess.run([sys.executable, "-m", "kchip", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=600)


def _run(pdk, run_dir: Path) -> Path:
    done = _kchip(pdk, "flow", "run", "--design", COUNTER, "--run-dir", run_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    return run_dir


@pytest.fixture(scope="module")
def counter_run(pdk, tmp_path_factory):
    return _run(pdk, tmp_path_factory.mktemp("views") / "run")


def _pixels(png: Path) -> np.ndarray:
    """The picture's pixels as 32-bit values (KLayout's PNG reader)."""
    buffer = klay.PixelBuffer.read_png(str(png))
    data = buffer.to_bytes()
    return np.frombuffer(data[len(data) - 4 * buffer.width() * buffer.height():], np.uint32)


def _routed(run_dir: Path) -> tuple[Path, Layout]:
    state = json.loads(next(run_dir.glob("stages/08-gds/*/state.json")).read_text())
    return next(run_dir.glob("stages/08-gds/*/counter.gds")), Layout.load(Path(state["inherited_views"]["layout"]))


def test_every_picture_and_heatmap_is_drawn(counter_run):
    final = counter_run / "final"
    listing = json.loads(next(counter_run.glob("stages/08-gds/*/pictures.json")).read_text())
    assert {"overview", "placement", "clock", "tile", "heat_density", "heat_met1"} <= set(listing)
    for name, file in listing.items():
        pixels = _pixels(final / file)
        values, counts = np.unique(pixels, return_counts=True)
        assert len(values) >= 4, f"{name}: {len(values)} colours"
        assert counts.max() < 0.97 * pixels.size, f"{name}: one colour covers {counts.max() / pixels.size:.1%}"


def test_placement_colours_every_kind(counter_run):
    pixels = set(_pixels(counter_run / "final" / "counter.placement.png").tolist())
    from kchip.flows.views.pictures import KIND_COLOURS

    for kind in ("logic", "flop", "clock", "tap", "fill"):
        assert (0xff000000 | KIND_COLOURS[kind]) in pixels, f"no {kind} cell drawn"


def test_no_text_is_drawn(pdk, counter_run, tmp_path):
    gds, layout = _routed(counter_run)
    source = kdb.Layout()
    source.read(str(gds))
    assert text_layers(source), "the counter's GDS has labels, so this test can see them"
    for cell in source.each_cell():
        for index in source.layer_indexes():
            for shape in list(cell.shapes(index).each(kdb.Shapes.STexts)):
                cell.shapes(index).erase(shape)
    plain = tmp_path / "plain" / "counter.gds"
    plain.parent.mkdir()
    source.write(str(plain))
    with_text = render_views(gds, layout, _macros(pdk), pdk, tmp_path / "with", "counter")
    without = render_views(plain, layout, _macros(pdk), pdk, tmp_path / "plain", "counter")
    for name, file in json.loads(with_text.read_text()).items():
        assert np.array_equal(_pixels(with_text.parent / file), _pixels(without.parent / file)), \
            f"{name}: the picture changes when the GDS's text is deleted, so text is drawn"
    view, drawn = gds_view(gds, PictureSetup.from_pdk(pdk), lambda layer, datatype: True)
    assert view.get_config("text-visible") == "false"
    assert not set(visible_layers(view)) & text_layers(drawn)


def _macros(pdk):
    from kchip.formats.lef import read_macros

    return read_macros(pdk.lef)


def _break(gds: Path, layers: dict) -> kdb.DBox:
    """Add a met1 sliver (too narrow) at the die centre; return it in um."""
    layout = kdb.Layout()
    layout.read(str(gds))
    top = layout.top_cells()[0]
    x = top.bbox().center().x
    box = kdb.Box(x, 2000, x + 50, 4000)
    top.shapes(layout.layer(*layers["met1"])).insert(box)
    layout.write(str(gds))
    return box.to_dtype(layout.dbu)


def test_an_injected_drc_error_comes_back_as_markers(pdk, tmp_path):
    run_dir = _run(pdk, tmp_path / "run")
    sliver = _break(next(run_dir.glob("stages/08-gds/*/counter.gds")), pdk.data["gds"]["layers"])
    broken = _kchip(pdk, "flow", "run", "--design", COUNTER, "--run-dir", run_dir, "--from", "drc")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    drc = json.loads(next(run_dir.glob("stages/10-drc/*/drc.json")).read_text())
    assert drc["total"] > 0
    markers = read_markers(run_dir / "final" / "counter.lyrdb")
    for rule, count in drc["errors_by_rule"].items():
        assert len(markers[rule]) == count, f"{rule}: {count} errors, {len(markers[rule])} markers"
        for box in markers[rule]:
            assert box.enlarged(0.5, 0.5).overlaps(sliver), f"{rule}: marker {box} away from the sliver {sliver}"
    report = (run_dir / "final" / "report.md").read_text()
    assert "[counter.lyrdb](counter.lyrdb)" in report
    for rule, count in drc["errors_by_rule"].items():
        assert f"| {rule} | {count} |" in report


def test_antenna_markers_are_the_wires_of_the_net_on_the_layer():
    layout = Layout("t", [], {}, die=(0, 0, 10_000, 10_000),
                    shapes=[Shape("a", "met1", (0, 0, 1000, 200)), Shape("a", "met2", (0, 0, 200, 3000)),
                            Shape("b", "met2", (500, 0, 700, 3000))])
    violation = Violation("a", "met2", "PAR", ("u1/A",), 500.0, 400.0, 0.1, 0.0)
    found = antenna_markers(layout, [violation])
    assert found == {"antenna PAR met2": [(0.0, 0.0, 0.2, 3.0)]}


def test_markers_round_trip(tmp_path):
    boxes = {"met1.1": [(0.0, 0.0, 0.05, 2.0), (1.0, 1.0, 1.1, 1.5)], "met1.2": []}
    path = write_markers(tmp_path / "m.lyrdb", "test", "top", None, boxes)
    back = read_markers(path)
    assert {rule: [(b.left, b.bottom, b.right, b.top) for b in found] for rule, found in back.items()} == boxes


def test_report_is_short_and_its_links_resolve(counter_run):
    final = counter_run / "final"
    markdown = (final / "report.md").read_text()
    assert len(markdown) <= REPORT_MAX_BYTES and markdown.count("\n") <= REPORT_MAX_LINES, \
        f"report.md is {len(markdown)} bytes, {markdown.count(chr(10))} lines"
    assert "<details><summary>worst setup path" in markdown
    links = re.findall(r"\]\(([^)]+)\)", markdown)
    assert {"counter.lyrdb", "timing.md", "counter.overview.png", "counter.heat_density.png"} <= set(links)
    for link in links:
        assert (final / link).is_file(), f"report.md links {link}, which is not in final/"
    page = (final / "report.html").read_text()
    for link in re.findall(r"(?:src|href)='([^']+)'", page):
        assert (final / link).is_file(), f"report.html links {link}, which is not in final/"
    assert "<details>" in page and "<table>" in page


def test_view_without_a_display_lists_the_pictures(pdk, counter_run):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = _kchip(pdk, "view", counter_run, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no display" in done.stdout
    assert str(counter_run / "final" / "counter.overview.png") in done.stdout
    stage = _kchip(pdk, "view", counter_run, "--stage", "place", env=env)
    assert stage.returncode == 2 and "no GDS" in stage.stderr


def test_view_opens_klayout_with_the_lyp_and_the_markers(pdk, counter_run, tmp_path):
    record = tmp_path / "args.txt"
    fake = tmp_path / "bin" / "klayout"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {record}\n")
    fake.chmod(0o755)
    env = {**os.environ, "DISPLAY": ":99", "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    done = _kchip(pdk, "view", counter_run, "--stage", "drc", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    for _ in range(50):
        if record.is_file() and record.read_text():
            break
        time.sleep(0.1)
    args = record.read_text().split("\n")
    assert args[0].endswith("counter.gds")
    assert args[args.index("-l") + 1] == str(pdk.klayout_lyp)
    assert args[args.index("-m") + 1].endswith("drc.lyrdb")


def _worst_setup_cells(timing: str) -> tuple[list[str], float]:
    """The instances of the first setup path of the STA report (``timing.md``, OpenSTA's text), from
    its start point to its end point, and the path's slack."""
    first = timing.split("## Setup (worst paths)", 1)[1].split("Startpoint: ")[1]
    start = first.split()[0]
    cells, on_path = [], False
    for line in first.split("data arrival time", 1)[0].splitlines():
        match = re.search(r"[\^v] (\S+) \((\w+)\)$", line.rstrip())
        if match is None:
            continue
        instance = match.group(1).rpartition("/")[0]
        on_path = on_path or start in (match.group(1), instance)
        if on_path and instance and (not cells or cells[-1] != instance):
            cells.append(instance)
    return cells, float(re.search(r"(-?[\d.]+)\s+slack \(", first).group(1))


def _image(png: Path) -> np.ndarray:
    """The picture as rows of 0xRRGGBB values."""
    buffer = klay.PixelBuffer.read_png(str(png))
    return (_pixels(png) & 0xffffff).reshape(buffer.height(), buffer.width())


def _rgb(colour) -> int:
    red, green, blue = (int(c) for c in colour)
    return red << 16 | green << 8 | blue


def test_slack_map_and_worst_path_show_the_sta_report(pdk, counter_run):
    from kchip.flows.views.heatmaps import RAMP
    from kchip.flows.views.timing import PATH_CELL, Frame, cell_rects

    final = counter_run / "final"
    cells, slack = _worst_setup_cells((final / "timing.md").read_text())
    assert len(cells) >= 3, f"the counter's worst setup path passes more cells: {cells}"
    report = json.loads(next(counter_run.glob("stages/12-sta/*/slack.json")).read_text())
    assert report["worst_setup_path"]["cells"] == cells
    assert min(report["instances"].values()) == pytest.approx(slack, abs=0.001)
    _, layout = _routed(counter_run)
    rects = cell_rects(layout, {n: (m.width, m.height) for n, m in _macros(pdk).items()})
    frame = Frame(layout.die, 1000)
    for name in ("slack", "worst_path"):
        pixels = _pixels(final / f"counter.{name}.png")
        values, counts = np.unique(pixels, return_counts=True)
        assert len(values) >= 4 and counts.max() < 0.97 * pixels.size, f"{name}: a blank picture"
    path = _image(final / "counter.worst_path.png")
    for name, rect in rects.items():
        rows, cols = frame.box(rect)
        drawn = _rgb(PATH_CELL) in set(path[rows, cols].ravel().tolist())
        assert drawn == (name in cells), f"{name}: {'' if drawn else 'not '}drawn as a cell of the worst path"
    rows, cols = frame.box(rects[cells[-1]])
    centre = _image(final / "counter.slack.png")[(rows.start + rows.stop) // 2, (cols.start + cols.stop) // 2]
    assert centre == _rgb(RAMP[-1]), "the worst path's end point is not in the colour of the worst slack"
    page = (final / "report.md").read_text()
    assert "(counter.slack.png)" in page and "(counter.worst_path.png)" in page
