"""Shared fixtures: the PDK (from KCHIP_PDK_ROOT, else ../shared/pdks beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pdk_root() -> Path | None:
    for candidate in (os.environ.get("KCHIP_PDK_ROOT"), os.environ.get("PDK_ROOT"), REPO.parent / "shared" / "pdks"):
        if candidate and (Path(candidate) / "sky130A").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def pdk():
    """The sky130A PDK; missing it fails under CI and skips elsewhere."""
    from kchip.pdk import load_pdk

    root = pdk_root()
    if root is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs the sky130A PDK: set KCHIP_PDK_ROOT")
        pytest.skip("no sky130A PDK (set KCHIP_PDK_ROOT)")
    return load_pdk("sky130A", root)


@pytest.fixture(scope="session")
def tech_and_macros(pdk):
    """The process rules (tech LEF and descriptor) and the cell macros, as the physical stages get them."""
    from kchip.formats.lef import read_macros
    from kchip.pdk.rules import load_rules

    return load_rules(pdk), read_macros(pdk.lef)


@pytest.fixture(scope="module")
def ihp(pdk):
    """The ihp-sg13g2 PDK from the same PDK root; skipped when the root has none."""
    from kchip.pdk import PdkError, load_pdk

    try:
        return load_pdk("ihp-sg13g2", pdk.root)
    except PdkError as exc:
        pytest.skip(str(exc))
