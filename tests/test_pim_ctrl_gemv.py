"""kchip.rtl.pim_ctrl.gemv: W striped over banks, the offload's request stream, the host reduction.

The stream is executed here on a direct, timing-free interpretation of the requests (each PIM request
applied to every bank's array and registers with numpy), independent of the RTL and the device model.
"""

import numpy as np
import pytest

from kchip.rtl.pim_ctrl.gemv import GemvPlan
from kchip.rtl.pim_ctrl.geometry import Geometry
from kchip.rtl.pim_ctrl.isa import Mode, PimOp, RequestKind

GEOMETRY = Geometry(banks=4, bank_groups=2, row_bits=6, col_bits=3, data_width=64, pim_regs=4)


def _lanes(word, lanes):
    return np.array([(word >> (16 * i)) & 0xFFFF for i in range(lanes)], dtype=np.uint16)


def _word(values):
    return sum(int(v) << (16 * i) for i, v in enumerate(values.astype(np.uint16)))


def _execute(plan, words, requests):
    """Apply the requests to {(bank, row, col): word} directly; returns the read data in order."""
    geo, lanes = plan.geometry, plan.lanes
    grf = np.zeros((geo.banks, geo.pim_regs, lanes), dtype=np.uint16)
    mode, reads = Mode.SINGLE_BANK, []
    for request in requests:
        bank, row, col = geo.split_address(request.addr)
        if request.kind is RequestKind.MODE:
            mode = Mode(request.mode)
        elif request.kind is RequestKind.READ:
            assert mode is Mode.SINGLE_BANK
            reads.append(words.get((bank, row, col), 0))
        else:
            assert mode is Mode.ALL_BANK_PIM and request.kind is RequestKind.PIM
            for b in range(geo.banks):
                cell = _lanes(words.get((b, row, col), 0), lanes)
                if request.op is PimOp.BCAST:
                    grf[b, request.dst] = _lanes(request.wdata, lanes)
                elif request.op is PimOp.MUL:
                    grf[b, request.dst] = cell * grf[b, request.src]
                elif request.op is PimOp.MAC:
                    grf[b, request.dst] += cell * grf[b, request.src]
                elif request.op is PimOp.STORE:
                    words[(b, row, col)] = _word(grf[b, request.src])
                else:
                    raise AssertionError(f"unexpected op {request.op}")
    return reads


@pytest.mark.parametrize("outputs, inputs", [(1, 1), (4, 4), (13, 9), (24, 30)])
def test_offload_stream_computes_w_times_x_in_int16(outputs, inputs):
    rng = np.random.default_rng(outputs * 100 + inputs)
    w = rng.integers(-2 ** 15, 2 ** 15, size=(outputs, inputs))
    x = rng.integers(-2 ** 15, 2 ** 15, size=inputs)
    plan = GemvPlan(GEOMETRY, outputs, inputs, base_row=2)
    reads = _execute(plan, plan.weight_words(w), plan.offload_requests(x))
    expected = ((w @ x) & 0xFFFF).astype(np.uint16).view(np.int16)
    assert plan.reduce(reads) == [int(v) for v in expected]


def test_layout_keeps_weights_and_results_apart():
    plan = GemvPlan(GEOMETRY, 24, 30)
    weights = {(row, col) for (_, row, col) in plan.weight_words(np.ones((24, 30), int))}
    results = {plan.result_position(s) for s in range(plan.slots)}
    assert len(weights) == plan.groups * plan.chunks * plan.accumulators
    assert not weights & results and len(results) == plan.slots


def test_host_readout_reads_every_weight_word_once():
    plan = GemvPlan(GEOMETRY, 13, 9)
    reads = plan.host_readout_requests()
    addresses = {r.addr for r in reads}
    assert len(addresses) == len(reads) == 13 * plan.chunks
    rows = [GEOMETRY.split_address(r.addr)[1] for r in reads]
    assert rows == sorted(rows)


def test_a_matrix_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match=r"GemvPlan 400x400 needs rows up to \d+"):
        GemvPlan(GEOMETRY, 400, 400)
    with pytest.raises(ValueError, match=r"outputs = 0"):
        GemvPlan(GEOMETRY, 0, 3)
