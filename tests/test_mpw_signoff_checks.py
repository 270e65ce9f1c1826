"""The signoff part of the shuttle precheck (kchip.mpw.signoff_checks): a real Tiny Tapeout 1x1 run
passes every check; each fault is caught by its check with a message naming the rule and the place
in um: a met1 spacing violation (magic and the PDK's KLayout deck), faults for each of Tiny Tapeout's
own decks, LVS and antenna failures in a run folder's final metrics, a density bound, and one moved
shape for the XOR."""

from __future__ import annotations

import dataclasses
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import klayout.db as kdb
import klayout.rdb as rdb
import pytest

from kchip.cli import main
from kchip.design import load_design
from kchip.flows.runner import run_flow
from kchip.mpw import signoff_checks
from kchip.mpw.layout import CheckedLayout
from kchip.mpw.precheck import CHECKS, run_precheck
from kchip.mpw.signoff_checks import drc_klayout, drc_magic, xor_layouts
from kchip.mpw.slots import Slot, load_shuttle, parse_slot_spec
from kchip.tools import klayout_drc
from signoff_layouts import inverter_chain
from test_flow_shuttle import TT_VERILOG

TOP = "tt_um_test"


@pytest.fixture(autouse=True)
def pdk_root_env(pdk, monkeypatch):
    """The tool checks find the PDK through the environment."""
    monkeypatch.setenv("KCHIP_PDK_ROOT", str(pdk.root))


def tt_slot(**signoff) -> Slot:
    """tt-sky130:1x1, with its ``[signoff]`` table changed by ``signoff`` (a key set to None is removed)."""
    shuttle = load_shuttle("tt-sky130")
    table = {k: v for k, v in {**shuttle.data["signoff"], **signoff}.items() if v is not None}
    return dataclasses.replace(shuttle, data={**shuttle.data, "signoff": table}).slot("1x1")


def checked(gds: Path, tmp_path: Path, slot: Slot | None = None, top: str = "chain", **kwargs) -> CheckedLayout:
    return CheckedLayout(gds, slot or tt_slot(), top, workdir=tmp_path / "work", **kwargs)


@pytest.fixture(scope="module")
def tt_run(pdk, tmp_path_factory) -> Path:
    """A Tiny Tapeout 1x1 tile through the whole flow, once for the module."""
    base = tmp_path_factory.mktemp("tt_run")
    (base / f"{TOP}.v").write_text(TT_VERILOG)
    (base / "tt.toml").write_text(f'[design]\nname = "{TOP}"\ntop = "{TOP}"\n[source]\nverilog = ["{TOP}.v"]\n'
                                  '[clock]\nport = "clk"\nperiod_ns = 20\n[floorplan]\nutilization = 0.4\n')
    result = run_flow(load_design(base / "tt.toml"), "sky130A", pdk.root, base / "run",
                      overrides={"floorplan.shuttle": "tt-sky130:auto"})
    assert result.ok, [(s.name, s.error) for s in result.stages if s.error]
    return base / "run"


@pytest.mark.slow
def test_a_tiny_tapeout_run_passes_every_signoff_check(tt_run, tmp_path, capsys):
    """The whole precheck from the command line on a run folder: no check fails or is skipped
    (the flow about 15-25 s, the precheck 12-20 s on 2 cores)."""
    out = tmp_path / "out"
    assert main(["mpw", "precheck", str(tt_run), "--shuttle", "tt-sky130:1x1", "--out", str(out)]) == 0, \
        capsys.readouterr().out
    suite = ET.parse(out / "results.xml").getroot().find("testsuite")
    assert [c.get("name") for c in suite.iter("testcase")] == [check.__name__ for check in CHECKS]
    assert (suite.get("failures"), suite.get("skipped")) == ("0", "0")
    logs = {p.name for p in (out / "work" / "drc_klayout").glob("*.log")}
    assert logs == {"01-sky130A_mr.log", "02-nwell_urpm.log", "03-pin_label_purposes_overlapping_drawing.log",
                    "04-zeroarea.log"}
    commands = (out / "work" / "drc_klayout" / "commands.sh").read_text()
    assert "-rd feol=true -rd beol=true -rd offgrid=true" in commands and f"-rd top_cell={TOP}" in commands
    assert f"-rd top_cell_name={TOP}" in commands
    assert (out / "work" / "drc_magic" / "drc.tsv").is_file()


