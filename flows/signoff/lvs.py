"""Layout versus schematic: magic extracts the GDS, netgen compares it with the gate-level netlist.

The reference side is the synthesized Verilog plus the standard-cell CDL (rewritten by
:mod:`.cdl`). The layout has power pins on every cell (VPWR/VGND, and the wells VPB/VNB, which tap
cells tie to VPWR/VGND), the synthesized netlist has none; :func:`write_powered_netlist` adds them
(the cell's power pins to the design's VPWR/VGND ports, n-well to VPWR, p-well to VGND), which is
what a placed-and-routed layout with tap cells implements. Physical-only cells (taps, fill, decap)
have no counterpart in the netlist and are ignored by class in the generated netgen setup.
Antenna diode cells are kept: their reference subcircuit is empty, the diode device their layout
extracts is ignored (:func:`layout_only_models`), and netgen compares such empty cells as black boxes
by their pin names, so the net each diode sits on is still checked. A library whose CDL does hold its
antenna diodes (IHP's ``D`` cards) has them compared as devices, on the properties both netlists
state (:func:`card_properties`).

Extraction uses the descriptor's ``magic_extract_style`` (a CIF input style of the tech file:
the descriptor names it) so that the top cell's text labels become ports; a style that reads them
as plain text gets them made ports after reading (:func:`extraction_script`).
Transistors are the models of the CDL's ``M`` cards (:func:`.cdl.transistor_models`).

Multi-finger transistors: the CDL folds fingers into one wider device, which netgen matches with the
layout's parallel fingers, but some cell layouts draw a series stack once per finger (separate inner
nets, or one per group of fingers). Cells that fail netgen's cell-level comparison are tried with
the finger groupings of their stack nets (:func:`choose_stack_forms`); a cell that matches none is
compared by its extracted layout and reported in :attr:`LvsResult.unverified_cells`.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from kchip.flows.signoff.cdl import (Devices, finger_groups, read_subckts, stack_nets, subckt_text,
                                     transistor_models, write_lvs_cdl)
from kchip.flows.signoff.magic_tech import derive_magic_tech
from kchip.pdk.rules import load_rules
from kchip.tools import magic, netgen
from kchip.tools.base import Invocation

METRIC_UNITS = {"lvs__mismatch__count": "mismatches", "lvs__unverified_cells__count": "cells"}
MATCH_TEXT = "Circuits match uniquely."
MAX_STACK_VARIANTS = 256
#: netgen reads ``m`` as the number of devices a card stands for, not as a property to compare
MULTIPLIER = "m"


@dataclass(frozen=True)
class LvsResult:
    """netgen's verdict with the counts behind it and where the files are.

    ``unverified_cells`` are standard cells whose layout matches no form of their CDL netlist; the
    comparison used their extracted layout instead, so only their connections were checked. A
    match can therefore hide them: :meth:`metrics` counts them separately.
    """

    matched: bool
    result_text: str
    mismatches: int
    unverified_cells: tuple[str, ...]
    report: Path
    log: Path
    layout_netlist: Path
    reference_netlist: Path
    layout_only_models: tuple[str, ...] = ()

    def metrics(self) -> dict[str, int]:
        """Flat metrics (units in :data:`METRIC_UNITS`); the unverified cells are counted, not named."""
        return {"lvs__mismatch__count": self.mismatches,
                "lvs__unverified_cells__count": len(self.unverified_cells)}


def _write_atomic(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def subckt_pins(cdl: Path) -> dict[str, list[str]]:
    """``{subcircuit name: its pins in order}`` for every ``.SUBCKT`` in a CDL/SPICE file."""
    pins = {}
    for match in re.finditer(r"^\.subckt\s+(\S+)([^\n]*)", Path(cdl).read_text(), re.I | re.M):
        pins[match.group(1)] = [p for p in match.group(2).split() if "=" not in p]
    return pins


def write_powered_netlist(netlist_v: Path, dest: Path, top: str, cell_pins: dict[str, list[str]],
                          power: dict[str, str]) -> Path:
    """Copy a flat gate-level Verilog netlist with power connections added; return ``dest``.

    ``power`` maps a cell power pin to a design net (``{"VPWR": "VPWR", "VPB": "VPWR", ...}``);
    each instance of a cell in ``cell_pins`` gets those of its pins it lacks, and the design nets
    become ``inout`` ports of ``top`` unless it already has them. Other pins an instance leaves out
    are written as explicit no-connects (``.LO()``): netgen 1.5.133 misassigns the connections of
    an instance that names fewer pins than its cell has.
    """
    text = Path(netlist_v).read_text()
    header = re.search(rf"^\s*module\s+{re.escape(top)}\s*\((.*?)\)\s*;", text, re.M | re.S)
    if header is None:
        raise ValueError(f"{str(netlist_v)!r} has no 'module {top}(...);' header; is {top!r} the top module?")
    ports = [p.strip() for p in header.group(1).split(",") if p.strip()]
    if any(re.search(r"\s", port) for port in ports):
        raise ValueError(f"{str(netlist_v)!r}: module {top!r} declares its ports in the header "
                         f"({header.group(1).strip()[:60]!r}); expected a port-name list as yosys "
                         "write_verilog writes it")
    nets = [net for net in dict.fromkeys(power.values()) if net not in ports]

    def add_power(match: re.Match) -> str:
        cell, body = match.group(2), match.group(4)
        present = set(re.findall(r"\.\s*([A-Za-z_]\w*)\s*\(", body))
        extra = [f".{pin}({power.get(pin, '')})" for pin in cell_pins.get(cell, []) if pin not in present]
        if not extra:
            return match.group(0)
        joiner = ("," if body.startswith("\n") else ", ") if body.strip() else ""
        return f"{match.group(1)}{cell} {match.group(3)} ({', '.join(extra)}{joiner}{body});"

    instance = re.compile(r"^(\s*)(\S+)\s+(\S+)\s*\((.*?)\);", re.M | re.S)
    body = instance.sub(add_power, text[header.end():])
    declarations = "".join(f"\n  inout {net};" for net in nets)
    new_header = f"module {top}({', '.join(nets + ports)});{declarations}"
    return _write_atomic(dest, text[:header.start()] + new_header + body)


def extraction_script(gds: Path, top: str, spice: Path, style: str) -> str:
    """Magic Tcl: read the GDS in CIF input ``style`` (labels as ports), extract ``top`` and write
    an LVS netlist.

    When the style reads none of the top cell's labels as a port, all of them become ports: magic
    writes a top cell without ports as a bare "top level circuit" rather than ``.subckt top``, and
    netgen then has no cell named ``top`` to compare. (An input style may keep ports for labels on
    the pin purpose and read those on the text purpose, where the GDS writer puts the port names,
    as plain text.)
    """
    return "\n".join([
        "drc off",
        f"cif istyle {style}",
        *magic.gds_load_commands(gds, top),
        "if {[port first] < 0} {port makeall}",
        "extract no all",
        "extract all",
        "ext2spice lvs",
        f"ext2spice -o {magic.tcl_word(spice)}",
    ])


def netgen_setup(device_models: Iterable[str], physical_cells: Iterable[str],
                 layout_only_models: Iterable[str] = (), short_resistor: str | None = None,
                 transistors: Iterable[str] = (),
                 properties: Mapping[str, tuple[set[str], set[str]]] | None = None) -> str:
    """A netgen setup script for the devices and cells found in the two netlists.

    Transistors (the ``device_models`` among ``transistors``, see :func:`.cdl.transistor_models`):
    source and drain are interchangeable, parallel fingers merge with their widths
    added, W and L agree to 1 %, the diffusion areas/perimeters magic adds are ignored. Resistors
    modelling the tie cell's shorts (model ``short_resistor``) are compared by topology only. Physical-only cells are ignored,
    and so are the ``layout_only_models`` in the layout (see :func:`layout_only_models`).
    Any other device model with ``properties[model]`` = (the layout's property names, the
    reference's; see :func:`card_properties`) is compared on the properties both state, to 1 %,
    and the others are ignored: magic gives a diode either its width and length or its area and
    perimeter, a CDL may state all four.
    """
    lines = ["# netgen setup written by kchip.flows.signoff.lvs"]
    transistors = set(transistors)
    for model in sorted(set(device_models)):
        for circuit in (1, 2):
            target = f'"-circuit{circuit} {model}"'
            if model in transistors:
                lines += [
                    f"permute {target} 1 3",
                    f"property {target} parallel enable",
                    f"property {target} parallel {{l critical}} {{w add}}",
                    f"property {target} tolerance {{w 0.01}} {{l 0.01}}",
                    f"property {target} delete as ad ps pd",
                ]
            elif model == short_resistor:
                lines.append(f"property {target} delete w l")
            elif model in (properties or {}):
                layout, reference = (names - {MULTIPLIER} for names in properties[model])
                if layout ^ reference:
                    lines.append(f"property {target} delete {' '.join(sorted(layout ^ reference))}")
                if layout & reference:
                    tolerances = " ".join(f"{{{name} 0.01}}" for name in sorted(layout & reference))
                    lines.append(f"property {target} tolerance {tolerances}")
    for cell in sorted(set(physical_cells)):
        lines += [f'ignore class "-circuit1 {cell}"', f'ignore class "-circuit2 {cell}"']
    lines += [f'ignore class "-circuit1 {model}"' for model in sorted(set(layout_only_models))]
    return "\n".join(lines) + "\n"


def layout_only_models(layout_spice: Path, reference: dict[str, tuple[str, list[str]]]) -> set[str]:
    """Device models the extracted layout has only inside cells whose reference subcircuit holds no
    device at all.

    A library may leave a cell's device out of its reference netlist on purpose: SkyWater's CDL
    gives the antenna diode cell no device ("Tap diode is not represented here"), while its layout
    extracts to a diode from the net to the substrate. Such a model, found nowhere else in the
    layout, is ignored in the layout, so the cell is compared by its pins (its connection to the
    net it protects is still checked). A model that also appears in any other cell, or at the top,
    is compared as usual.
    """
    inside_empty: set[str] = set()
    elsewhere: set[str] = set()
    for cell, (_, body) in read_subckts(layout_spice).items():
        models = {model for card in body if (model := _card_class(card))}
        empty_reference = cell in reference and not reference[cell][1]
        (inside_empty if empty_reference else elsewhere).update(models)
    return inside_empty - elsewhere


def _instance_classes(spice: Path) -> set[str]:
    """Names of the subcircuits/devices instantiated in a SPICE netlist (``X``/``R``/``D`` cards)."""
    return {cls for line in Path(spice).read_text().splitlines() if (cls := _card_class(line))}


def card_properties(spice: Path) -> dict[str, set[str]]:
    """``{model: the property names its cards state}`` for the ``X``/``R``/``D`` cards of a SPICE or
    CDL file's subcircuits (``X0 A VDD dpantenna l=1.34u w=1.05u`` -> ``{"dpantenna": {"l", "w"}}``)."""
    found: dict[str, set[str]] = {}
    for _, body in read_subckts(spice).values():
        for card in body:
            if model := _card_class(card):
                names = {token.split("=", 1)[0].lower() for token in card.split()[1:] if "=" in token}
                found.setdefault(model, set()).update(names)
    return found


def _card_class(card: str) -> str | None:
    """The subcircuit or device model an ``X``/``R``/``D`` card instantiates (None for other cards)."""
    tokens = card.split()
    if not tokens or tokens[0][0] not in "XxRrDd":
        return None
    positional = [t for t in tokens[1:] if "=" not in t]
    return positional[-1] if positional else None


def count_mismatches(comparisons: list[dict]) -> int:
    """Differences in netgen's JSON result: device and net counts, unmatched nets/devices, pins."""
    total = 0
    for circuit in comparisons:
        devices = circuit.get("devices", [[], []])
        first, second = (dict(map(tuple, side)) for side in devices)
        total += sum(abs(first.get(c, 0) - second.get(c, 0)) for c in first.keys() | second.keys())
        nets = circuit.get("nets", [0, 0])
        total += abs(nets[0] - nets[1])
        for key in ("badnets", "badelements"):
            total += sum(max(len(group[0]), len(group[1])) for group in circuit.get(key, []))
        pins = circuit.get("pins", [[], []])
        total += sum(1 for side in pins for pin in side if "no matching pin" in str(pin))
        total += len(circuit.get("properties", []))
    return total


@dataclass(frozen=True)
class _Comparison:
    result_text: str
    mismatches: int
    unmatched_cells: tuple[str, ...]


def _compare(invocation: Invocation, workdir: Path, top: str, layout_spice: Path, cells_cdl: Path,
             powered: Path, setup: Path, report: Path, log_name: str) -> _Comparison:
    """Run netgen once and read its verdict, JSON counts and the subcircuits it had to flatten."""
    w = magic.tcl_word
    script = _write_atomic(report.with_suffix(".tcl"), "\n".join([
        f"set layout [readnet spice {w(layout_spice)}]",
        f"set reference [readnet spice {w(cells_cdl)}]",
        f"readnet verilog {w(powered)} $reference",
        f"lvs [list $layout {w(top)}] [list $reference {w(top)}] {w(setup)} {w(report)} -json -blackbox",
        "quit",
    ]) + "\n")
    output = netgen.run_script(invocation, script, log_name=log_name, cwd=workdir)
    result = re.findall(r"^Result:\s*(.*)$", output, re.M)
    json_report = report.with_suffix(".json")
    if not result or not json_report.is_file():
        raise RuntimeError(f"netgen gave no LVS result for {top!r}; log: {invocation.folder / log_name}")
    text = report.read_text()
    result_text = result[-1].strip() + (" (property errors)" if "had property errors" in text else "")
    flattened = re.findall(r"Flattening non-matched subcircuits (\S+)", text)
    return _Comparison(result_text, count_mismatches(json.loads(json_report.read_text())),
                       tuple(dict.fromkeys(flattened)))


def _layout_subckt(spice: Path, cell: str) -> str | None:
    """The ``.subckt cell ... .ends`` text of an extracted netlist, or None when it has none."""
    match = re.search(rf"^\.subckt\s+{re.escape(cell)}\s.*?^\.ends\b[^\n]*\n", Path(spice).read_text(),
                      re.M | re.S | re.I)
    return match.group(0) if match else None


def _stack_variants(nets: dict[str, int]) -> list[dict[str, tuple[int, ...]]]:
    """Finger groupings to try for a cell's stack nets, all-shared excluded (that is the CDL's own
    form). Every partition of each net's fingers when there are at most :data:`MAX_STACK_VARIANTS`
    combinations, else only "shared" and "one net per finger" for each net."""
    options = {net: finger_groups(fingers) for net, fingers in nets.items()}
    if math.prod(len(groups) for groups in options.values()) > MAX_STACK_VARIANTS:
        options = {net: [(fingers,), (1,) * fingers] for net, fingers in nets.items()}
    combinations = (dict(zip(options, choice)) for choice in itertools.product(*options.values()))
    return [variant for variant in combinations if any(len(groups) > 1 for groups in variant.values())]


def choose_stack_forms(invocation: Invocation, workdir: Path, cells: Iterable[str], layout_spice: Path,
                       pdk_cdl: Path, devices: Devices) -> dict[str, dict[str, tuple[int, ...]]]:
    """For each cell, finger groups for its stack nets with which its CDL matches its layout.

    The cell's groupings (:func:`_stack_variants` of :func:`.cdl.stack_nets`) are each compared with
    the cell's extracted netlist, all in one netgen run; cells with no matching grouping are left out.
    """
    folder = Path(workdir).resolve() / "stack-forms"
    folder.mkdir(parents=True, exist_ok=True)
    subckts = read_subckts(pdk_cdl)
    variants: list[tuple[str, dict[str, tuple[int, ...]]]] = []
    commands = []
    w = magic.tcl_word
    setup = folder / "netgen_setup.tcl"
    for cell in cells:
        layout_text = _layout_subckt(layout_spice, cell)
        if cell not in subckts or layout_text is None:
            continue
        layout_file = _write_atomic(folder / f"{cell}.layout.spice", layout_text)
        for split in _stack_variants(stack_nets(*subckts[cell])):
            reference = _write_atomic(folder / f"{cell}.{len(variants)}.spice",
                                      subckt_text(cell, *subckts[cell], devices, split))
            variants.append((cell, split))
            commands.append(f"lvs [list {w(layout_file)} {w(cell)}] [list {w(reference)} {w(cell)}] "
                            f"{w(setup)} nolog")
    if not variants:
        return {}
    models = {c for cell in {cell for cell, _ in variants}
              for c in _instance_classes(folder / f"{cell}.layout.spice") if c.startswith(devices.prefix)}
    _write_atomic(setup, netgen_setup(models, (), short_resistor=devices.short_resistor,
                                      transistors=transistor_models(pdk_cdl, devices)))
    script = _write_atomic(folder / "compare.tcl", "\n".join([*commands, "quit"]) + "\n")
    output = netgen.run_script(invocation, script, log_name="netgen-stack-forms.log", cwd=folder)
    verdicts = [line.strip() for line in re.findall(r"^Result:\s*(.*)$", output, re.M)]
    if len(verdicts) != len(variants):
        raise RuntimeError(f"netgen compared {len(verdicts)} of {len(variants)} cell variants; "
                           f"log: {invocation.folder / 'netgen-stack-forms.log'}")
    chosen: dict[str, dict[str, tuple[int, ...]]] = {}
    for (cell, split), verdict in zip(variants, verdicts):
        if verdict == MATCH_TEXT and cell not in chosen:
            chosen[cell] = split
    return chosen


def run_lvs(gds: Path, netlist_v: Path, top: str, pdk, workdir: Path, invocation: Invocation, *,
            physical_cells: Iterable[str] | None = None) -> LvsResult:
    """Extract ``top`` from ``gds`` and compare it with ``netlist_v`` (a flat gate-level netlist).

    ``physical_cells`` are patterns of the cells with no counterpart in the netlist (default: the
    descriptor's ``lvs.physical_only_cells``).

    Standard cells that do not match their CDL with folded fingers get the finger-stack form their
    layout has (:func:`choose_stack_forms`) and the comparison runs again; the second verdict
    stands. ``mismatches`` is at least 1 whenever netgen does not report a unique match.
    """
    gds, netlist_v = Path(gds), Path(netlist_v)
    for path, what in ((gds, "GDS"), (netlist_v, "netlist")):
        if not path.is_file():
            raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    workdir = Path(workdir).resolve()
    extract_dir = workdir / "extract"
    extract_dir.mkdir(parents=True, exist_ok=True)

    rules = load_rules(pdk)
    devices = Devices(rules.signoff.device_prefix, rules.signoff.short_resistor)
    physical_cells = rules.cells.physical_only if physical_cells is None else physical_cells
    tech = workdir / pdk.magic_tech.name
    derive_magic_tech(pdk.magic_tech, tech, drop_cif_rules=False)
    layout_spice = workdir / f"{top}.layout.spice"
    magic.run_script(invocation, tech,
                     extraction_script(gds.resolve(), top, layout_spice, rules.signoff.magic_extract_style),
                     workdir / "extract.tcl", log_name="magic-extract.log", cwd=extract_dir)
    if not layout_spice.is_file():
        raise RuntimeError(f"magic wrote no netlist {str(layout_spice)!r}; see {invocation.folder}")

    cells_cdl = write_lvs_cdl(pdk.cdl, workdir / "cells.lvs.cdl", devices)
    stdcell = pdk.stdcell
    power = {stdcell["power_pin"]: stdcell["power_pin"], stdcell["ground_pin"]: stdcell["ground_pin"],
             stdcell["nwell_pin"]: stdcell["power_pin"], stdcell["pwell_pin"]: stdcell["ground_pin"]}
    powered = write_powered_netlist(netlist_v, workdir / f"{top}.powered.v", top,
                                    subckt_pins(cells_cdl), power)

    classes = _instance_classes(layout_spice)
    models = {c for c in classes if c.startswith(devices.prefix)}
    ignored = {c for c in classes if any(fnmatch.fnmatchcase(c, p) for p in physical_cells)}
    layout_only = layout_only_models(layout_spice, read_subckts(cells_cdl))
    stated = card_properties(layout_spice), card_properties(cells_cdl)
    properties = {model: (stated[0][model], stated[1][model]) for model in stated[0].keys() & stated[1].keys()}
    setup = _write_atomic(workdir / "netgen_setup.tcl",
                          netgen_setup(models, ignored, layout_only, devices.short_resistor,
                                       transistor_models(pdk.cdl, devices), properties))

    report = workdir / "lvs.report"
    outcome = _compare(invocation, workdir, top, layout_spice, cells_cdl, powered, setup, report,
                       "netgen-lvs.log")
    unmatched = [cell for cell in outcome.unmatched_cells if cell != top]
    split = choose_stack_forms(invocation, workdir, unmatched, layout_spice, pdk.cdl, devices)
    unverified = tuple(cell for cell in unmatched if cell not in split)
    log_name = "netgen-lvs.log"
    if unmatched:
        replace = {cell: _layout_subckt(layout_spice, cell) for cell in unverified}
        cells_cdl = write_lvs_cdl(pdk.cdl, workdir / "cells.stack-forms.lvs.cdl", devices, split, replace)
        report, log_name = workdir / "lvs-stack-forms.report", "netgen-lvs-stack-forms.log"
        outcome = _compare(invocation, workdir, top, layout_spice, cells_cdl, powered, setup, report,
                           log_name)
    matched = outcome.result_text == MATCH_TEXT and outcome.mismatches == 0
    return LvsResult(matched, outcome.result_text, max(outcome.mismatches, 0 if matched else 1),
                     unverified, report, invocation.folder / log_name, layout_spice, powered,
                     tuple(sorted(layout_only)))
