"""Helpers the physical stages share: the PDK's technology and cell views, the layout view and
the timing constraints of a clock tree."""

from __future__ import annotations

from pathlib import Path

from kchip.flows.physical.layout import Layout
from kchip.formats.lef import read_macros
from kchip.flows.stage import StageContext
from kchip.flows.timing.generated_clocks import register_made_clocks
from kchip.formats.liberty import read_cells
from kchip.formats.sdc import pdk_constraints, write_sdc
from kchip.pdk.rules import load_rules


def technology(ctx: StageContext):
    """The process rules (:mod:`kchip.pdk.rules`: the tech LEF and the descriptor) and the
    standard-cell macros of the stage's PDK."""
    return load_rules(ctx.pdk), read_macros(ctx.pdk.lef)


def load_layout(ctx: StageContext) -> Layout:
    return Layout.load(ctx.views["layout"])


def save_layout(ctx: StageContext, layout: Layout, suffix: str) -> Path:
    path = ctx.folder / f"{ctx.design.top}.{suffix}.json"
    layout.save(path)
    return path


def clocked_sdc(ctx: StageContext, layout: Layout, path: Path, *, propagated: bool = True) -> Path:
    """The design's SDC for timing ``layout`` after the clock tree: its clock propagated (ideal when
    not ``propagated``), and a generated clock at every register that clocks other registers
    (:mod:`kchip.flows.timing.generated_clocks`)."""
    d = ctx.design
    generated = register_made_clocks(layout, read_cells(ctx.pdk.liberty())) if d.clock_port else []
    return write_sdc(pdk_constraints(ctx.pdk, d.clock_port, d.clock_period_ns, propagated_clock=propagated,
                                     generated_clocks=tuple(generated)), path)
