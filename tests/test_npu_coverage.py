"""Functional coverage bins of the NPU bench: sampled from operations, merged per process."""

import json

import numpy as np

from kchip.verification.npu_core import coverage
from kchip.verification.npu_core.driver import Operation


def test_bins_follow_the_operation(tmp_path):
    cover = coverage.Coverage(tmp_path / "c.json")
    op = Operation(a=np.full((3, 1), -128, np.int8), b=np.full((1, 9), -128, np.int8))
    cover.sample(op, n=4, k_max=8, stall=0.0)
    hit = {name for name, count in cover.hits.items() if count}
    assert hit == {"m_below_n", "n_ragged", "k_one", "k_short", "sum_max_positive",
                   "saturate_high", "shift_zero"}


def test_saves_merge_within_a_process_and_restart_per_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"k_one": 99}))          # left over from an earlier run
    op = Operation(a=np.ones((4, 1), np.int8), b=np.ones((1, 4), np.int8), mult=1, shift=1)
    for _ in range(2):
        cover = coverage.Coverage(path)
        cover.sample(op, n=4, k_max=8, stall=0.5)
        counts = cover.save()
    assert counts["k_one"] == 2 and counts["rounding_tie"] == 2 and counts["back_pressure"] == 2
    assert json.loads(path.read_text()) == counts
    assert "k_max" in coverage.unhit(counts)
    assert "NOT HIT" in coverage.report(counts) and "bins hit" in coverage.report(counts)
