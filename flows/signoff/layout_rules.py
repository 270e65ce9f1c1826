"""Geometric checks with KLayout's Python module for SKY130 rules magic may leave unchecked.

These are the rules magic evaluates through generated CIF layers (see :mod:`.magic_tech`); each is
rebuilt here from Region operations on the GDS drawing layers, whose numbers come from the PDK's
KLayout layer-properties file (``nwell.drawing - 64/20``, ...). Implemented:

- ``LU.2`` / ``LU.3`` (latch-up): every N-diffusion outside n-well lies within 15 um of a contacted
  P-tap, every P-diffusion within 15 um of a contacted N-tap in its n-well. As magic does, the tap's
  reach grows in steps no wider than the n-well width/spacing, so it never crosses a well boundary.
- ``nwell.4``: every n-well holds a contacted (li1-connected) N-tap.
- ``licon.16``: every tap is contacted.
- ``met1.7`` / ``met2.7``: no hole in metal1/metal2 smaller than 0.14 um2.
- ``met1.3a`` / ``met2.3a`` / ``met3.3c`` / ``met4.5a``: features within the halo of metal wider
  than 3 um keep the wide-metal spacing (0.28 um on met1/met2, 0.40 um on met3/met4).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import klayout.db as kdb

LATCHUP_DISTANCE_UM = 15.0
TAP_CONTACT_HALF_UM = 0.085
NWELL_MIN_WIDTH_UM = 0.84
NWELL_MIN_SPACE_UM = 1.27
HOLE_MIN_AREA_UM2 = 0.14
WIDE_METAL_UM = 3.0


@dataclass(frozen=True)
class Violation:
    """One place where a rule fails; ``box`` is (x1, y1, x2, y2) in microns."""

    rule: str
    description: str
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class LayoutRuleResult:
    """Violations of the rules checked here, and the requested rules no check exists for."""

    violations: tuple[Violation, ...]
    checked: tuple[str, ...]
    unchecked: tuple[str, ...]

    @property
    def errors_by_rule(self) -> dict[str, int]:
        """Violation count per rule id, for every rule checked (0 when clean)."""
        counts = Counter(v.rule for v in self.violations)
        return {rule: counts.get(rule, 0) for rule in self.checked}

    @property
    def total(self) -> int:
        return len(self.violations)


def layer_numbers(lyp: Path) -> dict[str, tuple[int, int]]:
    """``{"nwell": (64, 20), ...}``: the drawing layers named in a KLayout ``.lyp`` file."""
    layers = {}
    for props in ElementTree.parse(lyp).getroot().iter("properties"):
        name, source = props.findtext("name") or "", props.findtext("source") or ""
        if ".drawing" in name and "/" in source:
            layer, datatype = source.split("@")[0].split("/")
            layers.setdefault(name.split(".drawing")[0].strip(), (int(layer), int(datatype)))
    return layers


class _Shapes:
    """Flattened, merged drawing layers of one top cell, fetched on first use."""

    def __init__(self, layout: kdb.Layout, top: kdb.Cell, numbers: dict[str, tuple[int, int]]):
        self.layout, self.top, self.numbers = layout, top, numbers
        self._cache: dict[str, kdb.Region] = {}

    def um(self, value: float) -> int:
        return round(value / self.layout.dbu)

    def __getitem__(self, name: str) -> kdb.Region:
        if name not in self._cache:
            if name not in self.numbers:
                raise KeyError(f"layer {name!r} is not in the layer-properties file; "
                               f"known layers: {', '.join(sorted(self.numbers))}")
            index = self.layout.find_layer(*self.numbers[name])
            region = kdb.Region() if index is None else kdb.Region(self.top.begin_shapes_rec(index))
            self._cache[name] = region.merged()
        return self._cache[name]

    def tap_contacts(self) -> kdb.Region:
        """Tap-diffusion contacts covered by li1 (connected to metal)."""
        return self["licon1"] & self["tap"] & self["li1"]

    def grow_within(self, seed: kdb.Region, distance_um: float, step_um: float,
                    limit: Callable[[kdb.Region], kdb.Region]) -> kdb.Region:
        """``seed`` grown by ``distance_um`` in steps of at most ``step_um``, clipped by ``limit``."""
        reach, left = seed, distance_um
        while left > 1e-9:
            step = min(step_um, left)
            reach = limit(reach.sized(self.um(step)))
            left -= step
        return reach


def _latchup_ndiff(s: _Shapes) -> kdb.Region:
    wells = s["nwell"] | s["dnwell"]
    ptaps = (s.tap_contacts() & s["psdm"]) - wells
    reach = s.grow_within(ptaps, LATCHUP_DISTANCE_UM - TAP_CONTACT_HALF_UM, NWELL_MIN_WIDTH_UM,
                          lambda region: region - wells)
    return (s["diff"] & s["nsdm"]) - s["dnwell"] - reach


def _latchup_pdiff(s: _Shapes) -> kdb.Region:
    ntaps = s.tap_contacts() & s["nsdm"] & s["nwell"]
    reach = s.grow_within(ntaps, LATCHUP_DISTANCE_UM - TAP_CONTACT_HALF_UM, NWELL_MIN_SPACE_UM,
                          lambda region: region & s["nwell"])
    return (s["diff"] & s["psdm"] & s["nwell"]) - reach


def _nwell_without_tap(s: _Shapes) -> kdb.Region:
    return s["nwell"].not_interacting(s.tap_contacts() & s["nsdm"])


def _tap_without_contact(s: _Shapes) -> kdb.Region:
    return s["tap"].not_interacting(s["licon1"])


def _small_holes(metal: str) -> Callable[[_Shapes], kdb.Region]:
    def check(s: _Shapes) -> kdb.Region:
        limit = round(HOLE_MIN_AREA_UM2 / s.layout.dbu ** 2)
        return s[metal].holes().with_area(0, limit, False)
    return check


def _wide_metal_halo(metal: str, space_um: float) -> Callable[[_Shapes], kdb.EdgePairs]:
    def check(s: _Shapes) -> kdb.EdgePairs:
        half = s.um(WIDE_METAL_UM / 2)
        wide = s[metal].sized(-half).sized(half)
        halo = (wide.sized(s.um(space_um)) - wide) & s[metal]
        return halo.space_check(s.um(space_um))
    return check


CHECKS: dict[str, tuple[str, Callable[[_Shapes], kdb.Region | kdb.EdgePairs]]] = {
    "LU.2": ("N-diff distance to P-tap must be < 15.0um", _latchup_ndiff),
    "LU.3": ("P-diff distance to N-tap must be < 15.0um", _latchup_pdiff),
    "nwell.4": ("All nwells must contain metal-connected N+ taps", _nwell_without_tap),
    "licon.16": ("All taps must be contacted", _tap_without_contact),
    "met1.7": ("Min area of metal1 holes > 0.14um^2", _small_holes("met1")),
    "met2.7": ("Min area of metal2 holes > 0.14um^2", _small_holes("met2")),
    "met1.3a": ("Spacing of met1 within 0.28um of metal1 wider than 3um < 0.28um",
                _wide_metal_halo("met1", 0.28)),
    "met2.3a": ("Spacing of met2 within 0.28um of metal2 wider than 3um < 0.28um",
                _wide_metal_halo("met2", 0.28)),
    "met3.3c": ("Spacing of met3 within 0.40um of metal3 wider than 3um < 0.40um",
                _wide_metal_halo("met3", 0.40)),
    "met4.5a": ("Spacing of met4 within 0.40um of metal4 wider than 3um < 0.40um",
                _wide_metal_halo("met4", 0.40)),
}


def _boxes(found: kdb.Region | kdb.EdgePairs, dbu: float) -> list[tuple[float, float, float, float]]:
    items = found.each() if isinstance(found, kdb.EdgePairs) else found.each_merged()
    return [(round(b.left * dbu, 4), round(b.bottom * dbu, 4), round(b.right * dbu, 4),
             round(b.top * dbu, 4)) for b in (item.bbox() for item in items)]


def check_layout_rules(gds: Path, top: str, pdk, rules: Iterable[str] | None = None) -> LayoutRuleResult:
    """Check ``top`` in ``gds`` for ``rules`` (rule ids; all of :data:`CHECKS` when None).

    Requested rules without a check here come back in :attr:`LayoutRuleResult.unchecked`.
    """
    gds = Path(gds)
    if not gds.is_file():
        raise FileNotFoundError(f"GDS {str(gds)!r} does not exist")
    wanted = list(dict.fromkeys(CHECKS if rules is None else rules))
    layout = kdb.Layout()
    layout.read(str(gds))
    cell = layout.cell(top)
    if cell is None:
        raise ValueError(f"cell {top!r} is not in {str(gds)!r}; top cells there: "
                         f"{', '.join(c.name for c in layout.top_cells())}")
    shapes = _Shapes(layout, cell, layer_numbers(pdk.klayout_lyp))
    violations, checked = [], []
    for rule in wanted:
        if rule not in CHECKS:
            continue
        description, check = CHECKS[rule]
        checked.append(rule)
        violations += [Violation(rule, description, box) for box in _boxes(check(shapes), layout.dbu)]
    unchecked = tuple(rule for rule in wanted if rule not in CHECKS)
    return LayoutRuleResult(tuple(violations), tuple(checked), unchecked)
