"""Metal density per layer: whole die and sliding windows, overlapping shapes counted once."""

from __future__ import annotations

import klayout.db as kdb
import pytest

from kchip.flows.signoff.density import density_metrics, metal_density

MET1, MET2 = (68, 20), (69, 20)


def _gds(tmp_path, die_um, shapes_um):
    """A top cell with a boundary box of ``die_um`` on met2 corners and ``shapes_um`` on met1,
    half of them in a child cell so that the hierarchy is walked."""
    layout = kdb.Layout()
    layout.dbu = 0.001
    top, child = layout.create_cell("top"), layout.create_cell("child")
    met1, met2 = layout.layer(*MET1), layout.layer(*MET2)
    w, h = (round(v * 1000) for v in die_um)
    top.shapes(met2).insert(kdb.Box(0, 0, 10, 10))
    top.shapes(met2).insert(kdb.Box(w - 10, h - 10, w, h))
    for k, (x0, y0, x1, y1) in enumerate(shapes_um):
        box = kdb.Box(*(round(v * 1000) for v in (x0, y0, x1, y1)))
        (child if k % 2 else top).shapes(met1).insert(box)
    top.insert(kdb.CellInstArray(child.cell_index(), kdb.Trans()))
    path = tmp_path / "d.gds"
    layout.write(str(path))
    return path


def test_windows_slide_over_a_die_larger_than_one_window(tmp_path):
    gds = _gds(tmp_path, (1400, 700), [(0, 0, 700, 700)])
    (met1,) = metal_density(gds, "top", {"met1": MET1}, window_um=700, step_um=70)
    assert met1.die == pytest.approx(0.5)
    assert met1.window_max == pytest.approx(1.0) and met1.window_min == pytest.approx(0.0)
    assert met1.windows == 11


def test_overlapping_shapes_in_different_cells_count_once(tmp_path):
    gds = _gds(tmp_path, (100, 100), [(0, 0, 50, 100), (25, 0, 75, 100)])
    met1, met2 = metal_density(gds, "top", {"met1": MET1, "met2": MET2}, window_um=700, step_um=70)
    assert met1.die == pytest.approx(0.75) and met1.windows == 1
    assert met1.window_min == met1.window_max == met1.die
    assert met2.die < 0.001
    assert density_metrics([met1])["density__met1__die"] == pytest.approx(0.75)


def test_a_missing_top_cell_is_named(tmp_path):
    gds = _gds(tmp_path, (100, 100), [])
    with pytest.raises(ValueError, match="no cell 'nosuch'"):
        metal_density(gds, "nosuch", {"met1": MET1}, window_um=700, step_um=70)
