"""The source files that define a result: the static import closure of Python modules.

A flow stage's result depends on the code it runs; a generated design depends on its generator. Both
are found here the same way, without importing anything: parse a module, follow every ``import`` and
``from ... import`` in it (at module level or inside functions, absolute or relative) that resolves to
a file of a known package, and repeat. Data files that sit beside those modules (TOML, YAML, JSON,
Tcl) are part of the closure too, since the code reads them; those in the folder of a top-level
package (a project's ``pyproject.toml``) are not.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

#: suffixes of data files read by the code beside them
DATA_SUFFIXES = (".toml", ".yaml", ".yml", ".json", ".tcl")


class ModuleFinder:
    """Maps dotted module names to files, for a set of packages and module search folders.

    ``packages`` maps a top-level name to its folder (a package whose folder is not named after it,
    such as an editable install) or to its file; ``search_dirs`` are folders searched like
    ``sys.path`` for any other top-level name. Names that resolve nowhere (the standard library,
    third-party packages) are outside the closure.
    """

    def __init__(self, packages: Mapping[str, Path] = (), search_dirs: Iterable[Path] = ()):
        self.packages = {name: Path(p) for name, p in dict(packages).items()}
        self.search_dirs = [Path(d) for d in search_dirs]

    def find(self, name: str) -> Path | None:
        head, *rest = name.split(".")
        bases = [self.packages[head]] if head in self.packages else [d / head for d in self.search_dirs]
        for base in bases:
            if base.is_file():
                return base if not rest else None
            path = base.joinpath(*rest)
            for candidate in (path.with_name(path.name + ".py"), path / "__init__.py"):
                if candidate.is_file():
                    return candidate
        return None


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module name an import statement in ``tree`` may load, parents included."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    parents = {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 1)}
    return {n for n in names | parents if n}


_PARSED: dict[tuple, set[str]] = {}


def _imports_of(path: Path, module: str) -> set[str]:
    """``_imported_names`` of a file, remembered per path, size and modification time."""
    stat = path.stat()
    key = (str(path), module, stat.st_size, stat.st_mtime_ns)
    if key not in _PARSED:
        tree = ast.parse(path.read_bytes(), filename=str(path))
        _PARSED[key] = _imported_names(tree, module, path.name == "__init__.py")
    return _PARSED[key]


def import_closure(modules: Iterable[str], finder: ModuleFinder) -> dict[str, Path]:
    """Module name -> file for ``modules`` and everything they import that ``finder`` resolves."""
    found: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        path = finder.find(name)
        if path is None:
            continue
        found[name] = path
        todo += sorted(_imports_of(path, name) - found.keys())
    return found


def closure_files(modules: Iterable[str], finder: ModuleFinder) -> list[Path]:
    """The files of the import closure of ``modules`` and the data files beside them, sorted."""
    closure = import_closure(modules, finder)
    files = set(closure.values())
    for folder in {path.parent for name, path in closure.items() if "." in name}:
        files.update(p for p in folder.iterdir() if p.suffix in DATA_SUFFIXES and p.is_file())
    return sorted(files)


def files_digest(files: Iterable[Path], root: Path) -> str:
    """SHA-256 over the files' paths relative to ``root`` (or absolute, outside it) and contents."""
    h = hashlib.sha256()
    for path in sorted(files):
        rel = path.relative_to(root) if path.is_relative_to(root) else path
        h.update(f"{rel.as_posix()}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()
