"""The golden model against hand-worked values and a plain-Python reimplementation."""

import numpy as np
import pytest

from kchip.verification.npu_core import golden


def test_rounding_is_half_up_and_saturates_both_ways():
    acc = np.array([5, -5, 3, -3, 1, -1, 1000, -1000, 6])
    # /2: 2.5 -> 3, -2.5 -> -2, 1.5 -> 2, -1.5 -> -1, 0.5 -> 1, -0.5 -> 0, clamps, 3
    assert golden.requantize(acc, 1, 1).tolist() == [3, -2, 2, -1, 1, 0, 127, -128, 3]
    assert golden.requantize(acc, 1, 1, relu=True).tolist() == [3, 0, 2, 0, 1, 0, 127, 0, 3]
    assert golden.requantize(np.array([7]), 3, 0).tolist() == [21]


def test_matches_plain_python_loops():
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, size=(5, 7)).astype(np.int8)
    b = rng.integers(-128, 128, size=(7, 3)).astype(np.int8)
    got = golden.npu_reference(a, b, mult=777, shift=13, relu=False)
    for i in range(5):
        for j in range(3):
            total = sum(int(a[i, k]) * int(b[k, j]) for k in range(7)) * 777
            value = (total + 4096) // 8192          # floor division = arithmetic shift
            assert got[i, j] == max(-128, min(127, value))


def test_max_k_sum_is_exact():
    k = 4096
    acc = golden.matmul_int8(np.full((1, k), -128, np.int8), np.full((k, 1), -128, np.int8))
    assert acc[0, 0] == k * 16384


def test_tile_order_covers_every_element_once():
    order = golden.tile_order(5, 6, 4)
    assert sorted(order.tolist()) == list(range(30))
    assert order[:6].tolist() == [0, 1, 2, 3, 6, 7]          # first tile, rows 0 and 1


@pytest.mark.parametrize("call, message", [
    (lambda: golden.requantize(np.array([1]), 65536, 0), "mult must be from 0 to 65535"),
    (lambda: golden.requantize(np.array([1]), 1, 48), "shift must be from 0 to 47"),
    (lambda: golden.matmul_int8(np.zeros((2, 3)), np.zeros((2, 3))), "cannot multiply"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
