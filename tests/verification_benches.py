"""Small cocotb benches for the runner's own tests: a flip-flop with test modules that pass, fail,
flake, crash (SIGSEGV, ``os._exit(3)``) or hang, and a fixture that writes them."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from kchip.verification import runner

FLIP_FLOP = ("module ff(input clk, input d, output reg q);\n"
             "  always @(posedge clk) q <= d;\nendmodule\n")
INVERTED = FLIP_FLOP.replace("q <= d", "q <= ~d")

MODULES = {
    "ff_tests": """
        import cocotb
        from cocotb.clock import Clock
        from cocotb.triggers import RisingEdge, Timer

        @cocotb.test()
        async def follows_d(dut):
            cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
            for value in (0, 1, 1, 0, 1):
                dut.d.value = value
                await RisingEdge(dut.clk)
                await Timer(1, "ns")
                assert int(dut.q.value) == value, f"q is {dut.q.value} after d={value}"

        @cocotb.test()
        async def idles(dut):
            await Timer(5, "ns")
    """,
    "ff_fail": """
        import cocotb

        @cocotb.test()
        async def always_fails(dut):
            assert False, "deliberate failure"
    """,
    "ff_flaky": """
        import os
        from pathlib import Path

        import cocotb

        @cocotb.test()
        async def fails_once(dut):
            mark = Path(os.environ["FF_FLAKY_MARK"] + os.environ["COCOTB_RANDOM_SEED"])
            if not mark.exists():
                mark.write_text("failed once")
                assert False, "fails the first time only"
    """,
    "ff_crash": """
        import os
        import signal

        import cocotb
        from cocotb.triggers import Timer

        @cocotb.test()
        async def crashes(dut):
            await Timer(1, "ns")
            if os.environ["FF_CRASH"] == "segv":
                os.kill(os.getpid(), signal.SIGSEGV)
            os._exit(3)
    """,
    "ff_hang": """
        import subprocess
        from pathlib import Path

        import cocotb
        from cocotb.triggers import Timer

        @cocotb.test()
        async def hangs(dut):
            child = subprocess.Popen(["sleep", "600"])  # must die with the simulator's group
            Path("grandchild.pid").write_text(str(child.pid))
            while True:
                await Timer(1, "ns")
    """,
}


@dataclass
class Benches:
    """The written benches: ``source`` is the flip-flop's Verilog, ``folder`` the test's tmp."""

    folder: Path
    source: Path

    def bench(self, name: str, module: str = "ff_tests", **env: str) -> runner.Testbench:
        source = self.source
        return runner.Testbench(name=name, top="ff", test_module=module,
                                sources=lambda folder: [source], env=env)

    @property
    def good(self) -> runner.Testbench:
        return self.bench("ff_good")

    @property
    def failing(self) -> runner.Testbench:
        return self.bench("ff_fail", "ff_fail")

    @property
    def flaky(self) -> runner.Testbench:
        return self.bench("ff_flaky", "ff_flaky", FF_FLAKY_MARK=str(self.folder / "flaky.mark"))

    @property
    def segv(self) -> runner.Testbench:
        return self.bench("ff_segv", "ff_crash", FF_CRASH="segv")

    @property
    def exits(self) -> runner.Testbench:
        return self.bench("ff_exit", "ff_crash", FF_CRASH="exit")

    @property
    def hang(self) -> runner.Testbench:
        return self.bench("ff_hang", "ff_hang")


@pytest.fixture
def ff(tmp_path, monkeypatch) -> Benches:
    """The flip-flop's Verilog (outside any build folder) and the test modules on sys.path."""
    modules = tmp_path / "modules"
    modules.mkdir()
    for name, text in MODULES.items():
        (modules / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(modules))
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    (rtl / "ff.v").write_text(FLIP_FLOP)
    return Benches(tmp_path, rtl / "ff.v")


def use_benches(monkeypatch, *benches: runner.Testbench) -> None:
    """Make ``kchip verify`` know exactly ``benches``."""
    monkeypatch.setattr(runner, "discover", lambda: {bench.name: bench for bench in benches})


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its parent counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
