"""``results.json``: the run's system, config and case results, schema-versioned.

Everything in it that may echo what a user typed or configured (the command
line, options, engine options and server flags, endpoints, engine info, notes,
errors) is passed through :func:`openaiperf.redact.redact` when the document is
written, so no API key, token or URL credential reaches the file, nor the HTML
and Markdown reports made from it. Numbers (metrics, per-round values, quality
scores) are left as they are: they echo nothing, and a metric named
``..._per_token`` is not a token.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any, Sequence

from openaiperf import __version__
from openaiperf.errors import ConfigError
from openaiperf.redact import redact

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


#: case fields that hold only measured numbers (and their names): never redacted
NUMERIC_CASE_FIELDS = frozenset({"metrics", "rounds", "validity", "valid", "calibration"})


def redact_case(case: dict[str, Any]) -> dict[str, Any]:
    """A case result with secrets masked in every field that may echo user input."""
    out = {key: value if key in NUMERIC_CASE_FIELDS else redact(value) for key, value in case.items()}
    quality = case.get("quality")
    if isinstance(quality, dict):  # scores are numbers; details and check texts may quote input
        out["quality"] = {k: v if k in ("scores", "intervals") else redact(v) for k, v in quality.items()}
    return out


def redact_document(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with secrets masked (see the module docstring)."""
    out = {key: redact(value) if key in ("config", "system") else value for key, value in document.items()}
    out["cases"] = [redact_case(case) if isinstance(case, dict) else case for case in document.get("cases", [])]
    return out


def write_results(path: Path, document: dict[str, Any]) -> None:
    text = json.dumps(redact_document(document), indent=2, ensure_ascii=False, default=str)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
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
