"""Bit-exact numpy reference of the NPU core's arithmetic, written from the specification only.

C = clamp(round_half_up(A x B x mult / 2**shift), -128, 127), then max(C, 0) with ReLU, where the
product is exact (int64, no accumulator overflow), the rounding adds 2**(shift - 1) before an
arithmetic right shift (ties go towards plus infinity), and the clamp saturates both ways.
"""

from __future__ import annotations

import numpy as np


def matmul_int8(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact int64 product of two int8 matrices (M x K) x (K x N)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"cannot multiply shapes {a.shape!r} and {b.shape!r}")
    for name, matrix in (("A", a), ("B", b)):
        if matrix.size and (matrix.min() < -128 or matrix.max() > 127):
            raise ValueError(f"{name} has values outside int8: {matrix.min()}..{matrix.max()}")
    return a.astype(np.int64) @ b.astype(np.int64)


def requantize(acc: np.ndarray, mult: int, shift: int, relu: bool = False) -> np.ndarray:
    """Scale int64 sums by ``mult / 2**shift`` with round-half-up, saturate to int8, opt. ReLU."""
    if not 0 <= mult < 2**16:
        raise ValueError(f"mult must be from 0 to 65535, not {mult!r}")
    if not 0 <= shift <= 47:
        raise ValueError(f"shift must be from 0 to 47, not {shift!r}")
    scaled = np.asarray(acc, dtype=object) * mult  # Python ints: no int64 overflow at shift 47
    if shift:
        scaled = (scaled + (1 << (shift - 1))) >> shift
    low = 0 if relu else -128
    return np.clip(scaled, low, 127).astype(np.int8)


def npu_reference(a: np.ndarray, b: np.ndarray, mult: int, shift: int,
                  relu: bool = False) -> np.ndarray:
    """What the core must produce for A x B with the given quantization (M x N int8)."""
    return requantize(matmul_int8(a, b), mult, shift, relu)


def tile_order(m: int, n: int, size: int) -> np.ndarray:
    """Row-major indices of C (M x N) in the order the core streams them out.

    Tiles of ``size`` x ``size`` in row-major tile order, each tile row by row, skipping the
    elements outside C.
    """
    order = []
    for row0 in range(0, m, size):
        for col0 in range(0, n, size):
            for row in range(row0, min(row0 + size, m)):
                order.extend(row * n + col for col in range(col0, min(col0 + size, n)))
    return np.array(order, dtype=np.int64)
