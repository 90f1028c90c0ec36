"""``ob backend register|list``: engines users bring (seed 000's custom backends).

``ob backend register module:Class --name NAME`` (or ``path/to/file.py:Class``)
checks that the class implements the engine protocol and records it in the user
registry file (``$OPENAIPERF_HOME/engines.yaml`` or
``~/.config/openaiperf/engines.yaml``), which :func:`openaiperf.engines.engine_class`
reads; the engine is then usable in a matrix or with ``--engine NAME``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from openaiperf.engines import BUILTIN_ENGINES, check_engine_class, known_engines, load_target, user_engines
from openaiperf.errors import ConfigError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("backend", help="register and list engines",
                                   description="Engines (backends): built-in, entry points, and registered ones.")
    commands = parser.add_subparsers(dest="backend_command", metavar="ACTION", required=True)
    add = commands.add_parser("register", help="register an engine class: module:Class or file.py:Class")
    add.add_argument("target", help="module:Class, or path/to/file.py:Class")
    add.add_argument("--name", required=True, help="the engine's name in matrices and --engine")
    add.add_argument("--force", action="store_true", help="replace a registered engine of the same name")
    add.set_defaults(func=run_register)
    listing = commands.add_parser("list", help="list the engines")
    listing.set_defaults(func=run_list)


def run_register(args: argparse.Namespace) -> int:
    import yaml

    from openaiperf.userdir import user_engines_file

    target = args.target
    module, _, attr = target.rpartition(":")
    if not module or not attr:
        raise ConfigError("expected module:Class or path/to/file.py:Class", source=target)
    if module.endswith(".py"):
        path = Path(module).expanduser().resolve()
        if not path.is_file():
            raise ConfigError("file does not exist", source=str(path))
        target = f"{path}:{attr}"
    if args.name in BUILTIN_ENGINES:
        raise ConfigError(f"a built-in engine is named {args.name!r}; choose another name", source="--name")
    registered = user_engines()
    if args.name in registered and not args.force:
        raise ConfigError(f"engine {args.name!r} is already registered ({registered[args.name]}); use --force",
                          source="--name")
    check_engine_class(load_target(target, source=target), args.name)
    registered[args.name] = target
    path = user_engines_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"engines": registered}, sort_keys=True), encoding="utf-8")
    print(f"registered engine {args.name} -> {target} ({path})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from openaiperf.engines import _entry_points

    registered = user_engines()
    entry_points = _entry_points()
    for name in known_engines():
        if name in BUILTIN_ENGINES:
            origin, where = "builtin", BUILTIN_ENGINES[name]
        elif name in registered:
            origin, where = "registered", registered[name]
        else:
            origin, where = "entry point", entry_points[name].value
        print(f"{name:<16} {origin:<12} {where}")
    return 0
