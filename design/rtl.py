"""The RTL view a flow reads: the source files kept as files of their own, with the include
folders, defines and top parameters that go with them (``<top>.rtl.json``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RtlSources:
    """What lint and synthesis read, in the order they read it."""

    top: str
    files: tuple[Path, ...]
    include_dirs: tuple[Path, ...] = ()
    defines: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)

    def save(self, path: Path) -> Path:
        """Write the view as JSON (under a temporary name, then renamed). Paths inside the view's
        own folder are stored relative to it, so the folder can be renamed into place."""
        home = Path(path).parent

        def name(p: Path) -> str:
            return str(p.relative_to(home)) if p.is_relative_to(home) else str(p)

        data = {"top": self.top, "files": [name(p) for p in self.files],
                "include_dirs": [name(p) for p in self.include_dirs], "defines": self.defines,
                "parameters": self.parameters}
        tmp = Path(f"{path}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> RtlSources:
        data = json.loads(Path(path).read_text())
        home = Path(path).parent
        return cls(data["top"], tuple(home / p for p in data["files"]),
                   tuple(home / p for p in data["include_dirs"]), data["defines"], data["parameters"])

    def define_args(self) -> list[str]:
        """``NAME`` or ``NAME=value`` for each define, as both Verilator and Yosys take after ``-D``."""
        return [name if value is True else f"{name}={value}" for name, value in self.defines.items()]

    def parameter_values(self) -> dict[str, str]:
        """Each top parameter as a Verilog constant: integers as written, strings in double quotes."""
        return {name: f'"{value}"' if isinstance(value, str) else str(value)
                for name, value in self.parameters.items()}
