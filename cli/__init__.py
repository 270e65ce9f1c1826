"""The ``kchip`` command: one sub-command module per area, each with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

from rich.console import Console
from rich.markup import escape

from kchip.flows.interrupt import Terminated, clear_stop, request_stop, stop_requested

#: Sub-command modules of kchip.cli, in the order ``kchip --help`` lists them.
COMMAND_MODULES = ("doctor", "flow", "view", "verify", "chiplet", "mpw")

console = Console(stderr=False, highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(Exception):
    """Bad input from the user: printed without a traceback, exit code 2."""


def _on_sigterm(signum, frame):
    """Stop as on Ctrl-C, once: a second SIGTERM must not cut the clean-up short.

    The request is recorded before the exception is raised, as the code the exception lands in may
    swallow it; the flow and :func:`main` check the record (see :mod:`kchip.flows.interrupt`).
    """
    if stop_requested():
        return
    request_stop()
    raise Terminated()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kchip",
        description="kchip: from Amaranth RTL to a DRC/LVS-clean, timed SKY130 layout.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"kchip.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    clear_stop()
    # first of all: building the parser imports every command module, which takes a while
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = build_parser().parse_args(argv)
        code = int(args.handler(args) or 0)
    except UserError as exc:
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        code = 2
    except KeyboardInterrupt:
        if not stop_requested():
            errors.print("[yellow]interrupted[/]")
            return 130
    # also when the SIGTERM's exception was swallowed and the command went on: it never ends in success
    if stop_requested():
        errors.print("[yellow]terminated (SIGTERM)[/]: the stages that were running are marked interrupted; "
                     "run the same command again to resume")
        return 143
    return code


if __name__ == "__main__":
    sys.exit(main())
