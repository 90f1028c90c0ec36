"""Dataset loading: local CSV/JSONL/JSON files, files shipped in a package, and
hub datasets when online. A file with a ``sha256`` in its spec is verified first;
rows must carry the columns the task needs (named in the error if not)."""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from openaiperf.checksums import sha256_file
from openaiperf.errors import ConfigError
from openaiperf.tasks import DatasetSpec


def resolve_path(source: str, base_dir: Path | None = None) -> Path:
    """``package:<pkg>/<file>`` or a path (relative to ``base_dir``, the task file's folder)."""
    if source.startswith("package:"):
        package, _, rel = source.removeprefix("package:").partition("/")
        return Path(str(resources.files(package).joinpath(rel)))
    path = Path(source).expanduser()
    if not path.is_absolute() and base_dir is not None and not path.exists():
        path = base_dir / path
    return path


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
) -> tuple[list[dict[str, Any]], str]:
    """Rows with the task's field names (renamed through ``spec.columns``), and
    the source they came from."""
    source = source_override or spec.source
    if source.startswith("hf:"):
        rows = _read_hub(source)
    else:
        path = resolve_path(source, base_dir)
        if not path.is_file():
            raise ConfigError("dataset file does not exist", source=str(path))
        if spec.sha256 and not source_override:
            actual = sha256_file(path)
            if actual != spec.sha256:
                raise ConfigError(
                    f"checksum mismatch: expected sha256 {spec.sha256}, the file has {actual}", source=str(path)
                )
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
    return [{field: row[column] for field, column in columns.items()} for row in rows], source


def _format_from_suffix(path: Path, default: str) -> str:
    return {".csv": "csv", ".jsonl": "jsonl", ".json": "json", ".txt": "text"}.get(path.suffix.lower(), default)
