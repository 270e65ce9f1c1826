"""kchip.chiplet.model and .standards: reading system files, and errors that name file, entry, reason."""

import copy
import math

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
