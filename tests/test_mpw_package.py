"""``kchip mpw package`` and ``kchip mpw verify`` on a real Tiny Tapeout 1x1 run (the flow runs once per
module): the package holds every deliverable with a manifest whose hashes and sizes are recomputed
here with hashlib, the archive is byte-for-byte reproducible, and each fault (a changed byte, a
missing file, an extra file, a run that is not clean or lacks a stage) is caught with a message
naming the file or stage."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
import tarfile
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kchip.cli import main
from kchip.design import load_design
from kchip.flows.runner import run_flow
from kchip.mpw import layout_checks, pin_checks
from kchip.mpw.manifest import PackageError, verify_package
from kchip.mpw.package import package_run
from kchip.mpw.precheck import CHECKS
from kchip.tools.base import ToolError
from test_flow_shuttle import TT_VERILOG

TOP = "tt_um_test"
EXPECTED_FILES = {
    f"gds/{TOP}.gds", f"lef/{TOP}.lef", f"verilog/{TOP}.nl.v", f"verilog/{TOP}.powered.v", f"sdc/{TOP}.sdc",
    f"spef/{TOP}.spef", "reports/timing/timing.md", "reports/timing/setup_paths.rpt",
    "reports/timing/hold_paths.rpt", "reports/drc/drc.json", "reports/drc/drc.tsv", "reports/drc/gds_rules.json",
    "reports/drc/gds_rules.lyrdb", "reports/lvs/lvs.json", "reports/lvs/lvs.report",
    "reports/antenna/antenna.json", "reports/equiv/equiv.json", "report.md", "metrics.json", f"{TOP}.png",
}
#: the precheck's checks of the GDS alone: enough where the package's own checks are under test
GDS_CHECKS = (*layout_checks.CHECKS, *pin_checks.CHECKS)


@pytest.fixture(autouse=True)
def pdk_root_env(pdk, monkeypatch):
    """The precheck's tool checks find the PDK through the environment."""
    monkeypatch.setenv("KCHIP_PDK_ROOT", str(pdk.root))


@pytest.fixture(scope="module")
def run_dir(pdk, tmp_path_factory):
    """A Tiny Tapeout 1x1 tile through the whole flow, once for the module."""
    base = tmp_path_factory.mktemp("tt_run")
    (base / f"{TOP}.v").write_text(TT_VERILOG)
    design_file = base / "tt.toml"
    design_file.write_text(f'[design]\nname = "{TOP}"\ntop = "{TOP}"\n[source]\nverilog = ["{TOP}.v"]\n'
                           '[clock]\nport = "clk"\nperiod_ns = 20\n[floorplan]\nutilization = 0.4\n')
    run = base / "run"
    result = run_flow(load_design(design_file), "sky130A", pdk.root, run,
                      overrides={"floorplan.shuttle": "tt-sky130:auto"})
    assert result.ok, [(s.name, s.error) for s in result.stages if s.error]
    return run


