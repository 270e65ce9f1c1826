"""Verification of kchip.rtl.pim_ctrl: a checking DRAM + PIM device model and cocotb benches.

The checking side (device model :mod:`.dram_model`, its JEDEC timing table :mod:`.jedec`, its
reading of the documented port encoding :mod:`.encoding`, and the harness) shares no encodings or
timing values with the RTL; only the bench builder here instantiates the controller.

A bench is configured by a JSON-able dict (see :data:`DEFAULT_CONFIG`):

- ``controller``: :class:`PimController` parameters; ``timing`` names both the controller's preset
  and the device in the model's JEDEC table.
- ``rtl_timing_changes``: timing values changed in the RTL only (the model keeps the JEDEC values),
  to show that the model catches a controller that breaks a rule.

The config reaches the simulated Python through the ``KCHIP_PIM_CONFIG`` environment variable.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from amaranth.back import verilog

from kchip.rtl.pim_ctrl.controller import PimController
from kchip.rtl.pim_ctrl.geometry import Geometry
from kchip.rtl.pim_ctrl.timing import timing_preset
from kchip.verification.runner import Testbench

from . import jedec
from .dram_model import DramModel, Violation

TOP = "pim_ctrl"
CONFIG_ENV = "KCHIP_PIM_CONFIG"

#: A configuration small enough for quick simulation that still has bank groups and 4 PIM lanes.
DEFAULT_CONFIG = {
    "controller": {"timing": "hbm2", "banks": 4, "bank_groups": 2, "row_bits": 8, "col_bits": 4,
                   "data_width": 64, "queue_depth": 4, "tag_bits": 5, "pim_regs": 4,
                   "address_map": "row_bank_col", "starvation_limit": 32},
    "rtl_timing_changes": {},
}


def build_controller(config: dict) -> PimController:
    """The controller a config describes, with any RTL-only timing changes applied."""
    params = dict(config["controller"])
    params["timing"] = timing_preset(params["timing"]).with_changes(
        **config.get("rtl_timing_changes", {}))
    return PimController(**params)


def build_geometry(config: dict) -> Geometry:
    """Banks, rows, columns and the address map of a config's controller."""
    params = config["controller"]
    return Geometry(**{name: params[name] for name in Geometry.__dataclass_fields__
                       if name in params})


def build_model(config: dict) -> DramModel:
    """The device model for a config, with the timing of the model's own JEDEC table."""
    params = config["controller"]
    return DramModel(jedec.timing(params["timing"]), banks=params["banks"],
                     bank_groups=params["bank_groups"], row_bits=params["row_bits"],
                     col_bits=params["col_bits"], data_width=params["data_width"],
                     pim_regs=params["pim_regs"])


def config_from_env() -> dict:
    """The config of the running bench (inside the simulator): ``KCHIP_PIM_CONFIG``, else the
    generator parameters a manifest bench passes (``KCHIP_BENCH_PARAMETERS``)."""
    return json.loads(os.environ.get(CONFIG_ENV) or os.environ["KCHIP_BENCH_PARAMETERS"])


_TIME_ZERO_TRIGGER = re.compile(r"reg (\\\$auto\$verilog_backend\S+)\s+= 0;")


def with_time_zero_trigger(text: str) -> str:
    """Generated Verilog whose combinational blocks all run at time 0, also under ``iverilog -g2012``.

    Yosys makes every ``always @*`` block sensitive to a register initialised to 0, so that each block
    runs once at time 0. Under SystemVerilog semantics (cocotb builds Icarus with ``-g2012``) such
    an initialiser raises no event, and blocks whose inputs never change stay X (seen with Icarus
    11: the queue's ``remove`` strobe). An ``initial`` assignment at the end of each module raises
    the event after the blocks have started waiting.
    """
    modules = []
    for module in text.split("endmodule"):
        found = _TIME_ZERO_TRIGGER.search(module)
        if found:
            module += f"  initial {found.group(1)} = 1'h1;\n"
        modules.append(module)
    return "endmodule".join(modules)


def write_verilog(folder: Path, **config) -> Path:
    """Write the Verilog of the controller ``config`` describes to ``folder/pim_ctrl.v``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{TOP}.v"
    text = with_time_zero_trigger(
        verilog.convert(build_controller(config), name=TOP, emit_src=False))
    partial = path.with_suffix(".v.partial")
    partial.write_text(text)
    partial.replace(path)
    return path


def testbench(config: dict | None = None, *, name: str = "pim_ctrl",
              test_module: str = "kchip.verification.pim_ctrl.cocotb_tests") -> Testbench:
    """A bench for the controller built from ``config`` (default :data:`DEFAULT_CONFIG`); the
    benches ``kchip verify`` knows are in ``benches.toml`` beside this file."""
    config = DEFAULT_CONFIG if config is None else config

    def sources(folder: Path) -> list[Path]:
        return [write_verilog(folder, **config)]

    return Testbench(name=name, top=TOP, test_module=test_module, sources=sources,
                     parameters=config, env={CONFIG_ENV: json.dumps(config)},
                     description="PIM DRAM controller against the checking device model")


#: The default config with tRCD shortened from 14 to 10 cycles in the RTL only.
FAULT_CONFIG = {**DEFAULT_CONFIG, "rtl_timing_changes": {"tRCD": 10}}

__all__ = ["DEFAULT_CONFIG", "FAULT_CONFIG", "DramModel", "Violation", "build_controller",
           "build_geometry", "build_model", "config_from_env", "testbench", "write_verilog"]
