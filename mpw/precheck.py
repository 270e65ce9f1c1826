"""The precheck of a layout against its shuttle slot: every check in :data:`CHECKS` runs on the GDS
(each separately, so one failing or crashing check does not hide another) and gives a
:class:`~kchip.mpw.results.CheckResult`.

A check is a function of a :class:`~kchip.mpw.layout.CheckedLayout` returning a ``CheckResult``
named after the function, with one detail line per problem naming the shape or pin and where it is.
More checks plug in by adding their module's ``CHECKS`` here; :mod:`.signoff_checks` adds the
shuttle's DRC decks, the flow's LVS and antenna results, metal density and an XOR against the flow's
GDS. Those that run tools write to a work folder (a temporary one unless ``workdir`` is given).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kchip.mpw import layout_checks, pin_checks, signoff_checks
from kchip.mpw.layout import CheckedLayout, PrecheckInputError
from kchip.mpw.results import CheckResult, PrecheckReport
from kchip.mpw.slots import Slot

Check = Callable[[CheckedLayout], CheckResult]

#: The checks of the GDS alone (no tool, no PDK file, no run folder), in order.
GDS_CHECKS: tuple[Check, ...] = (*layout_checks.CHECKS, *pin_checks.CHECKS)
#: Every check, in the order it runs and is reported.
CHECKS: tuple[Check, ...] = (*GDS_CHECKS, *signoff_checks.CHECKS)


def check_names() -> list[str]:
    return [check.__name__ for check in CHECKS]


def find_gds(path: Path) -> Path:
    """The GDS to check: ``path`` itself if a file; for a folder, its one ``*.gds``, else the one in
    its ``final/`` folder (a kchip run folder)."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise PrecheckInputError(f"{path} is neither a GDS file nor a run folder")
    for folder in (path, path / "final"):
        found = sorted(folder.glob("*.gds"))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise PrecheckInputError(f"{folder} holds {len(found)} GDS files "
                                     f"({', '.join(p.name for p in found)}); name the one to check")
    raise PrecheckInputError(f"no GDS in {path} nor in {path / 'final'}: run the flow to its gds stage first")


def find_run_dir(path: Path) -> Path | None:
    """``path`` when it is a kchip run folder (a folder with ``final/``), else None."""
    path = Path(path)
    return path if path.is_dir() and (path / "final").is_dir() else None


def run_check(check: Check, ctx: CheckedLayout) -> CheckResult:
    """Run one check, timed; an exception becomes a failed result carrying its message."""
    started = time.perf_counter()
    try:
        result = check(ctx)
    except Exception as exc:  # a crashing check must not hide the others' results
        result = CheckResult(check.__name__, False, [f"check crashed: {type(exc).__name__}: {exc}"])
    return CheckResult(result.name, result.passed, result.details, result.skipped,
                       round(time.perf_counter() - started, 6))


def run_precheck(gds: Path, slot: Slot, top: str | None = None, checks: tuple[Check, ...] = CHECKS, *,
                 workdir: Path | None = None, pdk_root: Path | None = None) -> PrecheckReport:
    """Check ``gds`` (a file or a run folder) against ``slot``; the top cell should be ``top``,
    by default the GDS file's stem (the flow names both after the design's module). Tools write to
    ``workdir`` (default: a temporary folder, removed afterwards); PDK files come from ``pdk_root``
    (default: ``KCHIP_PDK_ROOT``, then ``PDK_ROOT``)."""
    path = Path(gds)
    gds = find_gds(path)
    top = top or gds.stem
    with tempfile.TemporaryDirectory(prefix="kchip-precheck-") as scratch:
        ctx = CheckedLayout(gds, slot, top, run_dir=find_run_dir(path), workdir=workdir or Path(scratch),
                            pdk_root=pdk_root)
        return PrecheckReport(gds, slot.spec, top, [run_check(check, ctx) for check in checks])