@pytest.fixture(scope="module")
def packaged(run_dir, pdk, tmp_path_factory):
    return package_run(run_dir, tmp_path_factory.mktemp("pkg"), pdk_root=pdk.root)


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` by relative POSIX path, read directly."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_package(packaged, tmp_path) -> Path:
    return Path(shutil.copytree(packaged.folder, tmp_path / TOP))


def copy_run(run_dir, tmp_path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run", symlinks=True))


def failed(report) -> dict[str, list[str]]:
    return {r.name: r.details for r in report.failed}


def test_package_holds_the_deliverables_with_their_hashes(packaged, pdk):
    folder = packaged.folder
    assert folder.name == TOP and packaged.archive == folder.with_name(f"{TOP}.tar.gz")
    files = files_of(folder)
    assert set(files) == EXPECTED_FILES | {"manifest.json"}
    manifest = json.loads(files["manifest.json"])
    listed = {e["path"]: (e["sha256"], e["bytes"]) for e in manifest["files"]}
    assert listed == {rel: (hashlib.sha256(data).hexdigest(), len(data))
                      for rel, data in files.items() if rel != "manifest.json"}
    assert [e["path"] for e in manifest["files"]] == sorted(listed)
    assert manifest["design"]["top"] == TOP and manifest["signoff"]["clean"] is True
    assert manifest["shuttle"]["spec"] == "tt-sky130:1x1" and "tt-sky130:auto" in manifest["shuttle"]["from"]
    assert manifest["pdk"]["name"] == "sky130A"
    assert manifest["pdk"]["files"]["libs.tech/magic/sky130A.tech"] == hashlib.sha256(
        pdk.magic_tech.read_bytes()).hexdigest()
    assert str(pdk.root) not in files["manifest.json"].decode()
    assert manifest["tools"]["flow"]["magic"] == manifest["tools"]["package"]["magic"]
    assert {"netgen", "opensta", "yosys", "klayout"} <= set(manifest["tools"]["flow"])
    assert manifest["kchip"]["version"] and len(manifest["kchip"]["git_commit"] or "0" * 40) == 40


def test_lef_abstract_has_the_tile_size_and_typed_pins(packaged):
    lef = (packaged.folder / "lef" / f"{TOP}.lef").read_text()
    assert f"MACRO {TOP}" in lef and "SIZE 161.000 BY 111.520 ;" in lef
    pin = lambda name: lef.split(f"PIN {name}\n", 1)[1].split(f"END {name}\n", 1)[0]  # noqa: E731
    assert "DIRECTION INPUT ;" in pin("ui_in[0]") and "USE SIGNAL ;" in pin("ui_in[0]")
    assert "DIRECTION OUTPUT ;" in pin("uo_out[7]")
    assert "USE CLOCK ;" in pin("clk") and "LAYER met4 ;" in pin("clk")
    assert "USE POWER ;" in pin("VPWR") and "USE GROUND ;" in pin("VGND")
    assert "OBS" in lef


def test_powered_netlist_has_power_ports(packaged):
    netlist = (packaged.folder / "verilog" / f"{TOP}.powered.v").read_text()
    assert "inout VPWR;" in netlist and ".VPWR(VPWR)" in netlist and ".VNB(VGND)" in netlist


def test_archive_is_the_folder_and_reproducible(packaged, run_dir, pdk, tmp_path):
    with tarfile.open(packaged.archive) as tar:
        members = tar.getmembers()
        contents = {m.name.removeprefix(f"{TOP}/"): tar.extractfile(m).read() for m in members if m.isfile()}
    assert contents == files_of(packaged.folder)
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    again = package_run(run_dir, tmp_path / "again", pdk_root=pdk.root)
    assert again.archive.read_bytes() == packaged.archive.read_bytes()
    assert files_of(again.folder) == files_of(packaged.folder)


def test_verify_passes_a_clean_package_and_reruns_the_precheck(packaged, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["mpw", "verify", str(packaged.archive), "--out", str(out)]) == 0
    assert f"{packaged.archive} verified on tt-sky130:1x1" in capsys.readouterr().out
    suite = ET.parse(out / "results.xml").getroot().find("testsuite")
    names = [c.get("name") for c in suite.iter("testcase")]
    assert names[:4] == ["files_present", "files_listed", "files_intact", "signoff_clean"]
    assert names[4:] == [check.__name__ for check in CHECKS] and suite.get("failures") == "0"
    report = verify_package(packaged.folder, checks=GDS_CHECKS)
    assert report.passed and report.gds == packaged.folder / "gds" / f"{TOP}.gds"
    assert [r.name for r in report.results][4:] == [check.__name__ for check in GDS_CHECKS]


def test_a_changed_byte_is_named(packaged, tmp_path):
    folder = copy_package(packaged, tmp_path)
    gds = folder / "gds" / f"{TOP}.gds"
    data = bytearray(gds.read_bytes())
    data[len(data) // 2] ^= 0x01
    gds.write_bytes(bytes(data))
    listed = {e["path"]: e["sha256"] for e in packaged.manifest["files"]}
    assert failed(verify_package(folder, checks=GDS_CHECKS))["files_intact"] == [
        f"gds/{TOP}.gds: sha256 {hashlib.sha256(data).hexdigest()}, manifest.json says {listed[f'gds/{TOP}.gds']!r}"]


def test_a_file_of_another_size_is_named(packaged, tmp_path):
    folder = copy_package(packaged, tmp_path)
    sdc = folder / "sdc" / f"{TOP}.sdc"
    size = sdc.stat().st_size
    with open(sdc, "a") as handle:
        handle.write("set_max_fanout 1 [current_design]\n")
    assert failed(verify_package(folder, checks=GDS_CHECKS)) == {
        "files_intact": [f"sdc/{TOP}.sdc: {sdc.stat().st_size} bytes, manifest.json says {size!r}"]}


def test_a_changed_byte_in_the_archive_is_named(packaged, tmp_path):
    archive = tmp_path / f"{TOP}.tar.gz"
    changed = files_of(packaged.folder)["report.md"].replace(b"CLEAN", b"CLEAM", 1)
    with tarfile.open(packaged.archive) as src, tarfile.open(archive, "w:gz") as dst:
        for member in src.getmembers():
            data = changed if member.name == f"{TOP}/report.md" else src.extractfile(member).read() \
                if member.isfile() else None
            dst.addfile(member, None if data is None else io.BytesIO(data))
    listed = {e["path"]: e["sha256"] for e in packaged.manifest["files"]}
    assert failed(verify_package(archive, checks=GDS_CHECKS)) == {"files_intact": [
        f"report.md: sha256 {hashlib.sha256(changed).hexdigest()}, manifest.json says {listed['report.md']!r}"]}


def test_a_missing_file_is_named(packaged, tmp_path):
    folder = copy_package(packaged, tmp_path)
    (folder / "verilog" / f"{TOP}.powered.v").unlink()
    assert failed(verify_package(folder, checks=GDS_CHECKS)) == {
        "files_present": [f"verilog/{TOP}.powered.v: listed in manifest.json but not in the package"]}


def test_a_missing_gds_fails_the_precheck_too(packaged, tmp_path):
    folder = copy_package(packaged, tmp_path)
    (folder / "gds" / f"{TOP}.gds").unlink()
    problems = failed(verify_package(folder, checks=GDS_CHECKS))
    assert problems["files_present"] == [f"gds/{TOP}.gds: listed in manifest.json but not in the package"]
    assert problems["precheck"] == [f"gds/{TOP}.gds: not in the package, nothing to precheck"]


def test_an_extra_file_is_named(packaged, tmp_path, capsys):
    folder = copy_package(packaged, tmp_path)
    (folder / "reports" / "notes.txt").write_text("not signed off\n")
    (folder / "extra.gds").symlink_to(folder / "gds" / f"{TOP}.gds")
    assert failed(verify_package(folder, checks=GDS_CHECKS)) == {"files_listed": [
        "extra.gds: symbolic link not listed in manifest.json",
        "reports/notes.txt: file not listed in manifest.json"]}
    assert main(["mpw", "verify", str(folder)]) == 1
    assert "files_listed: reports/notes.txt: file not listed in manifest.json" in capsys.readouterr().out
    assert "reports/notes.txt" in (tmp_path / f"{TOP}.verify" / "results.md").read_text()
    assert (tmp_path / f"{TOP}.verify" / "work").is_dir()


def test_cli_package_writes_beside_the_run_by_default(run_dir, tmp_path, capsys):
    run = copy_run(run_dir, tmp_path)
    assert main(["mpw", "package", str(run)]) == 0
    package = run / "package"
    assert (f"wrote {package / TOP} and {package / TOP}.tar.gz for tt-sky130:1x1"
            in capsys.readouterr().out)
    assert sorted(p.name for p in package.iterdir()) == [TOP, f"{TOP}.tar.gz"]


def test_a_not_clean_run_is_refused_and_nothing_is_written(run_dir, pdk, tmp_path, capsys):
    run = copy_run(run_dir, tmp_path)
    metrics_file = run / "final" / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    metrics_file.write_text(json.dumps({**metrics, "drc__errors__count": 3, "timing__hold__ws": -0.25}))
    out = tmp_path / "out"
    with pytest.raises(PackageError, match=r"run folder '.*/run': signoff is not clean") as caught:
        package_run(run, out, pdk_root=pdk.root)
    assert "drc__errors__count = 3, timing__hold__ws = -0.25" in str(caught.value)
    assert not out.exists()
    assert main(["mpw", "package", str(run), "--out", str(out)]) == 2
    assert "drc__errors__count = 3" in capsys.readouterr().err and not out.exists()


def test_a_run_with_a_missing_stage_is_refused(run_dir, pdk, tmp_path):
    run = copy_run(run_dir, tmp_path)
    sta = next((run / "stages" / "12-sta").iterdir())
    shutil.rmtree(sta)
    with pytest.raises(PackageError, match=r"is incomplete") as caught:
        package_run(run, tmp_path / "out", pdk_root=pdk.root)
    assert f"stage sta: {str(sta)!r} is missing or incomplete" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_a_run_missing_a_file_is_refused(run_dir, pdk, tmp_path):
    run = copy_run(run_dir, tmp_path)
    powered = next(run.glob(f"stages/11-lvs/*/{TOP}.powered.v"))
    powered.unlink()
    with pytest.raises(PackageError, match=rf"lacks files the package needs:\n  verilog/{TOP}.powered.v "
                                           rf"\(from '{powered}'\)"):
        package_run(run, tmp_path / "out", pdk_root=pdk.root)


def test_a_failure_midway_keeps_the_earlier_package(packaged, run_dir, pdk, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = package_run(run_dir, out, pdk_root=pdk.root)
    before = files_of(out)

    def broken(*args, **kwargs):
        raise ToolError("magic died")

    monkeypatch.setattr("kchip.mpw.package.write_lef", broken)
    with pytest.raises(ToolError, match="magic died"):
        package_run(run_dir, out, pdk_root=pdk.root)
    assert files_of(out) == before and sorted(p.name for p in out.iterdir()) == [TOP, f"{TOP}.tar.gz"]
    assert first.archive.read_bytes() == packaged.archive.read_bytes()


def test_a_slot_other_than_the_runs_is_refused(run_dir, pdk, tmp_path):
    with pytest.raises(PackageError, match=r"--shuttle 'tt-sky130:1x2' is not the slot the run was made for: "
                                           r"floorplan.shuttle = 'tt-sky130:auto', die 161 x 111.52 um \(tt-sky130:1x1\)"):
        package_run(run_dir, tmp_path / "out", "tt-sky130:1x2", pdk_root=pdk.root)


def test_verify_xors_against_a_reference_with_the_shared_xor(packaged, run_dir, monkeypatch):
    calls = []

    def xor_layouts(a, b, *, layer_name):
        calls.append((Path(a).name, Path(b), layer_name((71, 20))))
        return ["met4: 1 shape differs at (1, 2)"]

    monkeypatch.setitem(sys.modules, "kchip.mpw.signoff_checks", types.SimpleNamespace(xor_layouts=xor_layouts))
    report = verify_package(packaged.folder, against=run_dir, checks=GDS_CHECKS)
    assert calls == [(f"{TOP}.gds", run_dir / "final" / f"{TOP}.gds", "met4")]
    assert failed(report) == {"xor_against": ["met4: 1 shape differs at (1, 2)"]}


def test_verify_refuses_what_is_no_package(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["mpw", "verify", str(tmp_path / "empty")]) == 2
    assert "has no manifest.json: not a kchip package" in capsys.readouterr().err
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    assert main(["mpw", "verify", str(tmp_path / "junk.tar.gz")]) == 2
    assert "is not a readable .tar.gz" in capsys.readouterr().err


def test_verify_xor_against_the_run_finds_no_difference(packaged, run_dir):
    pytest.importorskip("kchip.mpw.signoff_checks")
    report = verify_package(packaged.folder, against=run_dir, checks=GDS_CHECKS)
    assert report.result("xor_against").status == "pass" and report.passed
