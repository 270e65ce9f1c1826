"""``kchip chiplet check``: table, JSON and SVG outputs, exit codes for pass, fail and bad input."""

import json
import xml.etree.ElementTree as ElementTree

import yaml

from kchip.chiplet import REFERENCE_SYSTEM
from kchip.cli import main


def test_reference_system_passes_and_writes_json_and_svg(tmp_path, capsys):
    assert main(["chiplet", "check", str(REFERENCE_SYSTEM), "--out", str(tmp_path), "--no-rtl"]) == 0
    printed = capsys.readouterr().out
    assert "K-AP reference" in printed and "passes" in printed and "ap-pim0" in printed
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["passed"] is True
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses.pop("rtl_ports") == "skipped" and set(statuses.values()) == {"pass"}
    links = {row["name"]: row for row in report["links"]}
    assert links["ap-pim0"]["utilisation"] == (225 + 505) / 819.2
    assert report["metrics"]["chiplet__violations__count"] == {"value": 0, "unit": "count"}
    svg = ElementTree.parse(tmp_path / "graph.svg").getroot()
    texts = [t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "ap-pim0 89%" in texts and "npu0" in texts


def test_failing_system_exits_1_and_reports_the_violation(tmp_path, capsys):
    data = yaml.safe_load(REFERENCE_SYSTEM.read_text())
    data["demands"][4]["latency_budget_ns"] = 1
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data))
    assert main(["chiplet", "check", str(broken), "--out", str(tmp_path / "out"), "--no-rtl"]) == 1
    assert "npu-pipeline" in capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "check.json").read_text())
    latency = next(c for c in report["checks"] if c["name"] == "latency")
    assert latency["status"] == "fail" and "budget 1 ns" in latency["violations"][0]["message"]


def test_bad_input_exits_2_naming_file_entry_and_reason(tmp_path, capsys):
    data = yaml.safe_load(REFERENCE_SYSTEM.read_text())
    data["links"][0]["ends"] = ["ap.d2d_npu0", "npu7.d2d_ap"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main(["chiplet", "check", str(bad), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert str(bad) in error and "links[0] (ap-npu0)" in error and "'npu7'" in error
    assert not (tmp_path / "out").exists()


def test_non_finite_number_exits_2_naming_file_field_and_value(tmp_path, capsys):
    text = REFERENCE_SYSTEM.read_text()
    bad = tmp_path / "inf.yaml"
    bad.write_text(text.replace("gbyte_per_s: 180", "gbyte_per_s: .inf", 1))
    assert main(["chiplet", "check", str(bad), "--out", str(tmp_path / "out"), "--no-rtl"]) == 2
    error = capsys.readouterr().err
    assert str(bad) in error and "demands[0] (npu0-weights)" in error
    assert "'gbyte_per_s' = inf is not a finite number" in error
    assert not (tmp_path / "out").exists()
