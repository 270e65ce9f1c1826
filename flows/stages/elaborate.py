"""Elaborate: Verilog from the Amaranth generator, or the design's Verilog sources gathered."""

from __future__ import annotations

import importlib.metadata
from typing import Any

from kchip.design.amaranth import GeneratorError, build, to_verilog
from kchip.design.rtl import RtlSources
from kchip.design.sources import files_digest
from kchip.flows.stage import Stage, StageFailed


class Elaborate(Stage):
    """Generate Verilog from the Amaranth generator, or name the design's Verilog sources (kept
    where they are, as files of their own, with their include folders, defines and parameters)."""

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
        if d.verilog:
            sources = RtlSources(d.top, d.verilog, tuple(d.search_dirs()), d.defines, d.parameters)
        else:
            try:
                design = build(d.generator, d.parameters, f"{d.file}: source.amaranth")
            except GeneratorError as exc:
                raise StageFailed(str(exc)) from None
            generated = ctx.folder / f"{d.top}.v"
            generated.write_text(to_verilog(design, d.top))
            sources = RtlSources(d.top, (generated,))
        return {"rtl": sources.save(ctx.folder / f"{d.top}.rtl.json")}, {"elaborate__files__count": len(sources.files)}
