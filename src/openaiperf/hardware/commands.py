"""``ob init``: probe the machine and write ``system.json``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from openaiperf.errors import ConfigError
from openaiperf.hardware.probe import match_profile, probe_system

__all__ = ["register", "run_init"]

_HINT = (
    "ob init: nothing to do without --auto.\n"
    "  ob init --auto [--output system.json] [--detailed]   probes this machine (CPU, GPUs, memory,\n"
    "  software) and prints system.json; or write system.json by hand (see docs)."
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``init`` to an argparse subparsers object (from ``add_subparsers()``)."""
    parser = subparsers.add_parser(
        "init",
        help="probe this machine into system.json",
        description="Probe CPU, accelerators, memory and software; print (and optionally write) system.json.",
    )
    parser.add_argument("--auto", action="store_true", help="probe the machine")
    parser.add_argument("--output", "-o", type=Path, default=None, help="also write the JSON to this file")
    parser.add_argument("--detailed", action="store_true", help="add CPU flags and per-GPU details")
    parser.set_defaults(func=run_init)


def run_init(args: argparse.Namespace) -> int:
    """Run ``ob init``; returns the exit code."""
    if not args.auto:
        print(_HINT, file=sys.stderr)
        return 2
    system = probe_system(detailed=args.detailed)
    text = json.dumps(system.model_dump(mode="json", exclude_unset=True), indent=2)
    print(text)
    output: Path | None = args.output
    if output is not None:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n", encoding="utf-8")
    # The profile line goes to stderr so that `ob init --auto > system.json` stays valid JSON.
    try:
        name = match_profile(system)
    except ConfigError as exc:
        print(f"hardware profile: none matched ({exc}); use --hw <name>", file=sys.stderr)
    else:
        print(f"hardware profile: {name} (use --hw {name}, or --hw auto)", file=sys.stderr)
    if output is not None:
        print(f"wrote {output}", file=sys.stderr)
    return 0
