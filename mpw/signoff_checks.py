"""Signoff precheck checks: design rules, the flow's LVS and antenna results, metal density, and an
XOR against the GDS the flow wrote. As in :mod:`.layout_checks`, each check is a function of the
:class:`~kchip.mpw.layout.CheckedLayout` returning a :class:`~kchip.mpw.results.CheckResult` named
after the function; :data:`CHECKS` lists them in order.

What a shuttle runs is shuttle data, the ``[signoff]`` table of ``pdk/shuttles/<name>.toml``:
``magic_drc`` (magic's full deck, through :func:`kchip.flows.signoff.run_drc_signoff` as the flow's
drc stage runs it), ``[[signoff.klayout]]`` rule decks (run by :mod:`kchip.tools.klayout_drc`) and
``[signoff.density]`` bounds per metal; a check the shuttle does not ask for is skipped.

``lvs``, ``antenna`` and ``xor`` need the kchip run folder the GDS came from: the first two read its
``final/metrics.json`` (nothing is run again), ``xor`` compares the GDS with the one the gds stage
wrote; for a bare GDS they are skipped. :func:`xor_layouts` compares any two GDS files.
"""

from __future__ import annotations

import filecmp
import json
import math
import os
import tomllib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import klayout.db as kdb

from kchip.flows.signoff.density import density_windows, metal_density
from kchip.flows.signoff.drc import run_drc_signoff
from kchip.mpw.layout import CheckedLayout, fmt_um, listed
from kchip.mpw.results import CheckResult
from kchip.mpw.slots import SHUTTLE_DIR, GdsLayer
from kchip.pdk import DESCRIPTOR_DIR, PdkError, load_pdk, resolve_pdk_root
from kchip.tools import klayout_drc
from kchip.tools.base import Invocation, ToolError

#: where the shuttle reference data (Tiny Tapeout's decks, ...) is, when not beside the checkout
MPW_DATA_ENV = "KCHIP_MPW_DATA"
DEFAULT_MPW_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "mpw"
#: the flow's metrics that must be 0 for each check
LVS_METRICS = ("lvs__mismatch__count", "lvs__unverified_cells__count")
ANTENNA_METRICS = ("antenna__violations__count",)
#: keys of a ``[[signoff.klayout]]`` deck entry
DECK_KEYS = ("name", "deck", "top", "threads", "set", "input", "report")
DENSITY_BOUNDS = ("min", "max")
#: places named per rule (per layer for the XOR); the rest are counted
PLACES = 3

Box = tuple[float, float, float, float]


class SignoffSetupError(ValueError):
    """Shuttle data, a deck, the PDK or a run folder is not as a check needs it; the message names
    the file and the value."""


# -- where things are ----------------------------------------------------------------------------
def _signoff(ctx: CheckedLayout) -> dict:
    return ctx.shuttle.data.get("signoff", {})


def _shuttle_file(ctx: CheckedLayout) -> Path:
    return SHUTTLE_DIR / f"{ctx.shuttle.name}.toml"


