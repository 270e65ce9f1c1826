"""Helpers the physical stages share: the PDK's technology and cell views, and the layout view."""

from __future__ import annotations

from pathlib import Path

from kchip.flows.physical.layout import Layout
from kchip.formats.lef import read_macros
from kchip.flows.stage import StageContext
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
