"""Deliberate faults in the PIM controller are caught by the independent checking model (issue 9).

Each test builds the controller with one fault the RTL's own tables could carry -- two command or
PIM-operation codes exchanged in its encoding, or one timing value below the JEDEC table -- runs a
bench on Icarus, and requires that exactly the chosen cocotb test fails with the model's complaint.
The faults exist only in the generated instance: the encoding is swapped by patching the enum the
controller module elaborates with, the timing through the bench's ``rtl_timing_changes``.
"""

import copy
import types
from xml.etree import ElementTree

import pytest
from amaranth.lib import enum

from kchip.rtl.pim_ctrl import controller, isa
from kchip.verification import runner
from kchip.verification.pim_ctrl import DEFAULT_CONFIG, jedec
from kchip.verification.pim_ctrl import testbench as pim_testbench


def _swapped(original: type[enum.Enum], a: str, b: str) -> type[enum.Enum]:
    """A copy of an RTL port enum with the codes of members ``a`` and ``b`` exchanged."""
    codes = {member.name: member.value for member in original}
    codes[a], codes[b] = codes[b], codes[a]

    def body(namespace):
        for name, code in codes.items():
            namespace[name] = code

    return types.new_class(original.__name__, (enum.Enum,), {"shape": original.as_shape()}, body)


def _failure_text(result: runner.RunResult) -> str:
    cases = ElementTree.parse(result.results_xml).getroot().iter("testcase")
    return "\n".join(f"{node.get('message', '')}\n{node.text or ''}" for case in cases
                     for node in case if node.tag in ("failure", "error"))


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("pim_ctrl_faults")


@pytest.mark.parametrize("field, a, b, test, complaint", [
    ("Command", "PRE", "PREA", "random_traffic", "PREA all banks breaks"),
    ("PimOp", "LOAD", "STORE", "pim_elementwise_ops", "breaks PIM op on"),
])
def test_a_swapped_rtl_encoding_fails_the_bench(field, a, b, test, complaint, build_root,
                                                monkeypatch):
    monkeypatch.setattr(controller, field, _swapped(getattr(isa, field), a, b))
    config = {**copy.deepcopy(DEFAULT_CONFIG), "rtl_fault": f"{field} {a} <-> {b}"}
    result = runner.run(pim_testbench(config, name=f"pim_ctrl_swapped_{field}"), tests=[test],
                        build_root=build_root, seed=401, check=False,
                        env={"KCHIP_PIM_REQUESTS": "300"})
    assert result.failed == (test,), f"{field} {a} <-> {b} in the RTL went unnoticed"
    assert complaint in _failure_text(result)


def test_the_same_benches_pass_without_the_fault(build_root):
    """The control: the unpatched controller passes both tests the faults make fail."""
    result = runner.run(pim_testbench(), tests=["random_traffic", "pim_elementwise_ops"],
                        build_root=build_root, seed=402, env={"KCHIP_PIM_REQUESTS": "300"})
    assert result.passed and result.tests == 2


@pytest.mark.parametrize("parameter, shortened", [("tRP", 10), ("tRAS", 28)])
def test_a_timing_value_below_the_jedec_table_is_caught(parameter, shortened, build_root):
    """The controller is built with one value shorter than the model's JEDEC table; the fault bench
    passes only if the model reports that rule with the table's value as the requirement."""
    assert shortened < getattr(jedec.timing(DEFAULT_CONFIG["controller"]["timing"]), parameter)
    config = {**copy.deepcopy(DEFAULT_CONFIG), "rtl_timing_changes": {parameter: shortened}}
    result = runner.run(pim_testbench(config, name=f"pim_ctrl_short_{parameter}",
                                      test_module="kchip.verification.pim_ctrl.cocotb_fault_tests"),
                        build_root=build_root, seed=403)
    assert result.passed
