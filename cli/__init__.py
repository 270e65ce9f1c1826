"""The ``kchip`` command: one sub-command module per area, each with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys

from rich.console import Console

#: Sub-command modules of kchip.cli, in the order ``kchip --help`` lists them.
COMMAND_MODULES = ("doctor", "flow", "verify", "chiplet")

console = Console(stderr=False, highlight=False)
errors = Console(stderr=True, highlight=False)


class UserError(Exception):
    """Bad input from the user: printed without a traceback, exit code 2."""


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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        errors.print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        errors.print("[yellow]interrupted[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
