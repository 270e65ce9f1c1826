"""Geometric checks with KLayout's Python module for the rules magic may leave unchecked.

These are the rules magic evaluates through generated CIF layers (see :mod:`.magic_tech`); each is
rebuilt here from Region operations on the GDS drawing layers, whose numbers come from the PDK's
KLayout layer-properties file (``nwell.drawing - 64/20``, ...). Which rules, their values and the
drawing layers each role stands for come from the descriptor's ``[layout_rules]`` table (for SKY130
the values of ``sky130A.tech``). The kinds of check (``check = ...``):

- ``latchup_ndiff`` / ``latchup_pdiff``: every N-diffusion outside n-well lies within the latch-up
  distance of a contacted P-tap, every P-diffusion within it of a contacted N-tap in its n-well. As
  magic does, the tap's reach grows in steps no wider than the n-well width/spacing, so it never
  crosses a well boundary.
- ``nwell_tap``: every n-well holds a contacted (local-interconnect-connected) N-tap.
- ``tap_contact``: every tap is contacted.
- ``hole``: no hole in ``layer`` smaller than ``area_um2``.
- ``absent``: the rule concerns only ``layers`` (a device, pad, seal or fill layer the flow never
  draws): any shape on them is reported, since that rule is not checked here. A layer is named as in
  the layer-properties file, ``Metal1`` for its drawing purpose or ``Metal1.filler`` for another.
- ``manhattan``: every polygon on ``layers`` has only horizontal and vertical edges (stricter than a
  minimum width for 45-degree segments, which then cannot occur).
- ``space`` / ``separation`` / ``enclosure``: ``layer`` keeps ``space_um`` from itself / from ``from``, or is
  enclosed by ``by`` with ``enclosure_um`` (KLayout's space, separation and enclosing checks).
- ``max_width``: no part of ``layer`` wider than ``width_um`` in every direction (``corners`` as sized).
- ``min_area``: no polygon of ``layer`` smaller than ``area_um2``.
- ``reach``: every polygon of ``targets`` touches ``ties`` grown by ``distance_um`` in steps of
  ``step_um`` (``corners``; clipped to ``inside`` after each step when given), as IHP's latch-up rules;
  with ``report = "portions"`` every part of ``targets`` out of that reach is reported.
- ``far_from_contact``: parts of ``ties`` farther than ``distance_um`` from ``contacts`` inside ``within``
  (IHP's LU.c / LU.d), see :func:`_far_from_contact`.
- ``narrow_everywhere``: polygons of ``layer`` narrower than ``width_um`` wherever measured (pSD.e);
  ``shallow_abutment``: polygons of ``layer`` reaching less than ``depth_um`` into ``extent`` from their
  edges shared with ``against`` (pSD.f).
- ``wide_metal``: features within the halo of ``layer`` wider than ``wide_um`` keep ``space_um``. With
  ``run_um`` the rule is a spacing one with a parallel-run condition instead (IHP's M1.e / Mn.e): ``layer``
  keeps ``space_um`` from its parts wider than ``wide_um`` wherever the two edges run in parallel over
  more than ``run_um`` (KLayout's ``separation`` with a minimum projection of ``run_um`` plus one
  database unit, as the PDK's own deck writes it).

A layer a rule names may be a role (``layers``), a layer of the layer-properties file, ``extent``, or a
layer the descriptor derives in ``[layout_rules.derived]`` (see :mod:`.layer_expr`), so a PDK's deck
derivations (``nactiv = "Activ - (pSD | nSD.block)"``) are data, not code.

A rule may also name the PDK's magic rule it stands for: the descriptor's ``[layout_rules]``
``instead_of_magic`` lists rule ids that magic is not to check at all (they are left out of its tech
file, see :func:`magic_replaced`) and that KLayout always checks here, for the reason given in
``instead_of_magic_reason``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import klayout.db as kdb

from kchip.flows.signoff import layer_expr
from kchip.pdk import PdkError
from kchip.pdk.rules import load_rules

#: KLayout's sizing modes by the name its DRC language gives them (``octagon_limit``, ...)
CORNERS = {"diamond": 0, "octagon": 1, "square": 2, "acute": 3}
#: the distance metrics of KLayout's checks
METRICS = {"euclidian": kdb.Metrics.Euclidian, "projection": kdb.Metrics.Projection}
#: an upper distance bound no check reaches (KLayout's Python API needs a number, not None)
_FAR = 2 ** 31 - 1


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
    """``{"nwell": (64, 20), "nwell.drawing": (64, 20), ...}``: the layers named in a KLayout ``.lyp``
    file, each by its full name and its drawing purpose also by the bare layer name."""
    layers = {}
    for props in ElementTree.parse(lyp).getroot().iter("properties"):
        name, source = props.findtext("name") or "", props.findtext("source") or ""
        if "/" in source and "." in name:
            layer, datatype = source.split("@")[0].split("/")
            numbers = (int(layer), int(datatype))
            layers.setdefault(name.split(" - ")[0].strip(), numbers)
            if ".drawing" in name:
                layers.setdefault(name.split(".drawing")[0].strip(), numbers)
    return layers


class _Shapes:
    """Flattened, merged drawing layers of one top cell, fetched on first use by name or by the
    role the descriptor gives a layer (``roles``)."""

    def __init__(self, layout: kdb.Layout, top: kdb.Cell, numbers: dict[str, tuple[int, int]],
                 roles: dict[str, str], derived: dict[str, layer_expr.Node] | None = None):
        self.layout, self.top, self.numbers, self.roles = layout, top, numbers, roles
        self.derived = derived or {}
        self._cache: dict[str, kdb.Region] = {}
        self._deriving: set[str] = set()

    def um(self, value: float) -> int:
        return round(value / self.layout.dbu)

    def __getitem__(self, name: str) -> kdb.Region:
        """The merged region of a role, a derived layer, ``extent``, a layer-properties name or an
        expression over them (:mod:`.layer_expr`)."""
        name = self.roles.get(name, name)
        if name not in self._cache:
            self._cache[name] = self._region(name).merged()
        return self._cache[name]

    def _region(self, name: str) -> kdb.Region:
        if name in self.derived:
            if name in self._deriving:
                raise ValueError(f"derived layer {name!r} is defined through itself")
            self._deriving.add(name)
            try:
                return layer_expr.evaluate(self.derived[name], self.__getitem__)
            finally:
                self._deriving.discard(name)
        if name == "extent":
            return kdb.Region(self.top.bbox())
        if name in self.numbers:
            index = self.layout.find_layer(*self.numbers[name])
            return kdb.Region() if index is None else kdb.Region(self.top.begin_shapes_rec(index))
        node = layer_expr.parse(name)
        if isinstance(node, layer_expr.Name):
            raise KeyError(f"layer {name!r} is neither derived ({', '.join(sorted(self.derived)) or 'none'}) "
                           f"nor named in the layer-properties file")
        return layer_expr.evaluate(node, self.__getitem__)

    def tap_contacts(self) -> kdb.Region:
        """Tap-diffusion contacts covered by local interconnect (connected to metal)."""
        return self["contact"] & self["tap"] & self["local_interconnect"]

    def grow_within(self, seed: kdb.Region, distance_um: float, step_um: float,
                    limit: Callable[[kdb.Region], kdb.Region], corners: str = "square") -> kdb.Region:
        """``seed`` grown by ``distance_um`` in steps of at most ``step_um``, clipped by ``limit``
        after each; ``corners`` as KLayout sizes them (:data:`CORNERS`)."""
        reach, left = seed, distance_um
        while left > 1e-9:
            step = min(step_um, left)
            reach = limit(reach.sized(self.um(step), CORNERS[corners]))
            left -= step
        return reach


Check = Callable[[_Shapes], kdb.Region | kdb.EdgePairs]


def _latchup_ndiff(latchup: dict) -> Check:
    def check(s: _Shapes) -> kdb.Region:
        wells = s["n_well"] | s["deep_n_well"]
        ptaps = (s.tap_contacts() & s["p_implant"]) - wells
        reach = s.grow_within(ptaps, latchup["distance_um"] - latchup["contact_half_um"],
                              latchup["nwell_min_width_um"], lambda region: region - wells)
        return (s["diffusion"] & s["n_implant"]) - s["deep_n_well"] - reach
    return check


def _latchup_pdiff(latchup: dict) -> Check:
    def check(s: _Shapes) -> kdb.Region:
        ntaps = s.tap_contacts() & s["n_implant"] & s["n_well"]
        reach = s.grow_within(ntaps, latchup["distance_um"] - latchup["contact_half_um"],
                              latchup["nwell_min_space_um"], lambda region: region & s["n_well"])
        return (s["diffusion"] & s["p_implant"] & s["n_well"]) - reach
    return check


def _nwell_without_tap(_: dict) -> Check:
    return lambda s: s["n_well"].not_interacting(s.tap_contacts() & s["n_implant"])


def _tap_without_contact(_: dict) -> Check:
    return lambda s: s["tap"].not_interacting(s["contact"])


def _small_holes(rule: dict) -> Check:
    def check(s: _Shapes) -> kdb.Region:
        limit = round(rule["area_um2"] / s.layout.dbu ** 2)
        return s[rule["layer"]].holes().with_area(0, limit, False)
    return check


def _on_layers(rule: dict, pick: Callable[[kdb.Region], kdb.Region]) -> Check:
    """The union over the rule's ``layers`` of what ``pick`` finds on each."""
    def check(s: _Shapes) -> kdb.Region:
        found = kdb.Region()
        for layer in rule["layers"]:
            found += pick(s[layer])
        return found
    return check