def _workdir(ctx: CheckedLayout, name: str) -> Path:
    if ctx.workdir is None:
        raise SignoffSetupError(f"check {name} runs tools and needs a work folder (CheckedLayout workdir)")
    folder = (ctx.workdir / name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def mpw_data_root() -> Path:
    """The shuttle reference data: ``KCHIP_MPW_DATA``, else ``shared/mpw`` beside the checkout."""
    value = os.environ.get(MPW_DATA_ENV)
    return Path(value).expanduser() if value else DEFAULT_MPW_DATA


def resolve_deck(ctx: CheckedLayout, spec: str) -> Path:
    """A deck path of shuttle data: ``pdk:REL`` under ``<PDK root>/<pdk>/``, ``mpw:REL`` under
    :func:`mpw_data_root`."""
    prefix, colon, relative = str(spec).partition(":")
    if colon and prefix == "pdk":
        base, origin = resolve_pdk_root(ctx.pdk_root) / ctx.shuttle.pdk, "the PDK root"
    elif colon and prefix == "mpw":
        base, origin = mpw_data_root(), f"the shuttle reference data (set {MPW_DATA_ENV})"
    else:
        raise SignoffSetupError(f"{_shuttle_file(ctx)}: deck {spec!r} must start with 'pdk:' or 'mpw:'")
    path = base / relative
    if not path.is_file():
        raise SignoffSetupError(f"{_shuttle_file(ctx)}: deck {spec!r} is not at {path} (under {origin})")
    return path


def flow_view(run_dir: Path, view: str) -> Path:
    """The file the flow recorded as ``view`` for the report now in ``run_dir/final`` (``gds``: the gds
    stage's output), from the report stage's ``state.json`` beside ``final/``. In a run folder moved
    since, a recorded path under ``stages/`` is looked up under ``run_dir``."""
    final = Path(run_dir) / "final"
    state_path = final.resolve().parent / "state.json"
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError) as exc:
        raise SignoffSetupError(f"cannot tell which stage outputs {final} holds: {state_path}: {exc}") from None
    recorded = {**state.get("inherited_views", {}),
                **{name: str(state_path.parent / rel) for name, rel in state.get("views", {}).items()}}
    if view not in recorded:
        raise SignoffSetupError(f"{state_path} records no {view!r} view; it has {', '.join(sorted(recorded))}")
    path = Path(recorded[view])
    if not path.exists() and "stages" in path.parts:
        last = len(path.parts) - 1 - path.parts[::-1].index("stages")
        path = Path(run_dir).joinpath(*path.parts[last:])
    if not path.exists():
        raise SignoffSetupError(f"{state_path}: the {view} view {recorded[view]} does not exist")
    return path


# -- formatting ----------------------------------------------------------------------------------
def fmt_box_um(box: Box) -> str:
    """``(x1, y1)-(x2, y2)`` of a box given in um."""
    return f"({fmt_um(box[0])}, {fmt_um(box[1])})-({fmt_um(box[2])}, {fmt_um(box[3])})"


def _places(boxes: list[Box], noun: str = "place") -> str:
    """``3 places, at (..)-(..), (..)-(..), (..)-(..)`` with at most :data:`PLACES` named."""
    boxes = sorted(boxes)
    shown = ", ".join(fmt_box_um(b) for b in boxes[:PLACES])
    more = f" and {len(boxes) - PLACES} more" if len(boxes) > PLACES else ""
    return f"{len(boxes)} {noun}{'' if len(boxes) == 1 else 's'}, at {shown}{more}"


def by_rule(found: list[tuple[str, Box]]) -> list[str]:
    """One line per rule (sorted): the rule, how many places, and the first of them."""
    groups: dict[str, list[Box]] = {}
    for rule, box in found:
        groups.setdefault(rule, []).append(box)
    return [f"{rule}: {_places(boxes)}" for rule, boxes in sorted(groups.items())]


# -- design rules --------------------------------------------------------------------------------
def drc_magic(ctx: CheckedLayout) -> CheckResult:
    """magic's full DRC deck of the PDK (and KLayout for any rule this magic cannot run), as the
    flow's drc stage runs it: no error."""
    if not _signoff(ctx).get("magic_drc"):
        return CheckResult.skip("drc_magic", f"shuttle {ctx.shuttle.name} runs no magic deck "
                                             f"(no [signoff] magic_drc in {_shuttle_file(ctx)})")
    if ctx.top is None:
        return CheckResult.skip("drc_magic", ctx.no_top())
    try:
        pdk = load_pdk(ctx.shuttle.pdk, ctx.pdk_root)
    except PdkError as exc:
        return CheckResult.from_details("drc_magic", [f"cannot run magic's deck: {exc}"])
    workdir = _workdir(ctx, "drc_magic")
    result = run_drc_signoff(ctx.gds, ctx.top.name, pdk, workdir, Invocation(workdir))
    found = [(error.rule, error.box) for error in result.magic.errors]
    found += [(f"{v.rule} ({v.description})", v.box) for v in result.layout_rules.violations]
    return CheckResult.from_details("drc_magic", listed(by_rule(found)))


