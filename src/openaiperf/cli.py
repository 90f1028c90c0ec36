"""The ``ob`` command. Each subcommand group lives beside its axis and adds
itself through a ``register(subparsers)`` function listed in :data:`COMMANDS`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from openaiperf import __version__
from openaiperf.errors import OpenAIPerfError

COMMANDS = (
    "openaiperf.hardware.commands",
    "openaiperf.doctor",
    "openaiperf.monitor.commands",
    "openaiperf.tasks.commands",
    "openaiperf.engines.commands",
    "openaiperf.scenarios.commands",
    "openaiperf.baselines.commands",
    "openaiperf.report.commands",
    "openaiperf.history.commands",
    "openaiperf.registry_service.commands",
    "openaiperf.registry_client.commands",
    "openaiperf.run_command",
)


def help_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A command group's action when no subcommand is given: its help, exit code 2."""

    def show(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ob", description="OpenAIPerf: LLM inference benchmarks")
    parser.add_argument("--version", action="version", version=f"openaiperf {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except OpenAIPerfError as exc:
        print(f"ob {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
