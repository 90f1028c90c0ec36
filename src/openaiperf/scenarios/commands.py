"""``ob scenario list``: the scenarios, their options and the flags that set them."""

from __future__ import annotations

import argparse

from openaiperf.errors import ConfigError
from openaiperf.registry import field_flag
from openaiperf.scenarios import ScenarioConfig, scenarios

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("scenario", help="list the scenarios and their options",
                                   description="Scenarios: built-in, registered, and entry points.")
    commands = parser.add_subparsers(dest="scenario_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="list the scenarios: origin, options (with their flags)")
    listing.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    shared = [f"{name} ({field_flag(ScenarioConfig, name)})" for name in ("min_duration_s", "min_queries")]
    print(f"{'(every scenario)':<16} {'':<12} options: {', '.join(shared)}")
    for name in scenarios.names():
        origin, where = scenarios.origin(name)
        try:
            cls = scenarios.get(name)
        except (ImportError, ConfigError) as exc:
            print(f"{name:<16} {origin:<12} {where}  (cannot load: {exc})")
            continue
        options = [f"{field} ({flag})" if (flag := field_flag(cls.Options, field)) else field
                   for field in cls.Options.model_fields]
        print(f"{name:<16} {origin:<12} {where}  options: {', '.join(options) or '-'}")
    return 0
