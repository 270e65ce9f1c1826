"""Stage digests follow the code each stage runs: editing any module of a temporary copy of the
package changes the digest of exactly the stages whose import closure holds it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kchip.design.sources import ModuleFinder, closure_files, files_digest
from kchip.flows.pipeline import STAGES, downstream_of
from kchip.flows.stage import PACKAGE_ROOT

PACKAGE_FOLDERS = ("flows", "tools", "formats", "design", "pdk", "rtl", "chiplet", "verification", "cli")


def _code_digests(root: Path) -> dict[str, str]:
    finder = ModuleFinder({"kchip": root})
    return {name: files_digest(closure_files([cls.__module__], finder), root) for name, cls in STAGES.items()}


@pytest.fixture(scope="module")
def edits(tmp_path_factory) -> dict[str, set[str]]:
    """Package-relative file -> the stages whose code digest changes when that file is edited."""
    root = tmp_path_factory.mktemp("copy") / "kchip"
    shutil.copytree(PACKAGE_ROOT, root, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "runs", "tests", "bench", "*.md"))
    baseline = _code_digests(root)
    changed = {}
    files = [p for folder in PACKAGE_FOLDERS for p in sorted((root / folder).rglob("*"))
             if p.is_file() and p.suffix in (".py", ".toml", ".yaml")] + [root / "__init__.py"]
    for path in files:
        original = path.read_bytes()
        path.write_bytes(original + b"\n# edited\n")
        now = _code_digests(root)
        path.write_bytes(original)
        changed[path.relative_to(root).as_posix()] = {n for n in STAGES if now[n] != baseline[n]}
    assert _code_digests(root) == baseline
    return changed


#: modules that run the flow rather than compute a stage's result
ORCHESTRATION = {"flows/pipeline.py", "flows/runner.py", "flows/run_folder.py"}


def test_every_flow_format_and_design_module_defines_some_stage(edits):
    """Shuttle slots (pdk/shuttles/) are read by `kchip mpw`, not by any stage."""
    unused = sorted(f for f, stages in edits.items()
                    if f.split("/")[0] in ("flows", "formats", "design", "pdk")
                    and not f.startswith("pdk/shuttles/") and not stages)
    assert unused == sorted(ORCHESTRATION)


def test_modules_the_hand_kept_lists_missed_now_count(edits):
    assert "route" in edits["flows/physical/search.py"]
    assert "lvs" in edits["flows/signoff/magic_tech.py"]
    assert "sta" in edits["formats/sdc.py"]
    assert "synth" in edits["formats/lef.py"]
    assert "lint" in edits["tools/verilator.py"]
    assert "synth" in edits["formats/liberty.py"]


def test_shared_code_defines_every_stage(edits):
    for shared in ("flows/stage.py", "design/__init__.py", "design/sources.py", "pdk/__init__.py",
                   "tools/base.py", "__init__.py"):
        assert edits[shared] == set(STAGES), shared


def test_a_stage_module_defines_only_its_own_stage(edits):
    for name, cls in STAGES.items():
        assert edits[cls.__module__.removeprefix("kchip.").replace(".", "/") + ".py"] == {name}


def test_edits_reach_no_unrelated_stage(edits):
    assert "lint" not in edits["flows/physical/router.py"]
    assert edits["flows/physical/router.py"] == {"route"}
    assert edits["flows/stages/common.py"] == {"synth", "floorplan", "place", "cts", "route", "gds", "antenna", "sta"}
    for outside in ("cli/flow.py", "chiplet/model.py", "verification/runner.py", "rtl/npu_core/core.py"):
        assert edits.get(outside, set()) == set(), outside


def test_what_re_runs_after_an_edit_is_the_changed_stages_and_their_downstream(edits):
    reruns = set().union(*(downstream_of(s) for s in edits["flows/physical/search.py"]))
    assert reruns == {"route", "gds", "gds_rules", "drc", "lvs", "sta", "antenna", "equiv", "report"}


def test_the_stage_digest_uses_the_code_closure(pdk, tmp_path):
    """What Stage.defining_inputs records as the route stage's code is the digest of its closure,
    which holds the router's search module (imported only by the router)."""
    route = STAGES["route"](design_file=str(PACKAGE_ROOT / "rtl" / "examples" / "counter.toml"),
                            pdk_root=str(pdk.root), run_dir=str(tmp_path))
    search = PACKAGE_ROOT / "flows" / "physical" / "search.py"
    assert search in route.code_files()
    assert search not in STAGES["lint"].code_files()
    assert route.defining_inputs()["code"] == files_digest(route.code_files(), PACKAGE_ROOT)
