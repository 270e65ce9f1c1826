"""The library of die-to-die link standards and package types, read from ``standards.yaml``.

Each figure there names its source (UCIe 1.1, OCP BoW 1.0, AIB 2.0, JEDEC JESD238); this module only
turns the data into typed records and derives per-interface figures (capacity, footprint, energy).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

LIBRARY_FILE = Path(__file__).resolve().parent / "standards.yaml"


class LibraryError(ValueError):
    """The standards library itself is malformed (a packaging bug, not a user error)."""


@dataclass(frozen=True)
class LinkStandard:
    """Published figures of one die-to-die standard."""

    name: str
    family: str
    source: str
    rates_gtps: tuple[float, ...]
    module_widths: tuple[int, ...]
    bump_pitch_um: tuple[float, float]
    reach_mm: float
    shoreline_gbyte_s_per_mm: tuple[float, float]
    energy_pj_per_bit: tuple[tuple[float, float], ...]
    latency_ns: float
    duplex: str
    reference_pitch_um: float
    module_shoreline_mm: float
    module_area_mm2: float

    @property
    def full_width(self) -> int:
        return self.module_widths[0]

    def energy_at(self, rate_gtps: float) -> float:
        """pJ/bit at ``rate_gtps``: the first band whose upper rate is at or above it."""
        for up_to, energy in self.energy_pj_per_bit:
            if rate_gtps <= up_to:
                return energy
        return self.energy_pj_per_bit[-1][1]

    def footprint(self, modules: int, module_width: int, pitch_um: float) -> tuple[float, float]:
        """(shoreline mm, bump area mm2) of ``modules`` modules at ``pitch_um``; an absurd pitch gives
        an infinite area (``scale * scale``: ``scale ** 2`` raises OverflowError), which the shoreline
        check reports."""
        share = modules * module_width / self.full_width
        scale = pitch_um / self.reference_pitch_um
        return share * self.module_shoreline_mm * scale, share * self.module_area_mm2 * scale * scale


@dataclass(frozen=True)
class PackageType:
    """A package technology and the finest bump pitch it can land."""

    name: str
    source: str
    min_bump_pitch_um: float


@dataclass(frozen=True)
class Library:
    """Standards and package types by name, with the citations they refer to."""

    standards: dict[str, LinkStandard]
    packages: dict[str, PackageType]
    sources: dict[str, str]


def _standard(name: str, entry: dict, sources: dict) -> LinkStandard:
    try:
        standard = LinkStandard(
            name=name, family=entry["family"], source=entry["source"],
            rates_gtps=tuple(float(r) for r in entry["rates_gtps"]),
            module_widths=tuple(int(w) for w in entry["module_widths"]),
            bump_pitch_um=tuple(float(p) for p in entry["bump_pitch_um"]),
            reach_mm=float(entry["reach_mm"]),
            shoreline_gbyte_s_per_mm=tuple(float(s) for s in entry["shoreline_gbyte_s_per_mm"]),
            energy_pj_per_bit=tuple((float(r), float(e)) for r, e in entry["energy_pj_per_bit"]),
            latency_ns=float(entry["latency_ns"]), duplex=entry["duplex"],
            reference_pitch_um=float(entry["reference_pitch_um"]),
            module_shoreline_mm=float(entry["module_shoreline_mm"]),
            module_area_mm2=float(entry["module_area_mm2"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LibraryError(f"{LIBRARY_FILE}: standard {name!r} is malformed: {exc!r}") from None
    if standard.source not in sources or standard.duplex not in ("full", "half") \
            or standard.latency_ns <= 0:
        raise LibraryError(f"{LIBRARY_FILE}: standard {name!r} needs a known source, duplex "
                           f"'full' or 'half' and a positive latency")
    return standard


@lru_cache(maxsize=4)
def load_library(path: Path = LIBRARY_FILE) -> Library:
    """The standards library (cached: it is read-only data)."""
    data = yaml.safe_load(Path(path).read_text())
    sources = dict(data["sources"])
    standards = {name: _standard(name, entry, sources) for name, entry in data["standards"].items()}
    packages = {name: PackageType(name, entry["source"], float(entry["min_bump_pitch_um"]))
                for name, entry in data["packages"].items()}
    return Library(standards, packages, sources)
