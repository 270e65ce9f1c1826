"""The manifest of a shuttle package, the deterministic archive that carries it, and its verification.

A package is a folder ``<top>/`` holding the deliverables and ``manifest.json``, which lists every
other file of the folder with its SHA-256 and size in bytes (see :func:`file_entries`), so that
:func:`check_files` can name each file that is missing, extra or changed. :func:`write_archive`
packs the folder as ``<top>.tar.gz`` with sorted entries, fixed times, owners and modes and a gzip
header without time or name: the same folder always gives the same bytes. :func:`verify_package`
rechecks a package folder or archive and reruns the shuttle precheck on its GDS, as a
:class:`~kchip.mpw.results.PrecheckReport` whose first results are the package's own checks.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kchip.flows.report import signoff_verdict
from kchip.mpw.layout import PrecheckInputError
from kchip.mpw.precheck import CHECKS, find_gds, run_check, run_precheck
from kchip.mpw.results import CheckResult, PrecheckReport, _write_atomic
from kchip.mpw.slots import ShuttleError, Slot, parse_slot_spec

MANIFEST = "manifest.json"
FORMAT = "kchip-mpw-package"
FORMAT_VERSION = 1
#: the time stamp of every archive entry (the epoch), so archives do not depend on when they were made
ARCHIVE_MTIME = 0


class PackageError(ValueError):
    """A run folder that cannot be packaged, or a package that cannot be read; the message names the
    folder and what is wrong with it."""


def sha256(path: Path) -> str:
    """SHA-256 of the file's content, read afresh (no cache: a verification must see the bytes)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def package_files(folder: Path) -> list[str]:
    """Every entry below ``folder`` other than the manifest and folders, as sorted POSIX paths
    relative to ``folder`` (symbolic links included, as they are not regular files of the package)."""
    folder = Path(folder)
    found = [p for p in folder.rglob("*") if p.is_symlink() or not p.is_dir()]
    return sorted(p.relative_to(folder).as_posix() for p in found if p.relative_to(folder).as_posix() != MANIFEST)


def file_entries(folder: Path) -> list[dict]:
    """``[{"path", "sha256", "bytes"}]`` for every file of :func:`package_files`, sorted by path."""
    folder = Path(folder)
    return [{"path": rel, "sha256": sha256(folder / rel), "bytes": (folder / rel).stat().st_size}
            for rel in package_files(folder)]