def _deck_name(entry: object, number: int) -> str:
    """A ``[[signoff.klayout]]`` entry's name: ``name``, else the deck's file stem, else ``deck N``."""
    if isinstance(entry, dict) and (entry.get("name") or entry.get("deck")):
        return str(entry.get("name") or Path(str(entry["deck"])).stem)
    return f"deck {number}"


def _deck_run(ctx: CheckedLayout, entry: object, number: int, report: Path) -> tuple[Path, dict]:
    """A ``[[signoff.klayout]]`` entry as the deck's path and its variables (writing ``report``)."""
    where = f"{_shuttle_file(ctx)}: [[signoff.klayout]] number {number}"
    if not isinstance(entry, dict) or "deck" not in entry or "top" not in entry:
        raise SignoffSetupError(f"{where} needs at least 'deck' and 'top', got {entry!r}")
    unknown = sorted(set(entry) - set(DECK_KEYS))
    if unknown:
        raise SignoffSetupError(f"{where}: unknown keys {unknown}; allowed: {', '.join(DECK_KEYS)}")
    variables = {**entry.get("set", {}), entry.get("input", "input"): ctx.gds.resolve(),
                 entry.get("report", "report"): report, entry["top"]: ctx.top.name}
    if "threads" in entry:
        variables[entry["threads"]] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    return resolve_deck(ctx, entry["deck"]), variables


def _rule_text(marker: klayout_drc.Marker) -> str:
    """The rule and its description, once (decks often start the description with the rule)."""
    if not marker.description or marker.description.startswith(marker.rule):
        return marker.description or marker.rule
    return f"{marker.rule} ({marker.description})"


def drc_klayout(ctx: CheckedLayout) -> CheckResult:
    """Every KLayout deck of the shuttle (the PDK's, the shuttle's own prechecks), in batch mode:
    no marker."""
    decks = _signoff(ctx).get("klayout", [])
    if not decks:
        return CheckResult.skip("drc_klayout", f"shuttle {ctx.shuttle.name} runs no KLayout deck "
                                               f"(no [[signoff.klayout]] in {_shuttle_file(ctx)})")
    if ctx.top is None:
        return CheckResult.skip("drc_klayout", ctx.no_top())
    workdir = _workdir(ctx, "drc_klayout")
    invocation = Invocation(workdir)
    details = []
    for number, entry in enumerate(decks, 1):
        label = _deck_name(entry, number)
        report = workdir / f"{number:02d}-{label.replace(' ', '_')}.lyrdb"
        try:
            deck, variables = _deck_run(ctx, entry, number, report)
            try:
                markers = klayout_drc.run_deck(invocation, deck, variables, report,
                                               log_name=f"{report.stem}.log", cwd=workdir)
            except ToolError:
                if variables.get(entry.get("threads")) in (None, 1):
                    raise
                # Debian's KLayout 0.28 now and then crashes in a worker thread of its tiled DRC
                # engine (a backtrace from db::local_processor in the log); one thread does not
                variables[entry["threads"]] = 1
                markers = klayout_drc.run_deck(invocation, deck, variables, report,
                                               log_name=f"{report.stem}.1thread.log", cwd=workdir)
        except (SignoffSetupError, PdkError, ToolError) as exc:
            details.append(f"{label} did not run: {str(exc).splitlines()[0]}")
            continue
        details += [f"{label}: {line}" for line in by_rule([(_rule_text(m), m.box) for m in markers])]
    return CheckResult.from_details("drc_klayout", listed(details))


# -- the flow's results --------------------------------------------------------------------------
def _flow_metrics(ctx: CheckedLayout, name: str, metrics: tuple[str, ...],
                  explain: Callable[[Path], list[str]]) -> CheckResult:
    """Fail on each of ``metrics`` of ``final/metrics.json`` that is missing or not 0; then add the
    lines ``explain`` finds in the stage's own report."""
    if ctx.run_dir is None:
        return CheckResult.skip(name, f"{ctx.gds} is a bare GDS: {name} reads the flow's results, so give "
                                      f"the kchip run folder it came from")
    path = ctx.run_dir / "final" / "metrics.json"
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return CheckResult.from_details(name, [f"cannot read {path} ({exc}): run the flow to its report stage"])
    details = []
    for metric in metrics:
        value = found.get(metric)
        if value is None:
            details.append(f"{path}: no {metric}, so the {name} stage did not run")
        elif value != 0:
            details.append(f"{path}: {metric} = {value}, expected 0")
    if details:
        try:
            details += explain(ctx.run_dir)
        except (SignoffSetupError, OSError, ValueError, KeyError):
            pass  # the metrics already say what fails; the stage report only adds detail
    return CheckResult.from_details(name, details)


