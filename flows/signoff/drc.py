"""Design-rule check of a GDS with magic and the PDK's rule deck in the descriptor's
``magic_drc_style`` (on SKY130 the full deck, ``drc(full)``).

:func:`run_drc` derives a loadable tech file (see :mod:`.magic_tech`), runs magic in batch mode and
reads back every error box magic reports, grouped by rule. ``cif_rules`` decides what happens to the
rules magic evaluates through generated CIF layers (latch-up tap distance, n-well taps, metal holes,
wide-metal halos, ...): ``"keep"`` checks them in magic, ``"drop"`` leaves them out, ``"auto"`` keeps
them and, should magic crash on them, checks again without them. Without ``cif_rules`` the
descriptor's ``signoff.magic_cif_rules`` decides ("auto" when it has none), with its reason in
``signoff.magic_cif_rules_reason``. Rules left out are returned in :attr:`DrcResult.dropped_rules`;
:func:`run_drc_signoff` checks them with :mod:`.layout_rules` and names those still unchecked.
Rules magic refused while loading the tech file (its log names the line of each; see
:func:`.magic_tech.rejected_rules`) are in :attr:`DrcResult.rejected_rules` and are handled the same
way, each with magic's complaint as the reason. The rules the descriptor's ``[layout_rules]`` has KLayout
check instead of magic (``instead_of_magic``, see :func:`.layout_rules.magic_replaced`) are left out of
magic's tech file whatever the policy, returned in :attr:`DrcResult.replaced_rules` and always checked
with KLayout, with the descriptor's reason.

Magic checks with ``drc listall why`` alone, which computes the errors under the box by itself (a
``drc check`` and ``drc catchup`` before it checked the die a second time). A large die is checked
in tiles by parallel magic processes (``jobs``, default one per CPU; see :mod:`.drc_tiles`); the
errors are merged per rule into regions, one :class:`DrcError` per region, so the result is the same
however the die was cut. Magic's own boxes stay in ``drc*.magic.tsv``.
"""

from __future__ import annotations

import csv
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from kchip.flows.signoff.drc_tiles import (HALO_TILES, Tile, available_cpus, die_size, merge_boxes, plan_tiles,
                                           rule_halo_um)
from kchip.flows.signoff.layout_rules import LayoutRuleResult, check_layout_rules, magic_replaced
from kchip.flows.signoff.magic_tech import RejectedRule, TechRule, derive_magic_tech, rejected_rules
from kchip.formats.files import write_atomic
from kchip.pdk.rules import load_rules
from kchip.tools import magic
from kchip.tools.base import Invocation

CIF_RULE_POLICIES = ("auto", "keep", "drop")
METRIC_UNITS = {"drc__errors__count": "errors"}


@dataclass(frozen=True)
class DrcError:
    """One error region of a rule: the bounding box, in microns, of the boxes magic reported for
    the rule that overlap or touch each other."""

    rule: str
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class DrcResult:
    """What magic found: every error box, the rules it did not check (left out of its tech file, or
    refused by magic while loading it), and where its files are."""

    errors: tuple[DrcError, ...]
    dropped_rules: tuple[TechRule, ...]
    report: Path
    log: Path
    tech: Path
    rejected_rules: tuple[RejectedRule, ...] = ()
    magic_version: str = ""
    #: rules left out of magic's tech file because KLayout checks them instead -> the descriptor's reason
    replaced_rules: tuple[tuple[TechRule, str], ...] = ()

    @property
    def errors_by_rule(self) -> dict[str, int]:
        """Error count per rule message, most frequent first."""
        return dict(Counter(error.rule for error in self.errors).most_common())

    @property
    def total(self) -> int:
        return len(self.errors)

    def metrics(self) -> dict[str, int]:
        """Flat metrics (units in :data:`METRIC_UNITS`)."""
        return {"drc__errors__count": self.total}


def drc_script(gds: Path, top: str, report: Path, style: str, tile: Tile | None = None) -> str:
    """Magic Tcl: check ``top`` hierarchically in DRC ``style`` (only ``tile`` of it when given), write
    one error box per line (rule, box in um).

    ``drc listall why`` checks the box itself (see :mod:`.drc_tiles`), so the background checker
    stays off and nothing is marked for it."""
    partial = report.with_name(report.name + ".tmp")
    return "\n".join([
        "drc off",
        "gds drccheck no",
        "drc euclidean on",
        f"drc style {style}",
        *magic.gds_load_commands(gds, top),
        *(tile.box_commands() if tile else ()),
        "set scale [cif scale out]",
        f"set out [open {magic.tcl_word(partial)} w]",
        "foreach {why boxes} [drc listall why] {",
        "    foreach box $boxes {",
        "        set um {}",
        "        foreach v $box { lappend um [expr {$v * $scale}] }",
        "        puts $out [join [concat [list $why] $um] \"\\t\"]",
        "    }",
        "}",
        "close $out",
        f"file rename -force {magic.tcl_word(partial)} {magic.tcl_word(report)}",
    ])