def write_manifest(folder: Path, facts: dict) -> dict:
    """Write ``folder/manifest.json``: the format, ``facts`` and the entries of every file now in
    ``folder``; return the manifest."""
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **facts, "files": file_entries(folder)}
    _write_atomic(Path(folder) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read_manifest(folder: Path) -> dict:
    """The manifest of the package ``folder``; PackageError when it is absent, not JSON, of another
    format or without a file list."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise PackageError(f"{str(folder)!r} has no {MANIFEST}: not a kchip package")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise PackageError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise PackageError(f"{str(path)!r}: format {found!r} is not {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise PackageError(f"{str(path)!r}: format_version {manifest.get('format_version')!r} is not "
                           f"{FORMAT_VERSION!r}; this kchip reads version {FORMAT_VERSION} only")
    design = manifest.get("design")
    top = design.get("top") if isinstance(design, dict) else None
    if not isinstance(top, str) or not top or "/" in top:
        raise PackageError(f"{str(path)!r}: design.top {top!r} is not a cell name")
    files = manifest.get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) and {"path", "sha256", "bytes"} <= f.keys()
                                              for f in files):
        raise PackageError(f"{str(path)!r}: 'files' must be a list of {{path, sha256, bytes}} entries")
    outside = [f["path"] for f in files if not isinstance(f["path"], str) or Path(f["path"]).is_absolute()
               or ".." in Path(f["path"]).parts]
    if outside:
        raise PackageError(f"{str(path)!r}: file paths outside the package: {outside!r}")
    return manifest


@dataclass
class FileCheck:
    """What :func:`check_files` found: one line per file, naming it, by kind of problem."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.changed)


def check_files(folder: Path, manifest: dict) -> FileCheck:
    """Compare the files of the package ``folder`` with its manifest: each listed file must exist as
    a regular file with the listed size and SHA-256, and no other file may be there."""
    folder = Path(folder)
    result = FileCheck()
    listed = {entry["path"]: entry for entry in manifest["files"]}
    for rel, entry in sorted(listed.items()):
        path = folder / rel
        if path.is_symlink() or not path.is_file():
            result.missing.append(f"{rel}: listed in {MANIFEST} but "
                                  f"{'a symbolic link' if path.is_symlink() else 'not in the package'}")
            continue
        size, digest = path.stat().st_size, sha256(path)
        if size != entry["bytes"]:
            result.changed.append(f"{rel}: {size} bytes, {MANIFEST} says {entry['bytes']!r}")
        elif digest != entry["sha256"]:
            result.changed.append(f"{rel}: sha256 {digest}, {MANIFEST} says {entry['sha256']!r}")
    for rel in package_files(folder):
        if rel not in listed:
            kind = "symbolic link" if (folder / rel).is_symlink() else "file"
            result.extra.append(f"{rel}: {kind} not listed in {MANIFEST}")
    return result


def _entry(name: str, directory: bool, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.size = size
    info.mtime = ARCHIVE_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_archive(folder: Path, dest: Path) -> Path:
    """Pack ``folder`` as ``dest`` (a ``.tar.gz`` whose entries sit under ``<folder name>/``), the
    same bytes for the same files: entries sorted, every time stamp :data:`ARCHIVE_MTIME`, owner 0,
    modes 0644/0755, and a gzip header without file name or time. Written through a temporary file."""
    folder, dest = Path(folder), Path(dest)
    paths = sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix())
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=ARCHIVE_MTIME) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_entry(folder.name, True))
        for path in paths:
            name = f"{folder.name}/{path.relative_to(folder).as_posix()}"
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                raise PackageError(f"{str(path)!r} is not a regular file or folder; a package holds only those")
            if path.is_dir():
                tar.addfile(_entry(name, True))
            else:
                with open(path, "rb") as handle:
                    tar.addfile(_entry(name, False, path.stat().st_size), handle)
    os.replace(tmp, dest)
    return dest


def extract_archive(archive: Path, dest: Path) -> Path:
    """Unpack a package archive into ``dest``; return its one top folder. Entries outside that
    folder, absolute paths and links leaving it are refused (tarfile's ``data`` filter)."""
    archive = Path(archive)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            tops = sorted({m.name.split("/", 1)[0] for m in members})
            if len(tops) != 1:
                raise PackageError(f"{str(archive)!r} holds {len(tops)} top folders {tops!r}; "
                                   "a package archive holds exactly one, <top>/")
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PackageError(f"{str(archive)!r} is not a readable .tar.gz: {exc}") from None
    return Path(dest) / tops[0]


class _Package:
    """What the verification checks look at: the unpacked package, its manifest, its shuttle slot
    (or None), the reference layout to XOR with (or None) and the file check, made once."""

    def __init__(self, folder: Path, manifest: dict, slot: Slot | None, against: Path | None):
        self.folder, self.manifest, self.slot, self.against = folder, manifest, slot, against
        self.top = manifest["design"]["top"]
        self.gds = folder / "gds" / f"{self.top}.gds"
        self._files: FileCheck | None = None

    @property
    def files(self) -> FileCheck:
        if self._files is None:
            self._files = check_files(self.folder, self.manifest)
        return self._files


def files_present(package: _Package) -> CheckResult:
    """Every file the manifest lists is in the package."""
    return CheckResult.from_details("files_present", package.files.missing)


def files_listed(package: _Package) -> CheckResult:
    """The package holds no file the manifest does not list."""
    return CheckResult.from_details("files_listed", package.files.extra)


def files_intact(package: _Package) -> CheckResult:
    """Every listed file has the size and SHA-256 the manifest gives."""
    return CheckResult.from_details("files_intact", package.files.changed)


