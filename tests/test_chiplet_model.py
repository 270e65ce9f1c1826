"""kchip.chiplet.model and .standards: reading system files, and errors that name file, entry, reason."""

import copy
import math
import re

import pytest
import yaml

from kchip.chiplet import REFERENCE_SYSTEM
from kchip.chiplet.model import SystemInputError, load_system, system_from_dict
from kchip.chiplet.standards import load_library

REFERENCE = yaml.safe_load(REFERENCE_SYSTEM.read_text())

TINY_TOML = """
system = "two dies"
[[dies]]
name = "ap"
role = "ap"
package = "organic-substrate"
width_mm = 5
height_mm = 4
interfaces = [{ name = "d2d", standard = "ucie-standard", module_width = 16, rate_gtps = 16, bump_pitch_um = 110, edge = "east" }]
[[dies]]
name = "io"
role = "io"
package = "organic-substrate"
width_mm = 3
height_mm = 3
interfaces = [{ name = "d2d", standard = "ucie-standard", module_width = 8, rate_gtps = 32, bump_pitch_um = 110, edge = "west" }]
[[links]]
name = "ap-io"
ends = ["ap.d2d", "io.d2d"]
[[demands]]
from = "io"
to = "ap"
gbyte_per_s = 10
"""


def test_reference_system_loads_with_its_dies_links_and_demands():
    system = load_system(REFERENCE_SYSTEM)
    assert system.ap == "ap"
    assert {d.role for d in system.dies.values()} == {"ap", "npu", "memory", "io"}
    assert len(system.links) == len(REFERENCE["links"])
    assert len(system.demands) == len(REFERENCE["demands"])
    assert system.dies["pim0"].forwards is False and system.dies["npu0"].forwards is True
    assert system.dies["npu0"].rtl.design == "npu_core"


def test_toml_system_and_link_running_at_the_lower_width_and_rate(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML)
    system = load_system(path)
    link = system.links[0]
    assert (link.lanes, link.rate_gtps) == (8, 16)
    assert link.capacity_gbyte_s == pytest.approx(8 * 16 / 8)
    assert system.demands[0].name == "io->ap"


def test_library_cites_a_source_for_every_standard_and_package():
    library = load_library()
    assert {"ucie-standard", "ucie-advanced", "bow", "aib", "hbm3"} <= set(library.standards)
    for item in [*library.standards.values(), *library.packages.values()]:
        assert item.source in library.sources
    for key, words in (("ucie", "UCIe"), ("bow", "Bunch of Wires"), ("aib", "AIB"), ("hbm3", "JESD238")):
        assert words in library.sources[key]


def test_standard_energy_bands_and_footprint_scaling():
    ucie = load_library().standards["ucie-advanced"]
    assert ucie.energy_at(16) == 0.25 and ucie.energy_at(24) == 0.3
    width, area = ucie.footprint(1, 64, ucie.reference_pitch_um)
    assert (width, area) == (ucie.module_shoreline_mm, ucie.module_area_mm2)
    half_width, quarter_area = ucie.footprint(1, 32, ucie.reference_pitch_um / 2)
    assert math.isclose(half_width, width / 4) and math.isclose(quarter_area, area / 8)


def test_footprint_of_a_huge_pitch_overflows_to_inf_instead_of_raising():
    ucie = load_library().standards["ucie-advanced"]
    width, area = ucie.footprint(1, 64, 1e300)
    assert width == pytest.approx(1e300 / ucie.reference_pitch_um * ucie.module_shoreline_mm)
    assert area == math.inf


def _error(data) -> str:
    with pytest.raises(SystemInputError) as caught:
        system_from_dict(data, file="kap.yaml")
    return str(caught.value)


def test_dangling_link_names_file_entry_and_known_dies():
    data = copy.deepcopy(REFERENCE)
    data["links"][2]["ends"][1] = "npu9.d2d_peer"
    message = _error(data)
    assert message.startswith("kap.yaml: links[2] (npu0-npu1):")
    assert "'npu9'" in message and "not declared" in message and "npu1" in message


def test_unknown_interface_lists_the_die_s_interfaces():
    data = copy.deepcopy(REFERENCE)
    data["links"][0]["ends"][0] = "ap.d2d_gpu"
    message = _error(data)
    assert "links[0] (ap-npu0)" in message and "'d2d_gpu'" in message
    assert "d2d_npu0" in message and "hbm" in message


