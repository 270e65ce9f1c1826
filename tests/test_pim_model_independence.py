"""The PIM checking model shares no encodings or timing tables with the RTL it judges (issue 9).

An AST scan of ``verification/pim_ctrl``: the modules that judge the controller (device model, JEDEC
table, port encoding, harness) import nothing from ``kchip.rtl.pim_ctrl.isa`` or ``.timing``; the
model proper imports nothing from ``kchip.rtl`` at all; the cocotb test modules take only the host's
request record from ``isa`` (stimulus) and no timing. A wrong encoding or timing value in the RTL
must therefore disagree with the model instead of being copied into it.
"""

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "verification" / "pim_ctrl"
PACKAGE = "kchip.verification.pim_ctrl"
RTL_TABLES = ("kchip.rtl.pim_ctrl.isa", "kchip.rtl.pim_ctrl.timing")

#: The device model, its JEDEC table and port encoding: no RTL import of any kind.
MODEL_MODULES = ("dram_model", "jedec", "encoding")
#: Decodes the command bus and drives requests with the model's encoding.
HARNESS_MODULES = ("harness",)
#: cocotb tests: may build host requests with the RTL's request record, nothing else from the RTL's
#: encodings or timing.
TEST_MODULES = ("cocotb_tests", "cocotb_fault_tests", "bench_tests")
STIMULUS_NAMES = frozenset({"Request", "RequestKind"})


def _imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, imported name or None) for every import statement and import-path string."""
    tree = ast.parse(path.read_text(), filename=path.name)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = PACKAGE.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            found += [(base, alias.name) for alias in node.names]
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and node.value.startswith("kchip.")):
            found.append((node.value, None))
    return found


def _reaches(path: Path, prefixes) -> list[tuple[str, str | None]]:
    """The imports of ``path`` that reach a module under one of ``prefixes``.

    ``from a import b`` reaches ``a`` and, if ``b`` is a module, ``a.b``; both are tested.
    """
    def under(dotted):
        return any(dotted == p or dotted.startswith(p + ".") for p in prefixes)

    return [(m, n) for m, n in _imports(path) if under(m) or (n is not None and under(f"{m}.{n}"))]


def _source(module: str) -> Path:
    return PACKAGE_DIR / f"{module}.py"


@pytest.mark.parametrize("module", MODEL_MODULES)
def test_the_model_imports_nothing_from_the_rtl(module):
    bad = _reaches(_source(module), ["kchip.rtl"])
    assert not bad, f"{module}.py imports from the RTL: {bad}"


@pytest.mark.parametrize("module", MODEL_MODULES + HARNESS_MODULES)
def test_checking_modules_do_not_import_the_rtl_encodings_or_timing(module):
    bad = _reaches(_source(module), RTL_TABLES)
    assert not bad, f"{module}.py imports the RTL's own tables: {bad}"


@pytest.mark.parametrize("module", TEST_MODULES)
def test_cocotb_tests_take_only_the_request_record_from_the_rtl(module):
    bad = [(m, n) for m, n in _reaches(_source(module), RTL_TABLES)
           if not (m == RTL_TABLES[0] and n in STIMULUS_NAMES)]
    assert not bad, f"{module}.py uses the RTL's encodings or timing beyond host stimulus: {bad}"


def test_the_scan_sees_every_form_of_import(tmp_path):
    """Plain, from-module, from-package, relative and string imports are all found."""
    probe = tmp_path / "probe.py"
    probe.write_text("import kchip.rtl.pim_ctrl.isa\n"
                     "from kchip.rtl.pim_ctrl import timing\n"
                     "from kchip.rtl.pim_ctrl.isa import Request, Command\n"
                     "from ...rtl.pim_ctrl.timing import HBM2\n"
                     "importlib.import_module('kchip.rtl.pim_ctrl.timing')\n"
                     "from kchip.rtl.pim_ctrl.gemv import GemvPlan\n")
    assert _reaches(probe, RTL_TABLES) == [
        ("kchip.rtl.pim_ctrl.isa", None), ("kchip.rtl.pim_ctrl", "timing"),
        ("kchip.rtl.pim_ctrl.isa", "Request"), ("kchip.rtl.pim_ctrl.isa", "Command"),
        ("kchip.rtl.pim_ctrl.timing", "HBM2"), ("kchip.rtl.pim_ctrl.timing", None)]
