"""``kchip doctor --pdk``: a PDK root that lacks a file the descriptor names is caught, with the key."""

from __future__ import annotations

from kchip.cli.doctor import check_pdk
from kchip.pdk import pdk_problems


def _root_with(pdk, tmp_path, leave_out: str | None = None):
    """A PDK root holding links to every file ``pdk`` reads, but the one named ``leave_out``."""
    for key, path in pdk.named_files():
        if key == leave_out:
            continue
        link = tmp_path / pdk.name / path.relative_to(pdk.root / pdk.name)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path)
    return tmp_path


def test_a_complete_root_passes(pdk, tmp_path):
    root = _root_with(pdk, tmp_path)
    assert pdk_problems(pdk.name, root) == []
    assert check_pdk(pdk.name, str(root)) == 0


def test_a_missing_file_is_named_with_its_key(pdk, tmp_path):
    root = _root_with(pdk, tmp_path, leave_out="stdcell.cdl")
    problems = pdk_problems(pdk.name, root)
    assert len(problems) == 1
    assert problems[0].startswith(f"{pdk.descriptor} stdcell.cdl = 'libs.ref/sky130_fd_sc_hd/cdl/sky130_fd_sc_hd.cdl': ")
    assert problems[0].endswith("sky130_fd_sc_hd.cdl is missing")
    assert check_pdk(pdk.name, str(root)) == 1