def test_negative_bandwidth_is_rejected_with_the_value():
    data = copy.deepcopy(REFERENCE)
    data["demands"][3]["gbyte_per_s"] = -5
    message = _error(data)
    assert "demands[3] (npu1-results)" in message and "'gbyte_per_s' = -5" in message
    assert "above 0" in message


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["dies"][1]["interfaces"][0].update(standard="ucie3"), "not a known link standard"),
    (lambda d: d["dies"][0].update(colour="red"), "unknown key 'colour'"),
    (lambda d: d["dies"][0].update(package="glass"), "not a known package type"),
    (lambda d: d["dies"][0].update(area_mm2=50), "disagrees with width_mm x height_mm"),
    (lambda d: d["dies"][2]["interfaces"][0].update(edge="up"), "north | east | south | west"),
    (lambda d: d["links"][1]["ends"].__setitem__(0, "ap.d2d_npu0"), "already used by link 'ap-npu0'"),
    (lambda d: d["demands"][0].update(to="gpu"), "'to' = 'gpu' is not a declared die"),
    (lambda d: d["demands"][0].update(route=["ap-io"]), "not a link leaving die 'pim0'"),
    (lambda d: d["dies"][1]["rtl"].pop("design"), "exactly one of 'design'"),
])
def test_structural_mistakes_name_the_entry_and_reason(mutate, expected):
    data = copy.deepcopy(REFERENCE)
    mutate(data)
    message = _error(data)
    assert message.startswith("kap.yaml: ") and expected in message


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(SystemInputError, match="cannot read"):
        load_system(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.toml"
    bad.write_text("dies = [")
    with pytest.raises(SystemInputError, match="bad.toml: not valid TOML"):
        load_system(bad)
    other = tmp_path / "system.json"
    other.write_text("{}")
    with pytest.raises(SystemInputError, match="unknown file type"):
        load_system(other)


def _reference_text_with(tmp_path, old: str, new: str, name: str = "kap.yaml"):
    """The reference YAML with the first ``old`` replaced by ``new``, written to ``tmp_path``."""
    text = REFERENCE_SYSTEM.read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old, new, where, shown, allowed", [
    ("gbyte_per_s: 60", "gbyte_per_s: .inf", "demands[2] (npu0-results): key 'gbyte_per_s'", "inf",
     "GB/s above 0"),
    ("gbyte_per_s: 60", "gbyte_per_s: .nan", "demands[2] (npu0-results): key 'gbyte_per_s'", "nan",
     "GB/s above 0"),
    ("rate_gtps: 32", "rate_gtps: .inf", "dies[0] (ap) interfaces[0] (ap.d2d_npu0): key 'rate_gtps'",
     "inf", "GT/s above 0"),
    ("width_mm: 10", "width_mm: .NaN", "dies[0] (ap): key 'width_mm'", "nan", "millimetres above 0"),
    ("power_w: 15", "power_w: .inf", "dies[0] (ap): key 'power_w'", "inf", "watts, 0 or more"),
    ("latency_budget_ns: 20", "latency_budget_ns: -.inf",
     "demands[0] (npu0-weights): key 'latency_budget_ns'", "-inf", "ns above 0"),
    ("interconnect_power_budget_w: 10", "interconnect_power_budget_w: .inf",
     "top level: key 'interconnect_power_budget_w'", "inf", "watts, 0 or more"),
])
def test_non_finite_numbers_are_rejected_naming_file_field_value_and_what_is_valid(
        tmp_path, old, new, where, shown, allowed):
    path = _reference_text_with(tmp_path, old, new)
    with pytest.raises(SystemInputError) as caught:
        load_system(path)
    assert str(caught.value) == (f"{path}: {where} = {shown} is not a finite number; expected a "
                                 f"finite number: {allowed}")


def test_non_finite_numbers_are_rejected_from_toml_and_plain_data(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML.replace("gbyte_per_s = 10", "gbyte_per_s = inf"))
    with pytest.raises(SystemInputError, match=r"demands\[0\] \(io->ap\): key 'gbyte_per_s' = inf is "
                                               r"not a finite number"):
        load_system(path)
    data = copy.deepcopy(REFERENCE)
    data["links"][1]["length_mm"] = math.nan
    assert "links[1] (ap-npu1): key 'length_mm' = nan is not a finite number" in _error(data)
    data = copy.deepcopy(REFERENCE)
    data["dies"][0]["power_w"] = 10 ** 400
    assert "dies[0] (ap): key 'power_w' = 1000" in _error(data)


def test_yaml_numbers_in_exponent_form_are_numbers(tmp_path):
    path = _reference_text_with(tmp_path, "gbyte_per_s: 60", "gbyte_per_s: 2e3")
    path.write_text(path.read_text().replace("latency_budget_ns: 20", "latency_budget_ns: 1e300", 1)
                    .replace("length_mm: 1.5", "length_mm: 15E-1", 1))
    system = load_system(path)
    assert system.demands[2].gbyte_per_s == 2000.0
    assert system.demands[0].latency_budget_ns == 1e300
    assert system.links[0].length_mm == 1.5
    assert system.dies["ap"].interfaces["hbm"].modules == 16, "plain integers stay integers"


@pytest.mark.parametrize("text, shown", [("fast", "'fast'"), ("inf", "'inf'"), ("nan", "'nan'"),
                                         ("yes", "True"), ("'2e3'", "'2e3'"), ("1e", "'1e'")])
def test_words_booleans_and_quoted_numbers_are_still_not_numbers(tmp_path, text, shown):
    path = _reference_text_with(tmp_path, "gbyte_per_s: 60", f"gbyte_per_s: {text}")
    with pytest.raises(SystemInputError, match=rf"key 'gbyte_per_s' = {re.escape(shown)} has the wrong "
                                               rf"type; expected GB/s above 0"):
        load_system(path)
