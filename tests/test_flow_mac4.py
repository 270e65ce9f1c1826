"""The 4-lane int8 MAC of the findings (about 2,000 cells) through the whole flow, signed off clean.

This is the design the open-source flow on these machines could not take to a clean layout with
qrouter (hundreds of DRC errors remained); here it must end with no unrouted net, no DRC error, an
LVS match and non-negative setup and hold slack at its 10 ns clock.
"""

from __future__ import annotations

import json

import pytest

from kchip.design import resolve_design
from kchip.flows.runner import run_flow


@pytest.mark.slow
def test_mac4_signs_off_clean(pdk, tmp_path):
    result = run_flow(resolve_design("mac4"), "sky130A", pdk.root, tmp_path)
    assert result.ok, [(s.name, s.error) for s in result.stages if s.error]
    m = json.loads((tmp_path / "final" / "metrics.json").read_text())
    assert m["design__instance__count"] > 1500
    assert m["route__unrouted__count"] == 0
    assert m["drc__errors__count"] == 0, (tmp_path / "final" / "report.md").read_text()
    assert m["lvs__mismatch__count"] == 0
    assert m["timing__setup__ws"] >= 0 and m["timing__hold__ws"] >= 0
    assert m["clock__skew__worst"] < 0.2
