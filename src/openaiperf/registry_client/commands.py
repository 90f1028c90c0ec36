"""``ob config``, ``ob submit`` and ``ob fetch`` (``ob task publish`` is beside the other
task commands and calls :func:`publish_task`).

    ob config --registry-url URL [--token TOKEN]      # ~/.openaiperf/config.yaml
    ob submit --artifact result.tgz [--tags a,b] [--description TEXT] [--registry URL]
    ob fetch --list
    ob fetch NAME [--version V] [--with-dataset] [--output-dir DIR]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from openaiperf.checksums import sha256_file
from openaiperf.errors import ConfigError
from openaiperf.registry_client.client import RegistryClient, RegistryError
from openaiperf.registry_client.settings import config_path, read_config, resolve, write_config
from openaiperf.tasks import load_task_spec
from openaiperf.tasks.datasets import resolve_path

_SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")


def _client(args: argparse.Namespace) -> Any:
    return RegistryClient(resolve(args.registry), retries=args.retries)


def cmd_config(args: argparse.Namespace) -> int:
    if args.registry_url is None and args.token is None:
        current = read_config()
        print(f"{config_path()}: registry.url {current.get('url') or '(not set)'}, "
              f"registry.auth_token {'(set)' if current.get('auth_token') else '(not set)'}")
        return 0
    token = SecretStr(args.token) if args.token else None
    path = write_config(args.registry_url, token)
    print(f"wrote {path}" + (" (with the token; readable by you only)" if token else ""))
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    artifact = Path(args.artifact)
    if not artifact.is_file():
        raise ConfigError("no such file (make one with `ob pack --output FILE`)", source=str(artifact))
    client = _client(args)
    tags = [t.strip() for t in (args.tags or "").split(",") if t.strip()]
    answer = client.submit(artifact, tags, args.description or "")
    if answer.get("duplicate"):
        raise RegistryError(f"not stored again: {answer.get('detail') or 'submitted already'} "
                            f"(submission {answer.get('id')}, run {answer.get('run_id')}: {answer.get('run_url')})",
                            status=409, answer=answer)
    print(f"submitted {artifact} to {client.settings.url} as submission {answer['id']}, "
          f"run {answer['run_id']}: {answer.get('run_url')}")
    return 0


def _print_tasks(tasks: list[dict[str, Any]]) -> None:
    if not tasks:
        print("no tasks published yet")
        return
    for task in tasks:
        files = ", ".join(f["name"] for f in task.get("files") or []) or "-"
        print(f"{task['name']:<28} {task['version']:<10} {task.get('kind') or '-':<14} {files}")


def cmd_fetch(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.list:
        _print_tasks(client.tasks())
        return 0
    if not args.name:
        raise ConfigError("name a task (ob fetch NAME) or pass --list", source="ob fetch")

    task = client.task(args.name, args.version)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    name, version = str(task["name"]), str(task["version"])
    if not _SAFE_FILE.match(name):
        raise ConfigError(f"the registry named the task {name!r}, not a file name", source="ob fetch")
    definition = output / f"{name}.yaml"
    client.download(name, version, "task.yaml", definition)
    print(f"task {name} {version} -> {definition}")
    if args.with_dataset:
        for file in task.get("files") or []:
            file_name = str(file["name"])
            if not _SAFE_FILE.match(file_name):
                raise ConfigError(f"the registry named a data file {file_name!r}, not a file name", source="ob fetch")
            target = output / file_name
            client.download(name, version, file_name, target)
            digest = sha256_file(target)
            if digest != file["sha256"]:
                target.unlink()
                raise ConfigError(f"{file_name}: sha256 {digest}, the registry lists {file['sha256']}; removed",
                                  source="ob fetch")
            print(f"data {file_name} ({file['bytes']} bytes, sha256 ok) -> {target}")
    elif task.get("files"):
        print(f"its data ({', '.join(f['name'] for f in task['files'])}): add --with-dataset")
    return 0


def publish_task(args: argparse.Namespace) -> int:
    """``ob task publish FILE``: the definition and the local data files its datasets name."""
    import yaml

    definition = Path(args.file)
    spec = load_task_spec(definition)
    data = yaml.safe_load(definition.read_text(encoding="utf-8"))
    files: list[Path] = []
    for label, dataset in (data.get("datasets") or {}).items():
        source = str((dataset or {}).get("source", ""))
        if source and ":" not in source.split("/")[0]:
            path = resolve_path(source, definition.resolve().parent)
            if not path.is_file():
                raise ConfigError(f"no such file {path}", source=str(definition), field=f"datasets.{label}.source")
            if path not in files:
                files.append(path)
    answer = _client(args).publish(definition, files)
    print(f"published task {spec.name} {answer['version']} with {len(answer['files'])} data file(s)")
    return 0


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", default=None, metavar="URL",
                        help="the registry (default: $OPENAIPERF_REGISTRY_URL, else registry.url in "
                             "~/.openaiperf/config.yaml); the token: $OPENAIPERF_TOKEN, else registry.auth_token")
    parser.add_argument("--retries", type=int, default=4, metavar="N",
                        help="retries on connection errors and 5xx answers, with exponential backoff (default 4)")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = subparsers.add_parser("config", help="the registry URL and token in ~/.openaiperf/config.yaml")
    config.add_argument("--registry-url", default=None, metavar="URL", help="the registry service")
    config.add_argument("--token", default=None, metavar="TOKEN",
                        help="the token to store (prefer $OPENAIPERF_TOKEN where a shell history is kept)")
    config.set_defaults(func=cmd_config)

    submit = subparsers.add_parser("submit", help="send an `ob pack` archive to the registry")
    submit.add_argument("--artifact", required=True, metavar="FILE", help="the archive (ob pack --output FILE)")
    submit.add_argument("--tags", default="", metavar="A,B", help="comma-separated tags, e.g. llama3,vllm,server")
    submit.add_argument("--description", default="", metavar="TEXT")
    _connection(submit)
    submit.set_defaults(func=cmd_submit)

    fetch = subparsers.add_parser("fetch", help="list or download task definitions (and their data) from the registry")
    fetch.add_argument("name", nargs="?", default=None, metavar="NAME")
    fetch.add_argument("--list", action="store_true", help="list the published tasks")
    fetch.add_argument("--version", default=None, metavar="V", help="a version (default: the newest published)")
    fetch.add_argument("--with-dataset", action="store_true", help="also download its data files (checksums checked)")
    fetch.add_argument("--output-dir", default=".", metavar="DIR", help="where to write them (default: here)")
    _connection(fetch)
    fetch.set_defaults(func=cmd_fetch)


def connection_options(parser: argparse.ArgumentParser) -> None:
    """``--registry`` and ``--retries``, for ``ob task publish``."""
    _connection(parser)
