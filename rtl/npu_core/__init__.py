"""kchip.rtl.npu_core: an int8 output-stationary systolic-array NPU core (see core.py)."""

from kchip.rtl.npu_core.core import NpuCore

__all__ = ["NpuCore"]