def _layers_present(rule: dict) -> Check:
    return _on_layers(rule, lambda region: region)


def _not_manhattan(rule: dict) -> Check:
    return _on_layers(rule, kdb.Region.non_rectilinear)


def _wide_metal_halo(rule: dict) -> Check:
    def check(s: _Shapes) -> kdb.EdgePairs:
        half = s.um(rule["wide_um"] / 2)
        wide = s[rule["layer"]].sized(-half).sized(half)
        if "run_um" in rule:  # parallel run over run_um: the minimum projection is one unit more
            return s[rule["layer"]].separation_check(wide, s.um(rule["space_um"]),
                                                     min_projection=s.um(rule["run_um"]) + 1)
        halo = (wide.sized(s.um(rule["space_um"])) - wide) & s[rule["layer"]]
        return halo.space_check(s.um(rule["space_um"]))
    return check


def _out_of_reach(rule: dict) -> Check:
    def check(s: _Shapes) -> kdb.Region:
        inside = rule.get("inside")
        limit = (lambda region: region & s[inside]) if inside else (lambda region: region)
        reach = s.grow_within(s[rule["ties"]], rule["distance_um"], rule["step_um"], limit,
                              rule.get("corners", "square"))
        targets = s[rule["targets"]]
        return targets - reach if rule.get("report") == "portions" else targets.not_interacting(reach)
    return check