def _lvs_report(run_dir: Path) -> list[str]:
    path = flow_view(run_dir, "lvs_report")
    report = json.loads(path.read_text())
    lines = [f"netgen: {report['result']} ({report['mismatches']} mismatches; {path.parent / report['report']})"]
    if report.get("unverified_cells"):
        lines.append(f"cells compared with their own extraction (no CDL form matched): "
                     f"{', '.join(report['unverified_cells'])}")
    return lines


def _antenna_report(run_dir: Path) -> list[str]:
    report = json.loads(flow_view(run_dir, "antenna_report").read_text())
    return listed([f"net {v['net']} on {v['layer']} ({v['rule']}): ratio {v['ratio']:.1f} > {v['allowed']:.1f}, "
                   f"gates {', '.join(v['gates'])}" for v in report["violations"]])


def lvs(ctx: CheckedLayout) -> CheckResult:
    """The flow's LVS of this layout matched: no mismatch and no cell left unverified."""
    return _flow_metrics(ctx, "lvs", LVS_METRICS, _lvs_report)


def antenna(ctx: CheckedLayout) -> CheckResult:
    """The flow's antenna check of this layout found no violation."""
    return _flow_metrics(ctx, "antenna", ANTENNA_METRICS, _antenna_report)


# -- density -------------------------------------------------------------------------------------
def _density_rule(ctx: CheckedLayout) -> dict:
    """The PDK's density windows (``window_um``, ``step_um``) from its kchip descriptor."""
    path = DESCRIPTOR_DIR / f"{ctx.shuttle.pdk}.toml"
    if not path.is_file():
        raise SignoffSetupError(f"{_shuttle_file(ctx)}: density bounds need the density windows of PDK "
                                f"{ctx.shuttle.pdk!r}, and there is no {path}")
    rule = tomllib.loads(path.read_text()).get("density", {})
    if not all(isinstance(rule.get(key), (int, float)) for key in ("window_um", "step_um")):
        raise SignoffSetupError(f"{path}: [density] needs window_um and step_um, got {rule!r}")
    return rule


def _density_bounds(ctx: CheckedLayout, bounds: dict) -> dict[str, dict[str, float]]:
    for metal, bound in bounds.items():
        where = f"{_shuttle_file(ctx)}: [signoff.density] {metal} = {bound!r}"
        if metal not in ctx.shuttle.metals:
            raise SignoffSetupError(f"{where}: not a metal of [layers.metals] ({', '.join(ctx.shuttle.metals)})")
        if not isinstance(bound, dict) or not bound or set(bound) - set(DENSITY_BOUNDS) or not all(
                isinstance(v, (int, float)) and 0 <= v <= 1 for v in bound.values()):
            raise SignoffSetupError(f"{where}: expected {{ min = F, max = F }} (either or both), fractions 0..1")
    return bounds


def _windows(ctx: CheckedLayout, rule: dict) -> list[kdb.Box]:
    """The density windows over the top cell's extent, as :func:`metal_density` lays them."""
    die = ctx.top.bbox()
    window, step = round(rule["window_um"] / ctx.layout.dbu), round(rule["step_um"] / ctx.layout.dbu)
    return density_windows(die, window, step)