def signoff_clean(package: _Package) -> CheckResult:
    """The packaged ``metrics.json`` passes every signoff metric of the flow's report."""
    metrics_file = package.folder / "metrics.json"
    if not metrics_file.is_file():
        return CheckResult("signoff_clean", False, ["metrics.json: not in the package"])
    metrics = json.loads(metrics_file.read_text())
    return CheckResult.from_details("signoff_clean", [
        f"metrics.json: {name} = {metrics.get(name, 'missing')!r} fails signoff"
        for name, ok in signoff_verdict(metrics).items() if not ok])


def xor_against(package: _Package) -> CheckResult:
    """The package's GDS against a reference layout (a GDS, or a run folder's final GDS), with
    :func:`kchip.mpw.signoff_checks.xor_layouts`: one detail line per difference."""
    try:
        from kchip.mpw.signoff_checks import xor_layouts
    except ImportError:
        return CheckResult.skip("xor_against", "kchip.mpw.signoff_checks.xor_layouts is not available in "
                                               "this kchip")
    names = {"layer_name": package.slot.shuttle.layer_name} if package.slot else {}
    return CheckResult.from_details("xor_against", xor_layouts(package.gds, find_gds(package.against), **names))


def _precheck(package: _Package, checks: tuple | None, **where) -> list[CheckResult]:
    """The shuttle precheck of the package's GDS (``checks``: by default all of them; ``where``: the
    precheck's ``workdir`` and ``pdk_root``)."""
    if package.slot is None:
        return [CheckResult.skip("precheck", f"{MANIFEST} names no shuttle slot: pass --shuttle")]
    gds_name = package.gds.relative_to(package.folder).as_posix()
    if not package.gds.is_file():
        return [CheckResult("precheck", False, [f"{gds_name}: not in the package, nothing to precheck"])]
    try:
        return run_precheck(package.gds, package.slot, package.top, checks or CHECKS, **where).results
    except PrecheckInputError as exc:
        return [CheckResult("precheck", False, [f"{gds_name}: {exc}"])]


def verify_folder(folder: Path, shuttle: str | None = None, against: Path | None = None, *,
                  shown: Path | None = None, checks: tuple | None = None, workdir: Path | None = None,
                  pdk_root: Path | None = None) -> PrecheckReport:
    """Check the package ``folder`` against its manifest, XOR its GDS with the layout ``against`` (a
    GDS or run folder) when given, then run the shuttle precheck (``checks``, default all; tools write
    to ``workdir``, default a temporary folder) on its GDS with the manifest's slot (``shuttle``, a
    slot spec, overrides it). ``shown`` is the package's name in the report (an archive's unpacked
    folder is temporary)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    spec = shuttle or (manifest.get("shuttle") or {}).get("spec")
    try:
        slot = parse_slot_spec(spec) if spec else None
    except ShuttleError as exc:
        raise PackageError(f"shuttle slot {spec!r}: {exc}") from None
    package = _Package(folder, manifest, slot, against)
    own = [files_present, files_listed, files_intact, signoff_clean, *([xor_against] if against else [])]
    results = [run_check(check, package) for check in own] + _precheck(package, checks, workdir=workdir,
                                                                       pdk_root=pdk_root)
    return PrecheckReport((shown or folder) / package.gds.relative_to(folder), slot.spec if slot else "no slot",
                          package.top, results)


def verify_package(path: Path, shuttle: str | None = None, against: Path | None = None,
                   **options) -> PrecheckReport:
    """:func:`verify_folder` (with its keyword ``options``) on a package folder, or on a ``.tar.gz``
    package archive unpacked into a temporary folder."""
    path = Path(path)
    if path.is_dir():
        return verify_folder(path, shuttle, against, **options)
    if not path.is_file():
        raise PackageError(f"{str(path)!r} is neither a package folder nor a package archive")
    with tempfile.TemporaryDirectory(prefix="kchip-verify-") as tmp:
        folder = extract_archive(path, Path(tmp))
        return verify_folder(folder, shuttle, against, shown=path / folder.name, **options)