# -- DRC ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def drc_faults(pdk, tmp_path_factory) -> Path:
    """The PDK's inverter chain with a met1 spacing violation (met1 plate 0.07 um above the wire),
    plus one fault for each Tiny Tapeout deck: n-well 0.5 um from urpm (0.7 needed), a met4 pin
    shape on no met4, a zero-area met2 box."""
    gds = inverter_chain(pdk, tmp_path_factory.mktemp("drc") / "faults.gds", met1_spacing_error=True)
    layout = kdb.Layout()
    layout.read(str(gds))
    top = layout.cell("chain")
    top.shapes(layout.layer(64, 20)).insert(kdb.DBox(0, 10, 2, 12))
    top.shapes(layout.layer(79, 20)).insert(kdb.DBox(2.5, 10, 4.5, 12))
    top.shapes(layout.layer(71, 16)).insert(kdb.DBox(6, 10, 6.3, 11))
    top.shapes(layout.layer(69, 20)).insert(kdb.DBox(8, 10, 8, 11))
    layout.write(str(gds))
    return gds


def test_magic_finds_the_met1_spacing_violation(pdk, tmp_path):
    gds = inverter_chain(pdk, tmp_path / "chain.gds", met1_spacing_error=True)
    result = drc_magic(checked(gds, tmp_path))
    assert not result.passed
    # magic's 7 boxes, joined into one region along each side of the gap
    assert result.details == ["Metal1 spacing < 0.14um (met1.2): 2 places, at (1.26, 1.265)-(2.47, 1.335), "
                              "(1.26, 1.405)-(2.47, 1.475)"]


def test_klayout_decks_find_each_fault(drc_faults, tmp_path):
    result = drc_klayout(checked(drc_faults, tmp_path))
    assert result.details == [
        "sky130A_mr: MR_met1.SP.1 : min. m1 spacing : 0.14um: 1 place, at (1.26, 1.335)-(2.47, 1.405)",
        "nwell_urpm: nwell space to urpm: min. nwell spacing to urpm 0.7um: 1 place, at (2, 10)-(2.5, 12)",
        "pin_label_purposes_overlapping_drawing: 71/16: met4, pin/label not-over drawing:71/20: 1 place, "
        "at (6, 10)-(6.3, 11)",
        "zeroarea: zero_area_shape: 1 place, at (8, 10)-(8, 11)",
    ]


def test_a_shuttle_without_decks_skips_drc(drc_faults, tmp_path):
    slot = parse_slot_spec("tt-ihp-sg13g2:1x1")
    for check in (drc_magic, drc_klayout):
        result = check(checked(drc_faults, tmp_path, slot))
        assert result.passed and "runs no" in result.skipped and "tt-ihp-sg13g2.toml" in result.skipped


def test_a_deck_that_cannot_run_is_named(drc_faults, tmp_path, monkeypatch):
    monkeypatch.setenv(signoff_checks.MPW_DATA_ENV, str(tmp_path / "nowhere"))
    slot = tt_slot(klayout=[{"name": "odd", "deck": "elsewhere:x.drc", "top": "top_cell"},
                            {"deck": "mpw:tinytapeout/checks/zeroarea.rb.drc", "top": "top_cell_name"},
                            {"deck": "pdk:libs.tech/klayout/drc/sky130A_mr.drc", "top": "t", "colour": "red"}])
    details = drc_klayout(checked(drc_faults, tmp_path, slot)).details
    shuttle_file = Path(signoff_checks.SHUTTLE_DIR) / "tt-sky130.toml"
    assert details == [
        f"odd did not run: {shuttle_file}: deck 'elsewhere:x.drc' must start with 'pdk:' or 'mpw:'",
        f"zeroarea.rb did not run: {shuttle_file}: deck 'mpw:tinytapeout/checks/zeroarea.rb.drc' is not at "
        f"{tmp_path / 'nowhere' / 'tinytapeout/checks/zeroarea.rb.drc'} (under the shuttle reference data "
        f"(set KCHIP_MPW_DATA))",
        f"sky130A_mr did not run: {shuttle_file}: [[signoff.klayout]] number 3: unknown keys ['colour']; allowed: "
        "name, deck, top, threads, set, input, report",
    ]


def test_markers_in_a_subcell_are_placed_in_the_top_cell(tmp_path):
    db = rdb.ReportDatabase("fixture")
    top, sub = db.create_cell("top"), db.create_cell("sub")
    sub.add_reference(rdb.RdbReference(kdb.DCplxTrans(1, 90, False, 10, 20), top.rdb_id()))
    category = db.create_category("met1.2")
    category.description = "met1 spacing"
    db.create_item(sub.rdb_id(), category.rdb_id()).add_value(kdb.DBox(0, 0, 1, 2))
    db.save(str(tmp_path / "r.lyrdb"))
    assert klayout_drc.read_report(tmp_path / "r.lyrdb") == (
        klayout_drc.Marker("met1.2", "met1 spacing", "sub", (8.0, 20.0, 10.0, 21.0)),)


