"""Elaborate: Verilog from the Amaranth generator, or the design's Verilog sources gathered."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from kchip.design.amaranth import GeneratorError, build, to_verilog
from kchip.design.sources import files_digest
from kchip.flows.stage import Stage, StageFailed


class Elaborate(Stage):
    """Generate Verilog from the Amaranth generator (or gather the Verilog sources)."""

    name, order = "elaborate", 1
    writes = ("rtl",)

    def extra_inputs(self) -> dict[str, Any]:
        d = self.design()
        inputs = {"top": d.top, "generator": d.generator, "parameters": d.parameters,
                  "sources": files_digest(d.source_files(), d.file.parent)}
        if d.generator:
            inputs["amaranth"] = importlib.metadata.version("amaranth")
        return inputs

    def execute(self, ctx):
        d = ctx.design
        out = ctx.folder / f"{d.top}.v"
        if d.verilog:
            out.write_text("".join(Path(p).read_text() + "\n" for p in d.verilog))
        else:
            try:
                design = build(d.generator, d.parameters, f"{d.file}: source.amaranth")
            except GeneratorError as exc:
                raise StageFailed(str(exc)) from None
            out.write_text(to_verilog(design, d.top))
        return {"rtl": out}, {}
