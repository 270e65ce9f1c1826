"""kchip.rtl.pim_ctrl.controller: parameters, address maps, the flow's design file, and cocotb runs
against the checking DRAM model (kchip.verification.pim_ctrl) on Icarus, one on Verilator."""

import copy
from pathlib import Path

import pytest
from amaranth.back import verilog

from kchip.design import load_design
from kchip.rtl.pim_ctrl.controller import PimController
from kchip.rtl.pim_ctrl.geometry import Geometry
from kchip.verification import runner
from kchip.verification.pim_ctrl import DEFAULT_CONFIG, FAULT_CONFIG
from kchip.verification.pim_ctrl import testbench as pim_testbench

DESIGN = Path(__file__).resolve().parent.parent / "rtl" / "pim_ctrl" / "design.toml"


@pytest.mark.parametrize("params, message", [
    ({"banks": 3}, r"banks = 3 is not valid; expected one of 2, 4, 8, 16"),
    ({"banks": 2, "bank_groups": 4}, r"bank_groups = 4 .* expected one of 1, 2"),
    ({"data_width": 24}, r"data_width = 24"),
    ({"queue_depth": True}, r"queue_depth = True"),
    ({"address_map": "bank_row_col"}, r"'bank_row_col' .* row_bank_col, row_col_bank"),
    ({"timing": "ddr5"}, r"'ddr5'.*ddr4_3200, hbm2"),
])
def test_bad_parameters_are_refused_with_the_valid_choices(params, message):
    with pytest.raises(ValueError, match=message):
        PimController(**params)


@pytest.mark.parametrize("address_map", ["row_bank_col", "row_col_bank"])
def test_address_maps_round_trip(address_map):
    ctrl = Geometry(banks=4, bank_groups=2, row_bits=5, col_bits=3, data_width=16, pim_regs=2,
                    address_map=address_map)
    seen = set()
    for addr in range(1 << ctrl.addr_bits):
        bank, row, col = ctrl.split_address(addr)
        assert ctrl.join_address(bank, row, col) == addr
        seen.add((bank, row, col))
    assert len(seen) == 1 << ctrl.addr_bits


def test_address_maps_place_a_sequential_stream_differently():
    by_row, by_bank = (Geometry(banks=4, bank_groups=2, row_bits=5, col_bits=3, data_width=16,
                                pim_regs=2, address_map=m) for m in ("row_bank_col", "row_col_bank"))
    assert [by_row.split_address(a)[0] for a in range(4)] == [0, 0, 0, 0]
    assert [by_bank.split_address(a)[0] for a in range(4)] == [0, 1, 2, 3]


def test_design_file_builds_the_small_flow_configuration():
    design = load_design(DESIGN)
    assert design.generator == "kchip.rtl.pim_ctrl.controller:PimController"
    ctrl = PimController(**design.parameters)
    text = verilog.convert(ctrl, name=design.top, emit_src=False)
    assert f"module {design.top}(" in text and design.clock_port in text
    assert ctrl.data_width <= 32 and ctrl.queue_depth <= 4


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("pim_ctrl_benches")


@pytest.mark.parametrize("test", ["random_traffic", "gemv_offload", "mode_changes",
                                  "illegal_requests_rejected", "pim_elementwise_ops",
                                  "row_hits_cannot_starve_a_miss"])
def test_controller_against_the_model_on_icarus(test, build_root):
    result = runner.run(pim_testbench(), tests=[test], build_root=build_root, seed=201,
                        env={"KCHIP_PIM_REQUESTS": "600", "KCHIP_PIM_GEMV": "24x30"})
    assert result.tests == 1 and result.passed


def test_ddr4_controller_with_bank_interleaving_against_the_model(build_root):
    """DDR4-3200 timing, 8 banks in 4 groups, the bank-interleaved address map."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    config["controller"].update(timing="ddr4_3200", banks=8, bank_groups=4,
                                address_map="row_col_bank")
    result = runner.run(pim_testbench(config, name="pim_ctrl_ddr4"), build_root=build_root,
                        seed=202,
                        tests=["random_traffic", "gemv_offload"],
                        env={"KCHIP_PIM_REQUESTS": "400", "KCHIP_PIM_GEMV": "16x20"})
    assert result.tests == 2 and result.passed


def test_model_catches_a_controller_with_shortened_trcd(build_root):
    assert FAULT_CONFIG["rtl_timing_changes"] == {"tRCD": 10}
    result = runner.run(pim_testbench(FAULT_CONFIG, name="pim_ctrl_fault",
                                  test_module="kchip.verification.pim_ctrl.cocotb_fault_tests"),
                        build_root=build_root, seed=203)
    assert result.passed


@pytest.mark.slow
def test_controller_against_the_model_on_verilator(build_root):
    result = runner.run(pim_testbench(), simulator="verilator", build_root=build_root, seed=204,
                        tests=["random_traffic", "gemv_offload"],
                        env={"KCHIP_PIM_REQUESTS": "1500", "KCHIP_PIM_GEMV": "40x64"})
    assert result.tests == 2 and result.passed