def _outside(ctx: CheckedLayout, metal: str, windows: list[kdb.Box], bound: str, limit: float) -> str:
    """The line for the windows of ``metal`` beyond ``limit``: how many, and the worst one."""
    layer = ctx.shuttle.metals[metal].drawing
    index = ctx.index(layer)
    region = kdb.Region(ctx.top.begin_shapes_rec(index)).merged() if index is not None else kdb.Region()
    ratios = [((region & kdb.Region(box)).area() / box.area(), box) for box in windows]
    beyond = [(r, box) for r, box in ratios if (r < limit if bound == "min" else r > limit)]
    worst, box = (min if bound == "min" else max)(beyond, key=lambda rb: rb[0])
    side = f"{'below the minimum' if bound == 'min' else 'above the maximum'} {limit:.0%} of {ctx.shuttle.name}"
    if len(windows) == 1:
        return f"{ctx.label(layer)}: density {worst:.1%} in window {ctx.fmt_box(box)}, {side}"
    return (f"{ctx.label(layer)}: {len(beyond)} of {len(windows)} windows {side}; "
            f"{'lowest' if bound == 'min' else 'highest'} {worst:.1%} in window {ctx.fmt_box(box)}")


def density(ctx: CheckedLayout) -> CheckResult:
    """Every bounded metal's density, in each window of the PDK's density rule over the layout,
    within the shuttle's bounds."""
    bounds = _signoff(ctx).get("density")
    if not bounds:
        return CheckResult.skip("density", f"shuttle {ctx.shuttle.name} sets no density bounds "
                                            f"(no [signoff.density] in {_shuttle_file(ctx)})")
    if ctx.top is None:
        return CheckResult.skip("density", ctx.no_top())
    try:
        bounds, rule = _density_bounds(ctx, bounds), _density_rule(ctx)
    except SignoffSetupError as exc:
        return CheckResult.from_details("density", [str(exc)])
    layers = {metal: ctx.shuttle.metals[metal].drawing for metal in bounds}
    found = metal_density(ctx.gds, ctx.top.name, layers, window_um=rule["window_um"], step_um=rule["step_um"])
    details = []
    for d in found:
        low, high = bounds[d.layer].get("min"), bounds[d.layer].get("max")
        if low is not None and d.window_min < low:
            details.append(_outside(ctx, d.layer, _windows(ctx, rule), "min", low))
        if high is not None and d.window_max > high:
            details.append(_outside(ctx, d.layer, _windows(ctx, rule), "max", high))
    return CheckResult.from_details("density", details)


# -- XOR -----------------------------------------------------------------------------------------
def _names(a: Path, b: Path) -> tuple[str, str]:
    """Short names telling ``a`` and ``b`` apart: file names, or paths from their common folder."""
    if a.name != b.name:
        return a.name, b.name
    common = os.path.commonpath([a.absolute(), b.absolute()])
    return os.path.relpath(a.absolute(), common), os.path.relpath(b.absolute(), common)


def _read(path: Path) -> kdb.Layout:
    layout = kdb.Layout()
    try:
        layout.read(str(path))
    except RuntimeError as exc:
        raise SignoffSetupError(f"cannot read {path} as a layout: {exc}") from None
    return layout


def _top_pairs(la: kdb.Layout, lb: kdb.Layout, names: tuple[str, str], problems: list[str]) -> list:
    """The top cells to compare: those of the same name, else the only top cell of each."""
    tops_a, tops_b = sorted(c.name for c in la.top_cells()), sorted(c.name for c in lb.top_cells())
    if tops_a != tops_b:
        problems.append(f"top cells {', '.join(tops_a) or 'none'} in {names[0]}, "
                        f"{', '.join(tops_b) or 'none'} in {names[1]}")
    common = sorted(set(tops_a) & set(tops_b))
    if common:
        return [(la.cell(n), lb.cell(n)) for n in common]
    return [(la.cell(tops_a[0]), lb.cell(tops_b[0]))] if len(tops_a) == len(tops_b) == 1 else []


def _region(top: kdb.Cell, index: int | None, dss: kdb.DeepShapeStore | None, scale: float) -> kdb.Region:
    """The shapes of layer ``index`` under ``top``: hierarchical in ``dss``, else flat and scaled."""
    if index is None:
        return kdb.Region()
    if dss is not None:
        return kdb.Region(top.begin_shapes_rec(index), dss)
    return kdb.Region(top.begin_shapes_rec(index)).transformed(kdb.ICplxTrans(scale))