# -- LVS and antenna from the run folder -------------------------------------------------------
def fake_run(tmp_path: Path, gds: Path, metrics: dict, antenna_violations: list | None = None) -> Path:
    """A run folder as the flow leaves it: ``final`` a link to the report stage's folder, whose
    ``state.json`` records the views (as absolute paths of a run folder that has since moved)."""
    run = tmp_path / "run"
    report = run / "stages" / "15-report" / "abc"
    (report / "final").mkdir(parents=True)
    flow_gds = run / "stages" / "08-gds" / "def" / gds.name
    flow_gds.parent.mkdir(parents=True)
    flow_gds.write_bytes(gds.read_bytes())
    (report / "final" / gds.name).write_bytes(gds.read_bytes())
    (report / "final" / "metrics.json").write_text(json.dumps(metrics))
    antenna = run / "stages" / "13-antenna" / "123" / "antenna.json"
    antenna.parent.mkdir(parents=True)
    antenna.write_text(json.dumps({"violations": antenna_violations or []}))
    moved = Path("/old/place/run")
    views = {"gds": str(moved / flow_gds.relative_to(run)), "antenna_report": str(moved / antenna.relative_to(run))}
    (report / "state.json").write_text(json.dumps({"views": {"final": "final"}, "inherited_views": views}))
    os.symlink(os.path.relpath(report / "final", run), run / "final")
    return run


@pytest.fixture
def chain_gds(pdk, tmp_path) -> Path:
    return inverter_chain(pdk, tmp_path / "chain.gds")


def test_lvs_and_antenna_failures_are_read_from_the_final_metrics(chain_gds, tmp_path):
    violation = {"net": "mid", "layer": "met2", "rule": "PAR", "gates": ["_2_/A"], "ratio": 512.5,
                 "allowed": 400.0, "gate_area_um2": 0.1, "diff_area_um2": 0.0}
    run = fake_run(tmp_path, chain_gds, {"lvs__mismatch__count": 2, "lvs__unverified_cells__count": 0,
                                         "antenna__violations__count": 1}, [violation])
    report = run_precheck(run, tt_slot(), "chain", checks=(signoff_checks.lvs, signoff_checks.antenna))
    metrics = run / "final" / "metrics.json"
    assert {r.name: r.details for r in report.failed} == {
        "lvs": [f"{metrics}: lvs__mismatch__count = 2, expected 0"],
        "antenna": [f"{metrics}: antenna__violations__count = 1, expected 0",
                    "net mid on met2 (PAR): ratio 512.5 > 400.0, gates _2_/A"]}


def test_missing_metrics_fail_and_a_bare_gds_skips(chain_gds, tmp_path):
    run = fake_run(tmp_path, chain_gds, {"lvs__mismatch__count": 0, "antenna__violations__count": 0})
    lvs = signoff_checks.lvs(checked(chain_gds, tmp_path, run_dir=run))
    assert lvs.details == [f"{run / 'final' / 'metrics.json'}: no lvs__unverified_cells__count, so the lvs "
                           "stage did not run"]
    assert signoff_checks.antenna(checked(chain_gds, tmp_path, run_dir=run)).passed
    for check in (signoff_checks.lvs, signoff_checks.antenna, signoff_checks.xor):
        result = check(checked(chain_gds, tmp_path))
        assert result.passed and "is a bare GDS" in result.skipped and "run folder" in result.skipped


# -- density -----------------------------------------------------------------------------------
def test_density_outside_the_shuttles_bounds(chain_gds, tmp_path):
    slot = tt_slot(density={"met1": {"max": 0.05}, "li1": {"min": 0.5, "max": 0.9}, "met4": {"max": 0.6}})
    result = signoff_checks.density(checked(chain_gds, tmp_path, slot))
    assert result.details == [
        "met1 (68/20): density 29.9% in window (-0.19, -0.24)-(3.87, 2.96), above the maximum 5% of tt-sky130",
        "li1 (67/20): density 36.2% in window (-0.19, -0.24)-(3.87, 2.96), below the minimum 50% of tt-sky130"]
    assert signoff_checks.density(checked(chain_gds, tmp_path)).passed


def test_density_names_the_worst_of_several_windows(tmp_path):
    """An 840 um wide layout holds three 700 um windows (steps of 70 um); met1 only in its last 140 um
    covers 0%, 10% and 20% of them."""
    layout = kdb.Layout()
    top = layout.create_cell("wide")
    top.shapes(layout.layer(68, 20)).insert(kdb.DBox(700, 0, 840, 10))
    top.shapes(layout.layer(235, 4)).insert(kdb.DBox(0, 0, 840, 10))
    layout.write(str(tmp_path / "wide.gds"))
    slot = tt_slot(density={"met1": {"min": 0.05, "max": 0.15}})
    assert signoff_checks.density(checked(tmp_path / "wide.gds", tmp_path, slot, top="wide")).details == [
        "met1 (68/20): 1 of 3 windows below the minimum 5% of tt-sky130; lowest 0.0% in window (0, 0)-(700, 10)",
        "met1 (68/20): 1 of 3 windows above the maximum 15% of tt-sky130; highest 20.0% in window (140, 0)-(840, 10)"]