def read_report(report: Path) -> tuple[DrcError, ...]:
    """The error boxes of a report written by :func:`drc_script`."""
    with open(report, newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return tuple(DrcError(row[0], tuple(round(float(v), 4) for v in row[1:5])) for row in rows if row)


def merge_errors(errors) -> tuple[DrcError, ...]:
    """``errors`` of each rule joined into regions, one :class:`DrcError` per region (see
    :func:`.drc_tiles.merge_boxes`)."""
    return tuple(DrcError(rule, box) for rule, box in merge_boxes((error.rule, error.box) for error in errors))


def write_report(report: Path, errors) -> Path:
    """Write ``errors`` in the format of :func:`drc_script`'s report (atomically)."""
    write_atomic(report, "".join("\t".join([error.rule, *map(str, error.box)]) + "\n" for error in errors))
    return report


def _tiles(die: tuple[float, float], jobs: int, min_tile_um: float | None, invocation: Invocation, tech: Path,
           style: str, workdir: Path) -> tuple[Tile, ...]:
    """The tiles to check ``die`` (width, height in um) in with ``jobs`` magic processes: one per job
    whose edges are all ``min_tile_um`` or more (None: :data:`.drc_tiles.HALO_TILES` rule halos)."""
    if jobs < 2:
        return (Tile(0, 0, 1, 1),)
    if min_tile_um is None:
        min_tile_um = HALO_TILES * rule_halo_um(invocation, tech, style, workdir)
    return plan_tiles(*die, jobs, min_tile_um=min_tile_um)


def _check(gds: Path, top: str, pdk, workdir: Path, invocation: Invocation, die: tuple[float, float], jobs: int,
           min_tile_um: float | None, *, drop_cif_rules: bool) -> DrcResult:
    suffix = "-nocif" if drop_cif_rules else ""
    tech = workdir / f"{pdk.magic_tech.stem}{suffix}.tech"
    replaced = magic_replaced(pdk)
    left_out = derive_magic_tech(pdk.magic_tech, tech, drop_cif_rules=drop_cif_rules, leave_out=replaced)
    dropped = tuple(rule for rule in left_out if rule.rule_id not in replaced)
    replaced_rules = tuple((rule, replaced[rule.rule_id]) for rule in left_out if rule.rule_id in replaced)
    style = load_rules(pdk).signoff.magic_drc_style
    tiles = _tiles(die, jobs, min_tile_um, invocation, tech, style, workdir)

    def check_tile(tile: Tile) -> tuple[DrcError, ...]:
        name = f"drc{suffix}{tile.name}"
        raw = workdir / f"{name}.magic.tsv"
        magic.run_script(invocation, tech, drc_script(gds.resolve(), top, raw, style, tile), workdir / f"{name}.tcl",
                         log_name=f"magic-{name}.log", cwd=workdir)
        return read_report(raw)

    with ThreadPoolExecutor(max_workers=len(tiles)) as pool:
        found = list(pool.map(check_tile, tiles))
    report = write_report(workdir / f"drc{suffix}.tsv", merge_errors(error for errors in found for error in errors))
    log = invocation.folder / f"magic-drc{suffix}{tiles[0].name}.log"
    text = log.read_text(errors="replace")
    complaints = [(error.line, error.message) for error in magic.tech_errors(text, "drc")]
    rejected = rejected_rules(tech, complaints, style, kept_message=magic.TECH_RULE_KEPT_MESSAGE,
                              kept_companion=magic.TECH_RULE_KEPT_COMPANION)
    return DrcResult(read_report(report), dropped, report, log, tech, rejected, magic.version_in_log(text),
                     replaced_rules)


def run_drc(gds: Path, top: str, pdk, workdir: Path, invocation: Invocation, *,
            cif_rules: str | None = None, jobs: int | None = None, min_tile_um: float | None = None) -> DrcResult:
    """Check ``top`` in ``gds`` against the PDK's magic rule deck; scripts and reports go to ``workdir``.
    ``cif_rules`` None: the descriptor's policy. ``jobs``: magic processes checking tiles of the die
    at once (None or 0: one per CPU), each tile keeping edges of at least ``min_tile_um`` (None: a
    few rule halos of the deck, see :mod:`.drc_tiles`)."""
    if cif_rules is None:
        cif_rules = load_rules(pdk).signoff.magic_cif_rules
    if cif_rules not in CIF_RULE_POLICIES:
        raise ValueError(f"cif_rules={cif_rules!r} is not valid; choose one of {CIF_RULE_POLICIES}")
    gds = Path(gds)
    if not gds.is_file():
        raise FileNotFoundError(f"GDS {str(gds)!r} does not exist")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    jobs = jobs or available_cpus()
    tiling = (die_size(gds, top) if jobs > 1 else (0.0, 0.0), jobs, min_tile_um)
    if cif_rules == "drop":
        return _check(gds, top, pdk, workdir, invocation, *tiling, drop_cif_rules=True)
    try:
        return _check(gds, top, pdk, workdir, invocation, *tiling, drop_cif_rules=False)
    except magic.MagicCrashed:
        if cif_rules == "keep":
            raise
        return _check(gds, top, pdk, workdir, invocation, *tiling, drop_cif_rules=True)


@dataclass(frozen=True)
class DrcSignoff:
    """Magic's check plus KLayout's checks of the rules magic left out."""

    magic: DrcResult
    layout_rules: LayoutRuleResult
    reason: str = ""

    @property
    def errors_by_rule(self) -> dict[str, int]:
        """Magic's counts by rule message, then KLayout's by rule id (prefixed ``klayout:``)."""
        extra = {f"klayout: {rule}": count for rule, count in self.layout_rules.errors_by_rule.items()}
        return {**self.magic.errors_by_rule, **extra}

    @property
    def total(self) -> int:
        return self.magic.total + self.layout_rules.total

    @property
    def dropped_reason(self) -> str:
        """Why magic left rules out: the descriptor's reason, or magic's crash on them."""
        if not self.magic.dropped_rules:
            return ""
        return self.reason or "magic crashed on them; checked again without them"

    @property
    def unchecked_reasons(self) -> dict[str, str]:
        """Message of each rule neither magic nor KLayout checked -> why magic did not: the rules
        left out of its tech file first (:attr:`dropped_reason`), then those magic refused while
        loading it (``magic 8.3.105 did not accept tech line N: <its complaint>``)."""
        unchecked = set(self.layout_rules.unchecked)
        reasons = {rule.description: self.dropped_reason for rule in self.magic.dropped_rules
                   if rule.rule_id in unchecked}
        reasons.update({rule.description: why for rule, why in self.magic.replaced_rules if rule.rule_id in unchecked})
        version = f"magic {self.magic.magic_version}" if self.magic.magic_version else "magic"
        for rule in self.magic.rejected_rules:
            if rule.rule_id in unchecked:
                why = f"{version} did not accept tech {rule.reason}"
                reasons[rule.description] = "; ".join(filter(None, (reasons.get(rule.description), why)))
        return reasons

    @property
    def replaced_reasons(self) -> dict[str, str]:
        """Message of each rule checked with KLayout instead of magic -> why (the descriptor's reason)."""
        return {rule.description: why for rule, why in self.magic.replaced_rules}

    @property
    def unchecked_rules(self) -> tuple[str, ...]:
        """Messages of the rules neither magic nor KLayout checked."""
        return tuple(self.unchecked_reasons)

    def metrics(self) -> dict[str, int]:
        """Flat metrics (units in :data:`METRIC_UNITS`)."""
        return {"drc__errors__count": self.total}


def run_drc_signoff(gds: Path, top: str, pdk, workdir: Path, invocation: Invocation, *,
                    cif_rules: str | None = None, jobs: int | None = None) -> DrcSignoff:
    """:func:`run_drc` (``jobs`` magic processes), then every rule it dropped that :mod:`.layout_rules`
    can check."""
    result = run_drc(gds, top, pdk, workdir, invocation, cif_rules=cif_rules, jobs=jobs)
    dropped = list(dict.fromkeys(rule.rule_id for rule in (*result.dropped_rules, *result.rejected_rules,
                                                            *(rule for rule, _ in result.replaced_rules))))
    signoff = load_rules(pdk).signoff
    reason = signoff.magic_cif_rules_reason if cif_rules in (None, signoff.magic_cif_rules) else ""
    return DrcSignoff(result, check_layout_rules(gds, top, pdk, rules=dropped), reason)