def _far_from_contact(rule: dict) -> Check:
    """Parts of ``ties`` beyond ``distance_um`` of ``contacts``, the reach grown inside ``within``
    (only its polygons near a tie: a path out of reach of every tie cannot matter), reported where
    they border that reach, unless they touch ``exempt`` (IHP's LU.c / LU.d: a tie far from every
    contact is not reported, as in its deck)."""
    def check(s: _Shapes) -> kdb.Region:
        ties = s[rule["ties"]]
        within = s[rule["within"]].interacting(ties.sized(s.um(rule["distance_um"]) + 1))
        exempt = s[rule["exempt"]] if "exempt" in rule else kdb.Region()
        reach = s.grow_within(s[rule["contacts"]] & within, rule["distance_um"], rule["step_um"],
                              lambda region: region & within, rule.get("corners", "square"))
        reach = reach.not_interacting(exempt)
        far = ties - reach - (s[rule["minus"]] if "minus" in rule else kdb.Region())
        return far.interacting(far.edges() & reach.edges()).not_interacting(exempt)
    return check


def _narrow_everywhere(rule: dict) -> Check:
    """Polygons of ``layer`` narrower than ``width_um`` (projection) wherever they are measured."""
    def check(s: _Shapes) -> kdb.Region:
        layer = s[rule["layer"]]
        narrow = layer.width_check(s.um(rule["width_um"]), False, kdb.Metrics.Projection)
        narrow = narrow.with_distance(1, _FAR, False).polygons().merged()
        return narrow.covering(layer.inside(narrow))
    return check


