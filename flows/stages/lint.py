"""Lint: Verilator's lint of the RTL; errors stop the flow, warnings are counted."""

from __future__ import annotations

from kchip.design.rtl import RtlSources
from kchip.flows.stage import Stage, StageFailed
from kchip.tools import verilator


class Lint(Stage):
    """Verilator lint of the RTL; errors stop the flow, warnings are counted."""

    name, order, upstream = "lint", 2, ("elaborate",)
    reads = ("rtl",)
    tools = (verilator.TOOL,)

    def extra_inputs(self):
        return {"top": self.design().top}

    def execute(self, ctx):
        log_name = "verilator-lint.log"
        rtl = RtlSources.load(ctx.views["rtl"])
        args = verilator.lint_args(rtl.files, rtl.top, include_dirs=rtl.include_dirs, defines=rtl.define_args(),
                                   parameters=rtl.parameter_values())
        log = ctx.invocation.run(verilator.TOOL, args, log_name=log_name, ok_codes=(0, 1))
        counts = verilator.count_messages(log)
        if counts["errors"]:
            errors = verilator.first_errors(log)
            more = counts["errors"] - len(errors)
            raise StageFailed(
                f"{ctx.design.file}: lint of top {ctx.design.top!r}: {counts['errors']} Verilator error(s) in "
                f"{', '.join(str(f) for f in rtl.files[:3])}{' ...' if len(rtl.files) > 3 else ''}:\n  " + "\n  ".join(errors)
                + (f"\n  ... and {more} more" if more > 0 else "") + f"\nlog: {ctx.folder / log_name}")
        return {}, {"lint__warnings__count": counts["warnings"], "lint__errors__count": 0}
