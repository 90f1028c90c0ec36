"""``ob task list|validate|check|register``: task definitions as data.

``register`` copies a validated YAML into the user registry folder
(``$OPENAIPERF_HOME/tasks`` or ``~/.config/openaiperf/tasks``), which the pytest
plugin reads: a registered task joins the benchmark matrix. A relative dataset
path in a registered task is rewritten to an absolute one so it still resolves.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from openaiperf.doctor import run_task_check
from openaiperf.errors import ConfigError
from openaiperf.paths import name_in
from openaiperf.registry_client.commands import connection_options, publish_task
from openaiperf.tasks import builtin_task_files, load_task_spec, user_task_files
from openaiperf.tasks.datasets import resolve_path
from openaiperf.userdir import user_tasks_dir

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("task", help="list, validate, check and register task definitions",
                                   description="Task definitions (YAML; see docs/new-task.md).")
    commands = parser.add_subparsers(dest="task_command", metavar="ACTION", required=True)
    validate = commands.add_parser("validate", help="check a task YAML (errors name the field)")
    validate.add_argument("file", type=Path)
    validate.set_defaults(func=run_validate)
    add = commands.add_parser("register", help="validate a task YAML and add it to the user registry")
    add.add_argument("file", type=Path)
    add.add_argument("--force", action="store_true", help="replace a registered task of the same name")
    add.set_defaults(func=run_register)
    listing = commands.add_parser("list", help="list built-in and registered tasks")
    listing.add_argument("--custom", action="store_true", help="only registered tasks")
    listing.set_defaults(func=run_list)
    check = commands.add_parser("check", help="can this task run here: its definition, its dataset (read)")
    check.add_argument("name", metavar="NAME")
    check.add_argument("--json", action="store_true", help="print the checks as JSON")
    check.set_defaults(func=run_check)
    publish = commands.add_parser("publish", help="publish a task YAML and its data files to the registry "
                                                  "(a token with the publish scope)")
    publish.add_argument("file", type=Path)
    connection_options(publish)
    publish.set_defaults(func=publish_task)


def run_check(args: argparse.Namespace) -> int:
    return run_task_check(args)


def run_validate(args: argparse.Namespace) -> int:
    spec = load_task_spec(args.file)
    print(f"{args.file}: ok: task {spec.name} {spec.version} (kind {spec.kind}, scenarios {', '.join(spec.scenarios)})")
    return 0


def run_register(args: argparse.Namespace) -> int:
    spec = load_task_spec(args.file)
    if spec.name in {load_task_spec(p).name for p in builtin_task_files().values()}:
        raise ConfigError(f"a built-in task is named {spec.name!r}; choose another name", source=str(args.file),
                          field="name")
    target = name_in(user_tasks_dir(), spec.name, field="task name", suffix=".yaml")
    if target.exists() and not args.force:
        raise ConfigError(f"task {spec.name!r} is already registered ({target}); use --force to replace it",
                          source=str(args.file))
    data = yaml.safe_load(Path(args.file).read_text(encoding="utf-8"))
    for dataset in (data.get("datasets") or {}).values():
        source = str(dataset.get("source", ""))
        if source and ":" not in source.split("/")[0]:
            dataset["source"] = str(resolve_path(source, Path(args.file).resolve().parent).resolve())
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    load_task_spec(target)
    print(f"registered task {spec.name} -> {target}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    rows = [] if args.custom else [("builtin", p) for p in builtin_task_files().values()]
    rows += [("custom", p) for p in user_task_files().values()]
    for origin, path in rows:
        spec = load_task_spec(path)
        print(f"{spec.name:<28} {spec.version:<8} {spec.kind:<14} {origin:<8} {path}")
    if not rows:
        print("(no registered tasks)" if args.custom else "(no tasks)")
    return 0
