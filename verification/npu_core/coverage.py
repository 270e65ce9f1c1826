"""Functional coverage of the NPU bench: which shapes and corner values the tests exercised.

Bins are counted per operation that reaches the core; :func:`report` lists the hits of every bin
and the bins never hit. Counts are merged into a JSON file (``{bin: hits}``, every bin named) so
that the tests of one run (each a separate cocotb test, all in one simulator process) add up; the
first save of a process starts the file afresh, so a run never inherits the counts of an earlier
one. The file is ``KCHIP_NPU_COVERAGE`` when set, else the run's generic coverage file
(:mod:`kchip.verification.coverage`), which a regression merges over all its runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from kchip.verification.coverage import coverage_file
from kchip.verification.npu_core import golden

#: Every bin, with what it means.
BINS = {
    "m_below_n": "M smaller than the array",
    "m_multiple_of_n": "M a multiple of the array size",
    "m_ragged": "M above the array size and not a multiple of it",
    "n_below_n": "N smaller than the array",
    "n_multiple_of_n": "N a multiple of the array size",
    "n_ragged": "N above the array size and not a multiple of it",
    "k_one": "K = 1",
    "k_short": "K below 2n - 1 (the feeder pads each tile)",
    "k_max": "K equal to the deepest buffer allows",
    "sum_max_positive": "a sum of K products of -128 x -128 (largest accumulator value)",
    "sum_most_negative": "a sum of K products of -128 x 127 (smallest accumulator value)",
    "saturate_high": "an output clamped to 127",
    "saturate_low": "an output clamped to -128",
    "relu_clipped": "a negative output clipped to 0 by ReLU",
    "rounding_tie": "a scaled value exactly halfway between two integers",
    "shift_zero": "SHIFT = 0 (no rounding)",
    "operands_resident": "an operation reusing buffered operands (no load)",
    "nonzero_base": "operands at a non-zero A_BASE or B_BASE",
    "back_pressure": "random stalls on the streams",
}


def _size_bins(prefix: str, size: int, n: int) -> list[str]:
    if size < n:
        return [f"{prefix}_below_n"]
    return [f"{prefix}_multiple_of_n" if size % n == 0 else f"{prefix}_ragged"]


class Coverage:
    """Counts of :data:`BINS`, merged into ``path`` (JSON) on every :meth:`save`."""

    #: Files this process has written: only those are merged with, others are overwritten.
    _started: set[Path] = set()

    def __init__(self, path: Path | None = None):
        self.path = Path(path or os.environ.get("KCHIP_NPU_COVERAGE") or coverage_file())
        self.hits = {name: 0 for name in BINS}

    def sample(self, op, *, n: int, k_max: int, stall: float) -> None:
        """Record one operation (a :class:`~kchip.verification.npu_core.driver.Operation`)."""
        m_rows, k_depth = op.a.shape
        n_cols = op.b.shape[1]
        acc = golden.matmul_int8(op.a, op.b)
        out = op.expected()
        scaled = acc.astype(object) * op.mult
        hit = _size_bins("m", m_rows, n) + _size_bins("n", n_cols, n)
        hit += [name for name, cond in (
            ("k_one", k_depth == 1), ("k_short", k_depth < 2 * n - 1), ("k_max", k_depth == k_max),
            ("sum_max_positive", (acc == k_depth * 16384).any()),
            ("sum_most_negative", (acc == -k_depth * 16256).any()),
            ("saturate_high", (out == 127).any() and (
                (scaled + (1 << op.shift >> 1)) >> op.shift > 127).any()),
            ("saturate_low", not op.relu and (
                (scaled + (1 << op.shift >> 1)) >> op.shift < -128).any()),
            ("relu_clipped", op.relu and (
                (scaled + (1 << op.shift >> 1)) >> op.shift < 0).any()),
            ("rounding_tie", op.shift > 0 and (
                scaled % (1 << op.shift) == 1 << (op.shift - 1)).any()),
            ("shift_zero", op.shift == 0),
            ("operands_resident", not (op.load_a and op.load_b)),
            ("nonzero_base", op.a_base > 0 or op.b_base > 0),
            ("back_pressure", stall > 0),
        ) if cond]
        for name in hit:
            self.hits[name] += 1

    def save(self) -> dict[str, int]:
        """Add this object's counts to the file's (atomically) and return the merged counts."""
        merged = dict(self.hits)
        if self.path.resolve() in Coverage._started and self.path.is_file():
            for name, count in json.loads(self.path.read_text()).items():
                merged[name] = merged.get(name, 0) + count
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(merged, indent=1, sort_keys=True))
        temporary.replace(self.path)
        Coverage._started.add(self.path.resolve())
        self.hits = {name: 0 for name in BINS}
        return merged


def report(counts: dict[str, int]) -> str:
    """A table of bin counts, the unhit bins flagged."""
    lines = [f"{'bin':<20} {'hits':>6}  meaning"]
    for name, meaning in BINS.items():
        count = counts.get(name, 0)
        lines.append(f"{name:<20} {count:>6}  {meaning}{'' if count else '   <-- NOT HIT'}")
    hit = sum(1 for name in BINS if counts.get(name, 0))
    lines.append(f"coverage: {hit} of {len(BINS)} bins hit ({100 * hit / len(BINS):.0f}%)")
    return "\n".join(lines)


def unhit(counts: dict[str, int]) -> list[str]:
    return [name for name in BINS if not counts.get(name, 0)]