def test_density_bounds_are_checked_as_data(chain_gds, tmp_path):
    result = signoff_checks.density(checked(chain_gds, tmp_path, tt_slot(density={"met9": {"max": 0.5}})))
    assert result.details == [f"{signoff_checks.SHUTTLE_DIR / 'tt-sky130.toml'}: [signoff.density] met9 = "
                              "{'max': 0.5}: not a metal of [layers.metals] (li1, met1, met2, met3, met4)"]


# -- XOR ---------------------------------------------------------------------------------------
def small_layout(path: Path, dx: int = 0, dbu: float = 0.001, label_x: int = 500) -> Path:
    """Top cell ``t`` with a met1 box placed twice from a sub-cell, a met2 box (moved by ``dx``)
    and a met1 label."""
    layout = kdb.Layout()
    layout.dbu = dbu
    top, sub = layout.create_cell("t"), layout.create_cell("s")
    scale = round(0.001 / dbu)
    sub.shapes(layout.layer(68, 20)).insert(kdb.Box(0, 0, 1000 * scale, 500 * scale))
    for x in (0, 5000):
        top.insert(kdb.CellInstArray(sub.cell_index(), kdb.Trans(x * scale, 0)))
    top.shapes(layout.layer(69, 20)).insert(kdb.Box((2000 + dx) * scale, 0, (2500 + dx) * scale, 3000 * scale))
    top.shapes(layout.layer(68, 5)).insert(kdb.Text("a", kdb.Trans(label_x * scale, 250 * scale)))
    layout.write(str(path))
    return path


def test_xor_of_equal_layouts_is_empty(tmp_path):
    a = small_layout(tmp_path / "a.gds")
    assert xor_layouts(a, a) == []
    flat = kdb.Layout()
    flat.read(str(a))
    flat.flatten(flat.cell("t").cell_index(), -1, True)
    flat.write(str(tmp_path / "flat.gds"))
    assert xor_layouts(a, tmp_path / "flat.gds") == []


def test_xor_names_a_moved_shape_and_label(tmp_path):
    a = small_layout(tmp_path / "a.gds")
    b = small_layout(tmp_path / "b.gds", dx=300, label_x=600)
    assert xor_layouts(a, b) == [
        "68/5: label 'a' at (0.5, 0.25) only in a.gds",
        "68/5: label 'a' at (0.6, 0.25) only in b.gds",
        "69/20: 0.9 um2 only in a.gds: 1 shape, at (2, 0)-(2.3, 3)",
        "69/20: 0.9 um2 only in b.gds: 1 shape, at (2.5, 0)-(2.8, 3)"]
    assert xor_layouts(a, small_layout(tmp_path / "c.gds", dbu=0.0005)) == [
        "database unit 0.001 um in a.gds, 0.0005 um in c.gds"]


def test_xor_check_compares_with_the_gds_the_flow_wrote(chain_gds, tmp_path):
    run = fake_run(tmp_path, chain_gds, {})
    assert signoff_checks.xor(checked(run / "final" / "chain.gds", tmp_path, run_dir=run)).passed
    moved = kdb.Layout()
    moved.read(str(chain_gds))
    met1 = moved.cell("chain").shapes(moved.layer(68, 20))
    met1.transform(next(iter(met1.each())), kdb.Trans(0, 1000))
    moved.write(str(run / "final" / "chain.gds"))
    result = signoff_checks.xor(checked(run / "final" / "chain.gds", tmp_path, run_dir=run))
    assert result.details == [
        "met1 (68/20): 0.3509 um2 only in final/chain.gds: 1 shape, at (1.26, 2.045)-(2.47, 2.335)",
        "met1 (68/20): 0.3509 um2 only in stages/08-gds/def/chain.gds: 1 shape, at (1.26, 1.045)-(2.47, 1.335)"]


def test_cli_refuses_a_pdk_root_that_is_no_folder(drc_faults, tmp_path, capsys):
    assert main(["mpw", "precheck", str(drc_faults), "--shuttle", "tt-sky130:1x1", "--pdk-root",
                 str(tmp_path / "none")]) == 2
    assert f"PDK root from --pdk-root = '{tmp_path / 'none'}' is not a directory" in capsys.readouterr().err
