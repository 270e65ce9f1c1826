"""Liberty reading and dont_use filtering on small hand-written libraries."""

import pytest

from kchip.formats.liberty import LibertyError, read_cells, write_filtered_liberty

LIBRARY = """\
library ("tiny") {
    /* a comment with a brace { that must not count */
    time_unit : "1ns";
    cell ("inv_1") {
        area : 3.75;
        pin ("A") { direction : "input"; capacitance : 0.0023; }
        pin ("Y") { direction : "output"; function : "(!A)"; }
    }
    cell ("dff_1") {
        area : 20.02;
        ff ("IQ", "IQN") { next_state : "D"; clocked_on : "CLK"; }
        pin ("CLK") { direction : "input"; capacitance : 0.0018; }
        pin ("D") { direction : "input"; capacitance : 0.0017; }
        pin ("Q") { direction : "output"; function : "IQ"; }
    }
    cell ("probe_1") {
        area : 1.0;
        pin ("A") { direction : "input"; note : "odd } brace in a string"; }
    }
    cell ("lat_1") {
        area : 15.0;
        latch ("IQ", "IQN") { data_in : "D"; enable : "GATE"; }
    }
}
"""


def test_cells_areas_and_state(tmp_path):
    path = tmp_path / "tiny.lib"
    path.write_text(LIBRARY)
    cells = read_cells(path)
    assert list(cells) == ["inv_1", "dff_1", "probe_1", "lat_1"]
    assert cells["inv_1"].area_um2 == 3.75 and not cells["inv_1"].is_sequential
    assert cells["dff_1"].is_flop and not cells["dff_1"].is_latch
    assert cells["lat_1"].is_latch and not cells["lat_1"].is_flop
    assert cells["inv_1"].pins["A"].capacitance == 0.0023
    assert cells["dff_1"].pins_by_direction("input") == ["CLK", "D"]
    assert cells["inv_1"].pins_by_direction("output") == ["Y"]


def test_filter_removes_whole_cells_and_keeps_the_rest_verbatim(tmp_path):
    source, dest = tmp_path / "tiny.lib", tmp_path / "out" / "filtered.lib"
    source.write_text(LIBRARY)
    kept = write_filtered_liberty(source, dest, lambda name: name.startswith(("probe", "lat")))
    assert list(kept) == ["inv_1", "dff_1"]
    text = dest.read_text()
    assert "probe_1" not in text and "lat_1" not in text and "odd }" not in text
    assert text.startswith(LIBRARY[:LIBRARY.index('    cell ("probe_1")')])
    assert text.rstrip().endswith("}")
    assert list(read_cells(dest)) == ["inv_1", "dff_1"]
    assert not list(dest.parent.glob("*.tmp"))


def test_filtering_everything_is_an_error(tmp_path):
    source = tmp_path / "tiny.lib"
    source.write_text(LIBRARY)
    with pytest.raises(LibertyError, match="every cell was filtered out"):
        write_filtered_liberty(source, tmp_path / "f.lib", lambda name: True)


@pytest.mark.parametrize("broken, message", [
    (LIBRARY + "}\n", "unbalanced"),
    (LIBRARY[:-3], "unclosed"),
    ('library ("empty") {\n}\n', "no cell groups"),
])
def test_broken_files_are_named(tmp_path, broken, message):
    path = tmp_path / "broken.lib"
    path.write_text(broken)
    with pytest.raises(LibertyError, match=message) as info:
        read_cells(path)
    assert "broken.lib" in str(info.value)
