"""``results.json``: the run's system, config and case results, schema-versioned."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any, Sequence

from openaiperf import __version__
from openaiperf.errors import ConfigError

SCHEMA_VERSION = 1


def results_document(system: dict[str, Any], config: dict[str, Any], cases: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "openaiperf_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "system": system,
        "config": config,
        "cases": list(cases),
    }


def write_results(path: Path, document: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)


def read_results(path: Path) -> dict[str, Any]:
    """Read a results.json, refusing one of another schema version."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read results: {exc}", source=str(path)) from None
    version = document.get("schema_version") if isinstance(document, dict) else None
    if version != SCHEMA_VERSION:
        raise ConfigError(f"schema_version {version!r}; this version reads {SCHEMA_VERSION}", source=str(path))
    return document