def _label_places(top: kdb.Cell, index: int | None, scale: float) -> Counter:
    """The labels of layer ``index`` under ``top``: (text, x, y) with their counts."""
    if index is None:
        return Counter()
    return Counter((t.string, round(t.x * scale), round(t.y * scale))
                   for t in kdb.Texts(top.begin_shapes_rec(index)).each())


def _layer_problems(layer: str, only: list[tuple[str, kdb.Region]], labels: list[tuple[str, Counter]],
                    dbu: float) -> list[str]:
    problems = []
    for name, region in only:
        if not region.is_empty():
            flat = region.dup()
            flat.flatten()
            flat.merge()
            boxes = [tuple(v * dbu for v in (p.bbox().left, p.bbox().bottom, p.bbox().right, p.bbox().top))
                     for p in flat.each()]
            problems.append(f"{layer}: {flat.area() * dbu * dbu:.6g} um2 only in {name}: {_places(boxes, 'shape')}")
    for name, extra in labels:
        problems += [f"{layer}: label '{text}' at ({fmt_um(x * dbu)}, {fmt_um(y * dbu)}) only in {name}"
                     for text, x, y in sorted(extra.elements())]
    return problems


def xor_layouts(a: Path, b: Path, *, layer_name: Callable[[GdsLayer], str] | None = None) -> list[str]:
    """What differs between the layouts in GDS files ``a`` and ``b``, one line per problem; empty when
    they are the same: top cells, database unit, and under the top cell, on every layer/datatype,
    zero XOR area of the shapes (with where each side has shapes the other lacks) and the same
    labels. Hierarchy and cell names below the top do not count. ``layer_name`` names a layer
    (default ``68/20``). Byte-identical files are the same without reading them."""
    a, b = Path(a), Path(b)
    if filecmp.cmp(a, b, shallow=False):
        return []
    names = _names(a, b)
    la, lb = _read(a), _read(b)
    problems: list[str] = []
    scale = lb.dbu / la.dbu
    if not math.isclose(scale, 1.0):
        problems.append(f"database unit {la.dbu:g} um in {names[0]}, {lb.dbu:g} um in {names[1]}")
    dss = kdb.DeepShapeStore() if math.isclose(scale, 1.0) else None
    layers = sorted({(i.layer, i.datatype) for ly in (la, lb) for i in map(ly.get_info, ly.layer_indexes())})
    pairs = _top_pairs(la, lb, names, problems)
    for ta, tb in pairs:
        for layer in layers:
            ia, ib = la.find_layer(*layer), lb.find_layer(*layer)
            ra, rb = _region(ta, ia, dss, 1.0), _region(tb, ib, dss, scale)
            label_a, label_b = _label_places(ta, ia, 1.0), _label_places(tb, ib, scale)
            if (ra ^ rb).is_empty() and label_a == label_b:
                continue
            name = layer_name(layer) if layer_name else f"{layer[0]}/{layer[1]}"
            where = f"{name} in {ta.name}" if len(pairs) > 1 else name
            problems += _layer_problems(where, [(names[0], ra - rb), (names[1], rb - ra)],
                                        [(names[0], label_a - label_b), (names[1], label_b - label_a)], la.dbu)
    return problems


def xor(ctx: CheckedLayout) -> CheckResult:
    """The GDS checked is the GDS the flow wrote (the gds stage's output): zero XOR area on every
    layer, the same labels."""
    if ctx.run_dir is None:
        return CheckResult.skip("xor", f"{ctx.gds} is a bare GDS: xor compares it with the GDS the flow "
                                       f"wrote, so give the kchip run folder it came from")
    try:
        flow_gds = flow_view(ctx.run_dir, "gds")
        problems = xor_layouts(ctx.gds, flow_gds, layer_name=ctx.label)
    except SignoffSetupError as exc:
        return CheckResult.from_details("xor", [str(exc)])
    return CheckResult.from_details("xor", listed(problems))


#: The signoff checks, in the order they run and are reported.
CHECKS = (drc_magic, drc_klayout, lvs, antenna, density, xor)