def _shallow_abutment(rule: dict) -> Check:
    """Polygons of ``layer`` that reach less than ``depth_um`` (projection) into ``extent`` from every
    edge they share with ``against`` (IHP's pSD.f: an abutted tie too shallow everywhere)."""
    def check(s: _Shapes) -> kdb.Region:
        layer = s[rule["layer"]]
        shared = layer.edges() & s[rule["against"]].edges()
        shallow = shared.overlap_check(s[rule["extent"]].edges(), s.um(rule["depth_um"]), False,
                                       kdb.Metrics.Projection)
        shallow = shallow.with_distance(1, _FAR, False).polygons().merged()
        return layer.outside(layer - shallow)
    return check


def _space(rule: dict) -> Check:
    return lambda s: s[rule["layer"]].space_check(s.um(rule["space_um"]))


def _separation(rule: dict) -> Check:
    return lambda s: s[rule["layer"]].separation_check(s[rule["from"]], s.um(rule["space_um"]))


def _enclosure(rule: dict) -> Check:
    metric = METRICS[rule.get("metric", "euclidian")]
    return lambda s: s[rule["by"]].enclosing_check(s[rule["layer"]], s.um(rule["enclosure_um"]), False, metric)


def _too_wide(rule: dict) -> Check:
    def check(s: _Shapes) -> kdb.Region:
        half, corners = s.um(rule["width_um"] / 2), CORNERS[rule.get("corners", "square")]
        return s[rule["layer"]].sized(-half, corners).sized(half, corners)
    return check


def _too_small(rule: dict) -> Check:
    return lambda s: s[rule["layer"]].with_area(0, round(rule["area_um2"] / s.layout.dbu ** 2), False)


#: the kinds of check, each made from its rule's entry (latch-up ones from the latch-up table)
KINDS: dict[str, tuple[Callable[[dict], Check], bool]] = {
    "latchup_ndiff": (_latchup_ndiff, True), "latchup_pdiff": (_latchup_pdiff, True),
    "nwell_tap": (_nwell_without_tap, False), "tap_contact": (_tap_without_contact, False),
    "hole": (_small_holes, False), "wide_metal": (_wide_metal_halo, False),
    "absent": (_layers_present, False), "manhattan": (_not_manhattan, False),
    "reach": (_out_of_reach, False), "space": (_space, False), "separation": (_separation, False),
    "enclosure": (_enclosure, False), "max_width": (_too_wide, False), "min_area": (_too_small, False),
    "far_from_contact": (_far_from_contact, False), "narrow_everywhere": (_narrow_everywhere, False),
    "shallow_abutment": (_shallow_abutment, False),
}


def derived_layers(table: dict, descriptor: Path) -> dict[str, layer_expr.Node]:
    """The parsed ``derived`` expressions of a ``[layout_rules]`` table, by layer name; a bad one is
    a :class:`PdkError` naming the ``descriptor`` file and the key."""
    derived = {}
    for name, text in table.get("derived", {}).items():
        try:
            derived[name] = layer_expr.parse(str(text))
        except layer_expr.LayerExprError as error:
            raise PdkError(f"{descriptor}: layout_rules.derived.{name}: {error}") from None
    return derived


