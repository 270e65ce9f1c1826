"""Property test of the physical flow: random small designs (random logic and registers, random
connectivity and fanout, random pin sides, utilisation 0.3 to 0.55, aspect ratio 0.5 to 2) route
with nothing left unrouted and sign off with 0 DRC errors (magic and KLayout), LVS matching and no
antenna violation. ``KCHIP_RANDOM_DESIGNS`` sets how many are drawn (CI: 3); seeds of any failure
found are kept below as fixed examples."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from kchip.design import load_design
from kchip.flows.runner import run_flow
from random_designs import RandomDesign

designs = st.builds(RandomDesign, seed=st.integers(0, 2**31 - 1), cells=st.integers(8, 80),
                    inputs=st.integers(2, 16), outputs=st.integers(1, 10),
                    utilization=st.sampled_from([0.3, 0.35, 0.4, 0.45, 0.5, 0.55]),
                    aspect_ratio=st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0]))

CHECKS = {"route__unrouted__count": 0, "drc__errors__count": 0, "lvs__mismatch__count": 0,
          "lvs__unverified_cells__count": 0, "antenna__violations__count": 0}


@settings(max_examples=int(os.environ.get("KCHIP_RANDOM_DESIGNS", "3")), deadline=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
          database=None)
@given(design=designs)
@example(design=RandomDesign(seed=1, cells=40, inputs=8, outputs=6, utilization=0.55, aspect_ratio=0.5))
# found by this test: a small design at 0.55 whose taps and clock root buffer overfilled the rows
@example(design=RandomDesign(seed=25369, cells=40, inputs=12, outputs=2, utilization=0.55, aspect_ratio=0.5))
# found by this test: a GDS rule violation from an intermediate router change (island growth over pin metal)
@example(design=RandomDesign(seed=74, cells=66, inputs=12, outputs=9, utilization=0.4, aspect_ratio=2.0))
# found by this test: synthesis mapping for delay made this 0.55 core keep no free run of 20 sites for
# the clock root buffer after placement (a narrower clock buffer now stands in)
@example(design=RandomDesign(seed=5611, cells=16, inputs=14, outputs=3, utilization=0.55, aspect_ratio=0.5))
def test_random_designs_route_and_sign_off_clean(design, pdk, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"rand{design.seed}")
    result = run_flow(load_design(design.write(folder)), "sky130A", pdk.root, folder / "run")
    failed = [(s.name, s.error) for s in result.stages if s.state == "failed"]
    assume(not any(name == "synth" and "nothing to lay out" in error for name, error in failed))
    assert result.ok, (design, failed)
    found = {name: result.final_metrics.get(name) for name in CHECKS}
    assert found == CHECKS, (design, found, str(folder))
