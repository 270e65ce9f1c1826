"""Random small designs for property tests of the physical flow: random logic and registers with
random connectivity and fanout, random pin sides, utilisation and aspect ratio."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

SIDES = ("left", "right", "bottom", "top")
OPERATORS = ("&", "|", "^", "~&", "~|", "~^")


@dataclass(frozen=True)
class RandomDesign:
    seed: int
    cells: int
    inputs: int
    outputs: int
    utilization: float
    aspect_ratio: float

    def write(self, folder: Path) -> Path:
        """Write ``rand.v`` and ``rand.toml`` into ``folder``; return the design file."""
        rng = random.Random(self.seed)
        inputs = [f"i{k}" for k in range(self.inputs)]
        signals = list(inputs)
        lines, registers = [], []
        for k in range(self.cells):
            # preferential attachment: some signals get a high fanout
            pick = lambda: signals[min(int(rng.expovariate(1.0) * len(signals) / 3), len(signals) - 1)] \
                if rng.random() < 0.3 else rng.choice(signals)
            a, b, c = pick(), pick(), pick()
            while b == a and len(signals) > 1:
                b = pick()
            kind = rng.random()
            if kind < 0.15:
                expr = f"{a} ? {b} : {c}"
            elif kind < 0.25:
                expr = f"~{a}"
            else:
                op = rng.choice(OPERATORS)
                expr = f"~({a} {op[1:]} {b})" if op.startswith("~") else f"{a} {op} {b}"
            name = f"n{k}"
            if rng.random() < 0.25:
                registers.append(f"  always @(posedge clk) {name} <= {expr};")
                lines.append(f"  reg {name};")
            else:
                lines.append(f"  wire {name} = {expr};")
            signals.append(name)
        outputs = rng.sample(signals[self.inputs:], min(self.outputs, len(signals) - self.inputs))
        ports = ["input clk"] + [f"input {i}" for i in inputs] + [f"output o{k}" for k in range(len(outputs))]
        body = lines + registers + [f"  assign o{k} = {s};" for k, s in enumerate(outputs)]
        (folder / "rand.v").write_text("module randlogic(" + ", ".join(ports) + ");\n" + "\n".join(body) + "\nendmodule\n")
        names = ["clk", *inputs, *(f"o{k}" for k in range(len(outputs)))]
        sides = {side: [] for side in SIDES}
        for name in names:
            sides[rng.choice(SIDES)].append(name)
        pins = "\n".join(f"{side} = {names!r}".replace("'", '"') for side, names in sides.items())
        design = folder / "rand.toml"
        design.write_text(f"""[design]
name = "rand{self.seed}"
top = "randlogic"
[source]
verilog = ["rand.v"]
[clock]
port = "clk"
period_ns = 20
[floorplan]
utilization = {self.utilization}
aspect_ratio = {self.aspect_ratio}
[pins]
{pins}
""")
        return design
