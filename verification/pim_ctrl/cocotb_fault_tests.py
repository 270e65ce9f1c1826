"""cocotb test run on a controller built with one shortened timing value: the model must object.

The bench config's ``rtl_timing_changes`` names the shortened parameter; the model keeps the value
of its own JEDEC table (:mod:`.jedec`).
"""

from __future__ import annotations

import random

import cocotb

from kchip.rtl.pim_ctrl.isa import Request, RequestKind

from . import config_from_env, jedec
from .harness import Harness


@cocotb.test()
async def shortened_timing_is_caught(dut):
    """Row misses on a controller with a shortened parameter make the model report that rule."""
    config = config_from_env()
    (parameter, shortened), = config["rtl_timing_changes"].items()
    nominal = getattr(jedec.timing(config["controller"]["timing"]), parameter)
    assert shortened < nominal, "the bench must shorten the parameter"
    harness = Harness(dut, config)
    await harness.reset()
    ctrl, rng = harness.geometry, random.Random(cocotb.RANDOM_SEED)
    requests = []
    for _ in range(40):
        addr = ctrl.join_address(rng.randrange(ctrl.banks), rng.randrange(8), rng.randrange(4))
        requests.append(Request(RequestKind.WRITE, addr, rng.getrandbits(ctrl.data_width))
                        if rng.random() < 0.5 else Request(RequestKind.READ, addr))
    await harness.run(requests)
    caught = [v for v in harness.model.violations if v.rule.startswith(parameter)]
    assert caught, (f"{parameter} shortened from {nominal} to {shortened} in the RTL, but the model "
                    f"reported {harness.model.violations[:3] or 'nothing'}")
    first = caught[0]
    dut._log.info("model caught: %s", first)
    assert first.required == nominal and shortened <= first.actual < nominal, first
