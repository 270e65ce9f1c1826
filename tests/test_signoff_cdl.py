"""Tests for kchip.flows.signoff.cdl: the standard-cell CDL in magic's device form."""

import pytest

from kchip.flows.signoff.cdl import (Devices, finger_groups, read_subckts, rewrite_card, spice_number, stack_nets,
                                     subckt_cards, transistor_models, write_lvs_cdl)

# A two-input AOI in the PDK's CDL style: a 2-finger n-stack (inner net sndA1) under a 2-finger
# p-network whose inner net pndA joins three devices.
AOI = """\
.SUBCKT aoi A1 A2 B1 VGND VNB VPB VPWR Y
*.PININFO A1:I A2:I B1:I VGND:I VNB:I VPB:I VPWR:I Y:O
MMPA0 pndA A1 VPWR VPB pfet_01v8_hvt m=2 w=1.0 l=0.15 mult=1 sa=0.265
+ sb=0.265 sd=0.28 topography=normal area=0.063 perim=1.14
MMPA1 pndA A2 VPWR VPB pfet_01v8_hvt m=2 w=1.0 l=0.15
MMPB0 Y B1 pndA VPB pfet_01v8_hvt m=2 w=1.0 l=0.15
MMNA0 Y A1 sndA1 VNB nfet_01v8 m=2 w=650000u l=150000u
MMNA1 sndA1 A2 VGND VNB nfet_01v8 m=2 w=0.65 l=0.15
MMNB0 Y B1 VGND VNB nfet_01v8 m=2 w=0.65 l=0.15
.ENDS aoi
"""

#: SKY130's device naming, as pdk/sky130A.toml [lvs] gives it
DEVICES = Devices("sky130_fd_pr__", "sky130_fd_pr__res_generic_po")


def test_transistor_models_are_the_m_cards_models_with_the_prefix(tmp_path):
    cdl = tmp_path / "cells.cdl"
    cdl.write_text(AOI + ".SUBCKT tie A VSS\nR0 A VSS short\nDD0 VSS A dantenna\n.ENDS tie\n")
    assert transistor_models(cdl, DEVICES) == {"sky130_fd_pr__pfet_01v8_hvt", "sky130_fd_pr__nfet_01v8"}
    assert transistor_models(cdl, Devices("", "")) == {"pfet_01v8_hvt", "nfet_01v8"}


def test_spice_numbers():
    assert spice_number("0.65") == 0.65
    assert spice_number("650000u") == pytest.approx(0.65)
    assert spice_number("1.5meg") == 1.5e6
    assert spice_number("2e-3") == 0.002
    with pytest.raises(ValueError, match="'w1'"):
        spice_number("w1")


def test_transistor_becomes_subcircuit_with_fingers_folded():
    card = rewrite_card("MMN1 Y A VGND VNB nfet_01v8 m=3 w=0.42 l=0.15 mult=1 sa=0.265", DEVICES)
    assert card == "XMN1 Y A VGND VNB sky130_fd_pr__nfet_01v8 w=1.26 l=0.15"


def test_short_resistor_and_slash_instance():
    assert rewrite_card("rI12 VGND LO short", DEVICES) == "RI12 VGND LO sky130_fd_pr__res_generic_po"
    assert rewrite_card("XI1 a b / sky130_fd_sc_hd__inv_1", DEVICES) == "XI1 a b sky130_fd_sc_hd__inv_1"
    assert rewrite_card("* comment", DEVICES) == "* comment"


def test_fractional_multiplier_is_refused():
    with pytest.raises(ValueError, match="m=1.5"):
        rewrite_card("MMN1 Y A VGND VNB nfet_01v8 m=1.5 w=0.42 l=0.15", DEVICES)


def test_stack_nets_are_two_device_inner_nets(tmp_path):
    source = tmp_path / "aoi.cdl"
    source.write_text(AOI)
    header, body = read_subckts(source)["aoi"]
    assert len(body) == 6
    assert stack_nets(header, body) == {"sndA1": 2}


def test_finger_groups_are_the_partitions():
    assert finger_groups(1) == [(1,)]
    assert finger_groups(4) == [(4,), (3, 1), (2, 2), (2, 1, 1), (1, 1, 1, 1)]


def test_split_stack_gets_one_inner_net_per_finger(tmp_path):
    source = tmp_path / "aoi.cdl"
    source.write_text(AOI)
    header, body = read_subckts(source)["aoi"]
    cards = subckt_cards(body, DEVICES, split={"sndA1": (1, 1)})
    n_stack = [c for c in cards if "nfet" in c and (" A1 " in c or " A2 " in c)]
    assert sorted(n_stack) == [
        "XMNA0_f0 Y A1 sndA1_g0 VNB sky130_fd_pr__nfet_01v8 w=0.65 l=0.15",
        "XMNA0_f1 Y A1 sndA1_g1 VNB sky130_fd_pr__nfet_01v8 w=0.65 l=0.15",
        "XMNA1_f0 sndA1_g0 A2 VGND VNB sky130_fd_pr__nfet_01v8 w=0.65 l=0.15",
        "XMNA1_f1 sndA1_g1 A2 VGND VNB sky130_fd_pr__nfet_01v8 w=0.65 l=0.15",
    ]
    assert "XMPA0 pndA A1 VPWR VPB sky130_fd_pr__pfet_01v8_hvt w=2 l=0.15" in cards
    assert "XMNB0 Y B1 VGND VNB sky130_fd_pr__nfet_01v8 w=1.3 l=0.15" in cards


def test_fingers_fill_groups_in_order():
    body = ["MMA Y A n VNB nfet_01v8 m=4 w=0.5 l=0.15", "MMB n B VGND VNB nfet_01v8 m=4 w=0.5 l=0.15"]
    cards = subckt_cards(body, DEVICES, split={"n": (2, 1, 1)})
    assert [card.split()[3] for card in cards[:4]] == ["n_g0", "n_g0", "n_g1", "n_g2"]
    assert subckt_cards(body, DEVICES, split={"n": (4,)}) == [
        "XMA Y A n VNB sky130_fd_pr__nfet_01v8 w=2 l=0.15",
        "XMB n B VGND VNB sky130_fd_pr__nfet_01v8 w=2 l=0.15",
    ]


def test_write_lvs_cdl_split_and_replace(tmp_path):
    source = tmp_path / "cells.cdl"
    source.write_text(AOI + AOI.replace("aoi", "other"))
    out = write_lvs_cdl(source, tmp_path / "out.cdl", DEVICES, split={"aoi": {"sndA1": (1, 1)}},
                        replace={"other": ".subckt other A\n.ends\n"})
    text = out.read_text()
    assert text.count("sndA1_g1") == 2
    assert ".subckt other A\n.ends\n" in text
    assert "XMNA0 Y A1 sndA1" not in text
    assert not (tmp_path / "out.cdl.tmp").exists()