def rule_checks(pdk) -> dict[str, list[tuple[str, Check]]]:
    """``{rule id: [(description, check), ...]}`` for the rules of the descriptor's ``[layout_rules]``
    (entries sharing an id, as IHP's LU.c and LU.c1 share magic's ``LU.c, LU.c1``, are checked
    together); an unknown kind is a :class:`PdkError` (a derived layer that does not parse is one
    when :func:`check_layout_rules` reads them)."""
    process = load_rules(pdk)
    table = process.layout_rules
    checks = {}
    for k, rule in enumerate(table.get("rules", [])):
        kind = rule.get("check")
        if kind not in KINDS:
            raise PdkError(f"{process.descriptor}: layout_rules.rules[{k}].check: {kind!r} is not valid; "
                           f"valid: {', '.join(KINDS)}")
        make, uses_latchup = KINDS[kind]
        checks.setdefault(rule["id"], []).append((rule["description"],
                                                  make(table["latchup"] if uses_latchup else rule)))
    return checks


def magic_replaced(pdk) -> dict[str, str]:
    """``{rule id: reason}``: the rules of ``[layout_rules]`` that KLayout checks instead of magic
    (``instead_of_magic``, each a rule of the table; ``instead_of_magic_reason`` says why)."""
    process = load_rules(pdk)
    table = process.layout_rules
    ids = table.get("instead_of_magic", [])
    if not ids:
        return {}
    known = {rule.get("id") for rule in table.get("rules", [])}
    unknown = [rule for rule in ids if rule not in known]
    if unknown:
        raise PdkError(f"{process.descriptor}: layout_rules.instead_of_magic: {', '.join(unknown)} "
                       f"not among layout_rules.rules")
    reason = str(table.get("instead_of_magic_reason", "")).strip()
    if not reason:
        raise PdkError(f"{process.descriptor}: layout_rules.instead_of_magic_reason: empty; say why magic "
                       f"does not check {', '.join(ids)}")
    return {rule: reason for rule in ids}


def _boxes(found: kdb.Region | kdb.EdgePairs, dbu: float) -> list[tuple[float, float, float, float]]:
    items = found.each() if isinstance(found, kdb.EdgePairs) else found.each_merged()
    return [(round(b.left * dbu, 4), round(b.bottom * dbu, 4), round(b.right * dbu, 4),
             round(b.top * dbu, 4)) for b in (item.bbox() for item in items)]


def check_layout_rules(gds: Path, top: str, pdk, rules: Iterable[str] | None = None) -> LayoutRuleResult:
    """Check ``top`` in ``gds`` for ``rules`` (rule ids; all of :func:`rule_checks` when None).

    Requested rules without a check here come back in :attr:`LayoutRuleResult.unchecked`.
    """
    gds = Path(gds)
    if not gds.is_file():
        raise FileNotFoundError(f"GDS {str(gds)!r} does not exist")
    checks = rule_checks(pdk)
    wanted = list(dict.fromkeys(checks if rules is None else rules))
    layout = kdb.Layout()
    layout.read(str(gds))
    cell = layout.cell(top)
    if cell is None:
        raise ValueError(f"cell {top!r} is not in {str(gds)!r}; top cells there: "
                         f"{', '.join(c.name for c in layout.top_cells())}")
    process = load_rules(pdk)
    table = process.layout_rules
    shapes = _Shapes(layout, cell, layer_numbers(pdk.klayout_lyp), table.get("layers", {}),
                     derived_layers(table, process.descriptor))
    violations, checked = [], []
    for rule in wanted:
        if rule not in checks:
            continue
        checked.append(rule)
        for description, check in checks[rule]:
            violations += [Violation(rule, description, box) for box in _boxes(check(shapes), layout.dbu)]
    unchecked = tuple(rule for rule in wanted if rule not in checks)
    return LayoutRuleResult(tuple(violations), tuple(checked), unchecked)
