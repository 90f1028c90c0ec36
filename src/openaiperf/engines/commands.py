"""``ob engine list|register``: the engines, and engines users bring.

``ob engine register module:Class --name NAME`` (or ``path/to/file.py:Class``)
checks that the class implements the engine protocol and records it in the user
registry file (``$OPENAIPERF_HOME/engines.yaml`` or
``~/.config/openaiperf/engines.yaml``), which the engine registry
(:data:`openaiperf.engines.engines`) reads; the engine is then usable in a
matrix or with ``--engine NAME``. ``ob backend`` is the same group under the
name the original command line used.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from openaiperf.engines import engines, user_engines
from openaiperf.errors import ConfigError
from openaiperf.registry import load_target
from openaiperf.userdir import user_engines_file

__all__ = ["register", "user_engines"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, hidden in (("engine", False), ("backend", True)):
        description = "Engines: built-in, registered, and entry points."
        # a hidden alias has no help: argparse then leaves it out of the command list
        parser = subparsers.add_parser(name, description=description) if hidden else subparsers.add_parser(
            name, description=description, help="list the engines, register one of your own")
        commands = parser.add_subparsers(dest="engine_command", metavar="ACTION", required=True)
        add = commands.add_parser("register", help="register an engine class: module:Class or file.py:Class")
        add.add_argument("target", help="module:Class, or path/to/file.py:Class")
        add.add_argument("--name", required=True, help="the engine's name in matrices and --engine")
        add.add_argument("--force", action="store_true", help="replace a registered engine of the same name")
        add.set_defaults(func=run_register)
        listing = commands.add_parser("list", help="list the engines: origin, capabilities, options, whether usable")
        listing.set_defaults(func=run_list)


def run_register(args: argparse.Namespace) -> int:
    import yaml


    target = args.target
    module, _, attr = target.rpartition(":")
    if not module or not attr:
        raise ConfigError("expected module:Class or path/to/file.py:Class", source=target)
    if module.endswith(".py"):
        path = Path(module).expanduser().resolve()
        if not path.is_file():
            raise ConfigError("file does not exist", source=str(path))
        target = f"{path}:{attr}"
    if args.name in engines.builtins:
        raise ConfigError(f"a built-in engine is named {args.name!r}; choose another name", source="--name")
    registered = user_engines()
    if args.name in registered and not args.force:
        raise ConfigError(f"engine {args.name!r} is already registered ({registered[args.name]}); use --force",
                          source="--name")
    engines.check(load_target(target, source=target), args.name)
    registered[args.name] = target
    path = user_engines_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"engines": registered}, sort_keys=True), encoding="utf-8")
    print(f"registered engine {args.name} -> {target} ({path})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    for name in engines.names():
        origin, where = engines.origin(name)
        try:
            cls = engines.get(name)
        except (ImportError, ConfigError) as exc:
            print(f"{name:<16} {origin:<12} {where}  (cannot load: {exc})")
            continue
        capabilities = ",".join(name for name, has in (("concurrent", cls.concurrent), ("online", cls.online))
                                if has) or "-"
        options = ", ".join(cls.Options.model_fields) or "any"
        reason = cls.unavailable_reason()
        print(f"{name:<16} {origin:<12} {where}  [{capabilities}] options: {options}"
              + (f"  (not usable here: {reason})" if reason else ""))
    return 0
