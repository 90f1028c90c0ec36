"""``results.json``: the run's system, config and case results (:class:`openaiperf.result.RunResult`),
schema-versioned.

Everything in it that may echo what a user typed or configured (the command
line, options, engine options and server flags, endpoints, engine info, notes,
errors) is passed through :func:`openaiperf.redact.redact` when the document is
written, so no API key, token or URL credential reaches the file, nor the HTML
and Markdown reports made from it. Numbers (metrics, per-round values, quality
scores) are left as they are: they echo nothing, and a metric named
``..._per_token`` is not a token.

Reading validates the file against the typed result. A file of the previous
layout (``schema_version`` 1) is upgraded as it is read; any other version is
refused with the file and the version named.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from openaiperf.errors import ConfigError, validation_error
from openaiperf.metrics.efficiency import calibrated_utilisation
from openaiperf.redact import redact
from openaiperf.result import SCHEMA_VERSION, CaseResult, RunConfig, RunResult, SystemInfo

__all__ = ["SCHEMA_VERSION", "read_results", "redact_case", "redact_document", "results_document",
           "upgrade_v1", "write_results"]

#: the older layouts this version reads, each upgraded as it is read
UPGRADABLE_VERSIONS = (1,)


def results_document(system: Mapping[str, Any] | SystemInfo, config: Mapping[str, Any] | RunConfig,
                     cases: Sequence[CaseResult]) -> RunResult:
    """The run's document, created now (each case's utilisation against the run's
    calibration added where the run has one)."""
    calibrated_utilisation(cases)
    return RunResult(system=SystemInfo.model_validate(system), config=RunConfig.model_validate(config),
                     cases=list(cases))


#: case fields that hold only measured numbers (and their names): never redacted
NUMERIC_CASE_FIELDS = frozenset({"metrics", "rounds", "validity", "valid", "calibration"})


def redact_case(case: dict[str, Any]) -> dict[str, Any]:
    """A case result (as JSON) with secrets masked in every field that may echo user input."""
    out = {key: value if key in NUMERIC_CASE_FIELDS else redact(value) for key, value in case.items()}
    quality = case.get("quality")
    if isinstance(quality, dict):  # scores are numbers; details and check texts may quote input
        out["quality"] = {k: v if k in ("scores", "intervals") else redact(v) for k, v in quality.items()}
    return out


def redact_document(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (a run as JSON) with secrets masked (see the module docstring)."""
    out = {key: redact(value) if key in ("config", "system") else value for key, value in document.items()}
    out["cases"] = [redact_case(case) if isinstance(case, dict) else case for case in document.get("cases", [])]
    return out


def write_results(path: Path, run: RunResult) -> None:
    """Write ``run`` to ``path`` (atomically), secrets masked."""
    text = json.dumps(redact_document(run.model_dump(mode="json")), indent=2, ensure_ascii=False, default=str)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def upgrade_v1(document: dict[str, Any]) -> dict[str, Any]:
    """A ``schema_version`` 1 document in the layout of version 2. Version 1 left a
    sweep variant's fields, the fingerprint and the baseline verdict out where they
    did not apply, and wrote an unprofiled case's ``profile`` as ``{}``; version 2
    writes every field (null where it does not apply)."""
    cases = []
    for case in document.get("cases") or []:
        if isinstance(case, dict) and case.get("profile") == {}:
            case = {**case, "profile": None}
        cases.append(case)
    return {**document, "schema_version": SCHEMA_VERSION, "cases": cases}


def parse_results(document: Any, source: str) -> RunResult:
    """A parsed results document as a :class:`RunResult` (an older version upgraded);
    a ConfigError names ``source``, the version and the fields at fault."""
    if not isinstance(document, dict):
        raise ConfigError(f"expected a JSON object, got {type(document).__name__}", source=source)
    version = document.get("schema_version")
    if version in UPGRADABLE_VERSIONS:
        document = upgrade_v1(document)
    elif version != SCHEMA_VERSION:
        raise ConfigError(f"schema_version {version!r}; this version of openaiperf reads {SCHEMA_VERSION} "
                          f"(and upgrades {', '.join(map(str, UPGRADABLE_VERSIONS))})", source=source)
    try:
        return RunResult.model_validate(document)
    except ValidationError as exc:
        raise validation_error(exc, source=source, limit=5,
                               lead=f"not a valid results document (schema_version {version})") from None


def read_results(path: Path) -> RunResult:
    """Read a results.json: validated, an older layout upgraded (see :func:`parse_results`)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read results: {exc}", source=str(path)) from None
    return parse_results(document, str(path))
