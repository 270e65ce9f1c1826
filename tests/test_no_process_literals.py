"""No process fact in the flow's code: SKY130 layer names, cell and corner names and characteristic
numbers belong in the PDK's files or ``pdk/<name>.toml``, read through :mod:`kchip.pdk.rules`.

The check parses every Python file of ``flows/``, ``tools/``, ``mpw/`` and ``formats/`` and looks at its constants
(strings and numbers; docstrings and comments are left out, so they may name SKY130 values as
examples). A string fails when it names a SKY130 layer, site, supply pin or the ``tt`` corner, or
holds ``sky130``; a number fails when it is one of SKY130's characteristic lengths (track pitches
and offsets, site size, manufacturing grid, rule values). ``mpw/`` reads shuttle data (tile sizes,
layer numbers of a shuttle's template), which its own files hold.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FOLDERS = ("flows", "tools", "mpw", "formats")

NAMES = re.compile(r"\b(li1|met[1-5]|mcon|via[2-4]|licon1?|nwell|dnwell|psdm|nsdm|unithd|sky130\w*|"
                   r"VPWR|VGND|VPB|VNB)\b")
CORNERS = {"tt", "ss", "ff"}
#: SKY130's track pitches and offsets (um and nm), row height, manufacturing grid, rail half-width,
#: pin widths and the rule values the KLayout subdeck used
FLOATS = {0.46, 0.34, 0.17, 0.23, 0.005, 2.72, 0.14, 0.68, 0.92, 15.0, 0.085, 0.84, 1.27, 0.28}
INTS = {170, 230, 340, 460, 680, 920, 2720, 240, 140, 200_000}

#: (file, constant) pairs that are allowed, and why
ALLOWED = {
    # the placer's legal row fill, a fraction that happens to equal met3's pitch in um
    ("flows/physical/floorplan.py", 0.68),
    # femtofarads, a liberty capacitive_load_unit, not the ff corner
    ("formats/liberty.py", "ff"),
    # a shuttle slot named as an example in the stage variable's help text
    ("flows/stages/floorplan.py", "shuttle slot the die and pins come from, e.g. tt-sky130:1x2, or "
     "tt-sky130:auto for the smallest tile the cells fit (kchip mpw slots lists them); empty: none"),
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def is_process_literal(value) -> bool:
    """Whether a constant of the code is a SKY130 layer, cell, corner or characteristic number."""
    if isinstance(value, str):
        return bool(NAMES.search(value)) or value in CORNERS
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return value in FLOATS
    return isinstance(value, int) and value in INTS


def process_literals(source: str) -> list[tuple[int, object]]:
    """(line, value) of every process literal in a Python source, docstrings left out."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    nodes = sorted((node for node in ast.walk(tree) if isinstance(node, ast.Constant) and id(node) not in docs
                    and is_process_literal(node.value)), key=lambda node: (node.lineno, node.col_offset))
    return [(node.lineno, node.value) for node in nodes]


def test_the_scan_finds_what_it_looks_for():
    source = 'def f():\n    """met1 is named here as an example."""\n    return ("met1", 0.46, 340, "tt", 2)\n'
    assert process_literals(source) == [(3, "met1"), (3, 0.46), (3, 340), (3, "tt")]


def test_no_process_literal_in_the_flow_code():
    found = []
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            for line, value in process_literals(path.read_text()):
                if (rel, value) not in ALLOWED:
                    found.append(f"{rel}:{line}: {value!r}")
    assert found == [], "process facts belong in the PDK files or pdk/<name>.toml:\n" + "\n".join(found)
