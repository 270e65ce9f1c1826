"""Builds keyed by content: no stale-build false pass, every build input in the key, safe to
share."""

import os
import threading
from dataclasses import replace

import pytest
from verification_benches import INVERTED, ff  # noqa: F401  (ff is a fixture)

from kchip.verification import build as builds
from kchip.verification import runner


def test_an_edit_dated_before_the_build_is_rebuilt_and_fails(ff, tmp_path):
    root = tmp_path / "b"
    first = runner.run(ff.good, seed=1, build_root=root, tests=["follows_d"])
    assert first.passed
    built = runner.build_dir_for(ff.good, "icarus", root)
    assert built.is_dir()
    ff.source.write_text(INVERTED)  # the same file, now wrong, and dated an hour before the build
    older = built.stat().st_mtime - 3600
    os.utime(ff.source, (older, older))
    second = runner.run(ff.good, seed=1, build_root=root, tests=["follows_d"], check=False)
    assert second.failed == ("follows_d",), "a stale build made the edited flip-flop pass"
    assert runner.build_dir_for(ff.good, "icarus", root) != built
    assert first.run_dir != second.run_dir and first.results_xml.is_file()


def test_the_key_covers_every_build_input(ff, tmp_path, monkeypatch):
    root = tmp_path / "b"
    bench = ff.good
    base = runner.build_dir_for(bench, "icarus", root)
    os.utime(ff.source, (1, 1))  # a date alone changes nothing
    assert runner.build_dir_for(bench, "icarus", root) == base
    variants = {
        "simulator": runner.build_dir_for(bench, "verilator", root),
        "parameters": runner.build_dir_for(replace(bench, parameters={"width": 2}), "icarus", root),
        "defines": runner.build_dir_for(replace(bench, defines={"FAST": 1}), "icarus", root),
        "hdl_parameters": runner.build_dir_for(replace(bench, hdl_parameters={"W": 3}), "icarus",
                                               root),
        "build_args": runner.build_dir_for(replace(bench, build_args=["-Wall"]), "icarus", root),
        "timescale": runner.build_dir_for(replace(bench, timescale=("1ps", "1ps")), "icarus", root),
        "waves": runner.build_dir_for(bench, "icarus", root, waves=True),
    }
    header = ff.source.parent / "defs.vh"  # a header beside the source, reached by `include
    header.write_text("`define WIDTH 1\n")
    variants["header"] = runner.build_dir_for(bench, "icarus", root)
    header.write_text("`define WIDTH 2\n")
    variants["header edit"] = runner.build_dir_for(bench, "icarus", root)
    include = tmp_path / "inc"
    include.mkdir()
    (include / "pkg.svh").write_text("// one\n")
    with_include = replace(bench, includes=[include])
    variants["include dir"] = runner.build_dir_for(with_include, "icarus", root)
    (include / "pkg.svh").write_text("// two\n")
    variants["include edit"] = runner.build_dir_for(with_include, "icarus", root)
    identity = builds.tool_identity("icarus")
    monkeypatch.setattr(builds, "tool_identity", lambda sim: {**identity, "version": "99.0"})
    header.unlink()
    variants["tool version"] = runner.build_dir_for(bench, "icarus", root)
    folders = [base, *variants.values()]
    same = [name for name, folder in variants.items() if folder == base]
    assert not same, f"build key ignores: {same}"
    assert len(set(folders)) == len(folders)
    assert not list(root.glob(".staging-*")), "staging folders left behind"


def test_two_builders_of_one_key_end_with_one_complete_folder(ff, tmp_path):
    root = tmp_path / "b"
    staged = [builds.stage(ff.good, "icarus", root) for _ in range(2)]
    assert staged[0].folder == staged[1].folder and staged[0].staging != staged[1].staging
    done = []
    threads = [threading.Thread(target=lambda s=s: done.append(builds.build(s))) for s in staged]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(done) == 2 and {b.folder for b in done} == {staged[0].folder}
    assert done[0].ready() and (done[0].folder / "sim.vvp").is_file()
    assert [p.name for p in root.iterdir()] == [staged[0].folder.name]
    again = builds.stage(ff.good, "icarus", root)  # the key folder exists: nothing to build
    assert again.ready() and again.staging is None


def test_a_build_failure_names_its_log(ff, tmp_path):
    ff.source.write_text("module ff(input clk; endmodule\n")
    with pytest.raises(runner.SimulationError, match=r"building for icarus failed.*build\.log") \
            as caught:
        runner.run(ff.good, seed=1, build_root=tmp_path / "b")
    assert caught.value.log.is_file() and "syntax error" in caught.value.log.read_text()
