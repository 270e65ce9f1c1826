"""SDC writing: the clock, IO delays, driver and load derived from the PDK, and rejected values."""

import re

import pytest

from kchip.formats.sdc import ConstraintError, Constraints, pdk_constraints, sdc_text, write_sdc




def _constraints(**changes):
    values = dict(clock_port="clk", period_ns=8.0, input_delay_ns=1.6, output_delay_ns=2.4,
                  driving_cell="buf_2", driving_pin="X", output_load_pf=0.0069)
    return Constraints(**{**values, **changes})


def test_clock_delays_driver_and_load():
    text = sdc_text(_constraints())
    assert "create_clock -name core_clock -period 8 [get_ports {clk}]" in text
    assert re.search(r"set_input_delay 1\.6 -clock core_clock \$data_inputs", text)
    assert "set_output_delay 2.4 -clock core_clock [all_outputs]" in text
    assert "delete_from_list [all_inputs] [get_ports {clk}]" in text
    assert "set_driving_cell -lib_cell buf_2 -pin X $data_inputs" in text
    assert "set_load 0.0069 [all_outputs]" in text
    assert "set_propagated_clock" not in text


def test_propagated_and_virtual_clock():
    assert "set_propagated_clock [all_clocks]" in sdc_text(_constraints(propagated_clock=True))
    virtual = sdc_text(_constraints(clock_port=None))
    assert "create_clock -name core_clock -period 8\n" in virtual
    assert "get_ports" not in virtual


def test_pdk_constraints_use_the_buffer_cell_and_a_fifth_of_the_period(pdk):
    c = pdk_constraints(pdk, "clk", 10.0)
    assert (c.input_delay_ns, c.output_delay_ns) == (2.0, 2.0)
    assert c.driving_cell == pdk.stdcell["buffer_cell"]
    assert c.driving_pin == "X"
    # four sky130_fd_sc_hd__buf_2 inputs at 0.001727 pF each (tt liberty)
    assert c.output_load_pf == pytest.approx(4 * 0.001727)


def test_write_is_atomic(tmp_path):
    path = write_sdc(_constraints(), tmp_path / "sub" / "design.sdc")
    assert path.read_text() == sdc_text(_constraints())
    assert [p.name for p in path.parent.iterdir()] == ["design.sdc"]


@pytest.mark.parametrize("changes, message", [
    ({"period_ns": 0}, "period_ns = 0"),
    ({"period_ns": float("nan")}, "period_ns = nan"),
    ({"input_delay_ns": 8.0}, "input_delay_ns = 8.0"),
    ({"output_delay_ns": -1}, "output_delay_ns = -1"),
    ({"clock_port": "clk[0]"}, "clock_port = 'clk\\[0\\]'"),
    ({"clock_port": ""}, "clock_port = ''"),
    ({"driving_cell": "buf 2"}, "driving_cell = 'buf 2'"),
    ({"output_load_pf": -0.1}, "output_load_pf = -0.1"),
])
def test_bad_values_are_shown(changes, message):
    with pytest.raises(ConstraintError, match=message):
        _constraints(**changes)


def test_bad_io_fraction(pdk):
    with pytest.raises(ConstraintError, match="io_fraction = 0.7"):
        pdk_constraints(pdk, "clk", 10.0, io_fraction=0.7)
