"""PDK descriptors: which files of an open_pdks install the flow reads, resolved under a PDK root.

The PDK root is taken from ``--pdk-root``, then ``KCHIP_PDK_ROOT``, then ``PDK_ROOT``; it holds one
folder per PDK variant (``<root>/sky130A/libs.ref/...``), as open_pdks installs it.
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DESCRIPTOR_DIR = Path(__file__).resolve().parent
#: the PDK a run uses unless told otherwise
DEFAULT_PDK = "sky130A"


class PdkError(ValueError):
    """The PDK cannot be found or its descriptor is wrong; the message says what would be valid."""


def available_pdks() -> list[str]:
    """Names of the PDKs kchip has a descriptor for."""
    return sorted(p.stem for p in DESCRIPTOR_DIR.glob("*.toml") if not p.stem.startswith("mpw"))


def resolve_pdk_root(explicit: str | os.PathLike | None = None) -> Path:
    """The PDK root: ``explicit``, else ``KCHIP_PDK_ROOT``, else ``PDK_ROOT``."""
    for origin, value in (("--pdk-root", explicit), ("KCHIP_PDK_ROOT", os.environ.get("KCHIP_PDK_ROOT")),
                          ("PDK_ROOT", os.environ.get("PDK_ROOT"))):
        if value:
            root = Path(value).expanduser().resolve()
            if not root.is_dir():
                raise PdkError(f"PDK root from {origin} = {str(value)!r} is not a directory")
            return root
    raise PdkError("no PDK root: pass --pdk-root DIR or set KCHIP_PDK_ROOT (or PDK_ROOT) to a folder "
                   "holding sky130A/ as open_pdks installs it")


@dataclass(frozen=True)
class Pdk:
    """A PDK variant resolved to absolute file paths."""

    name: str
    root: Path
    data: dict

    def path(self, relative: str) -> Path:
        return self.root / self.name / relative

    @property
    def descriptor(self) -> Path:
        """The descriptor file this PDK's data comes from."""
        return DESCRIPTOR_DIR / f"{self.name}.toml"

    @property
    def stdcell(self) -> dict:
        return self.data["stdcell"]

    @property
    def lef(self) -> Path:
        return self.path(self.stdcell["lef"])

    @property
    def tech_lef(self) -> Path:
        return self.path(self.stdcell["tech_lef"])

    @property
    def gds(self) -> Path:
        return self.path(self.stdcell["gds"])

    @property
    def cdl(self) -> Path:
        return self.path(self.stdcell["cdl"])

    def liberty(self, corner: str | None = None) -> Path:
        corner = corner or self.data["signoff"]["corner"]
        libs = self.stdcell["liberty"]
        if corner not in libs:
            raise PdkError(f"PDK {self.name}: corner {corner!r} unknown; valid corners: "
                           f"{', '.join(libs)}")
        return self.path(libs[corner])

    @property
    def magic_tech(self) -> Path:
        return self.path(self.data["signoff"]["magic_tech"])

    @property
    def klayout_lyp(self) -> Path:
        return self.path(self.data["signoff"]["klayout_lyp"])

    def is_dont_use(self, cell: str) -> bool:
        return any(fnmatch.fnmatchcase(cell, pattern) for pattern in self.stdcell["dont_use"])

    def named_files(self) -> list[tuple[str, Path]]:
        """Every PDK file the flow reads, with the descriptor key that names it."""
        s, signoff = self.stdcell, self.data["signoff"]
        keys = {f"stdcell.{k}": s[k] for k in ("lef", "tech_lef", "gds", "cdl")}
        keys.update({f"stdcell.liberty.{corner}": rel for corner, rel in s["liberty"].items()})
        keys.update({f"signoff.{k}": signoff[k] for k in ("magic_tech", "klayout_lyp")})
        return [(key, self.path(rel)) for key, rel in keys.items()]

    def files(self) -> list[Path]:
        """Every PDK file the flow reads: these define the digests of the stages that use them."""
        return [path for _, path in self.named_files()]


def pdk_problems(name: str, root: str | os.PathLike | None = None) -> list[str]:
    """What keeps the PDK root from holding what the flow needs of PDK ``name``: each file the
    descriptor names that is missing (with its key), then the first problem of its process rules;
    empty when nothing is missing."""
    from kchip.pdk.rules import load_rules

    descriptor = DESCRIPTOR_DIR / f"{name}.toml"
    if not descriptor.is_file():
        return [f"PDK {name!r} unknown; valid PDKs: {', '.join(available_pdks())}"]
    pdk = Pdk(name=name, root=resolve_pdk_root(root), data=tomllib.loads(descriptor.read_text()))
    try:
        files = pdk.named_files()
    except KeyError as exc:
        return [f"{descriptor}: key {exc} missing"]
    missing = [f"{descriptor} {key} = {str(path.relative_to(pdk.root / name))!r}: {path} is missing"
               for key, path in files if not path.is_file()]
    if missing:
        return missing
    try:
        load_rules(pdk)
    except PdkError as exc:
        return [str(exc)]
    return []


def load_pdk(name: str = DEFAULT_PDK, root: str | os.PathLike | None = None) -> Pdk:
    """The named PDK under the resolved PDK root, with every file it names checked to exist."""
    descriptor = DESCRIPTOR_DIR / f"{name}.toml"
    if not descriptor.is_file():
        raise PdkError(f"PDK {name!r} unknown; valid PDKs: {', '.join(available_pdks())}")
    pdk = Pdk(name=name, root=resolve_pdk_root(root), data=tomllib.loads(descriptor.read_text()))
    for file in pdk.files():
        if not file.is_file():
            raise PdkError(f"PDK {name}: {file} is missing (descriptor {descriptor}); is the PDK root "
                           f"{pdk.root} an open_pdks install with {name}/?")
    return pdk
