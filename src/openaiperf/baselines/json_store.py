"""Baselines as one JSON file per case: ``<root>/<hw-profile>/<case-id>.json``.

Indented, keys sorted, so that a baseline update reads well in a diff.
``root`` may also be a single profile's folder (``baselines/h100``): then its
files are used whatever profile the run has, and the configuration check decides.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from openaiperf import __version__
from openaiperf.baselines import (
    BASELINE_SCHEMA,
    BASELINE_SCHEMA_VERSION,
    MIN_BASELINE_ROUNDS,
    READ_BASELINE_SCHEMA_VERSIONS,
    Baseline,
    BaselineError,
    Round,
)
from openaiperf.errors import describe_validation
from openaiperf.metrics import Better
from openaiperf.paths import name_in
from openaiperf.redact import redact
from openaiperf.result import CaseIdentity, Fingerprint, MetricValue

REQUIRED_FIELDS = ("case_id", "hardware", "metrics", "rounds", "fingerprint")


def baseline_to_json(baseline: Baseline) -> dict[str, Any]:
    return {
        "schema": BASELINE_SCHEMA,
        "schema_version": BASELINE_SCHEMA_VERSION,
        "case_id": baseline.case_id,
        "hardware": baseline.hardware,
        "created": baseline.created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "openaiperf_version": baseline.openaiperf_version or __version__,
        # the case's engine options and settings may echo server flags or endpoints: no secret is stored
        "case": redact(baseline.case.model_dump(mode="json")),
        "settings": redact(baseline.settings),
        "fingerprint": redact(baseline.fingerprint.model_dump(mode="json") if baseline.fingerprint else {}),
        "metrics": {name: metric.model_dump(mode="json") for name, metric in baseline.metrics.items()},
        "rounds": [r.model_dump(mode="json") for r in baseline.rounds],
    }


def _check_metrics(metrics: Any, path: Path) -> None:
    if not isinstance(metrics, dict) or not all(isinstance(m, dict) and "value" in m for m in metrics.values()):
        raise BaselineError("field 'metrics' must map metric names to objects with a 'value'", path)
    for name, metric in metrics.items():
        try:
            Better.parse(metric.get("better", "none"), source=f"field 'metrics.{name}.better'")
        except ValueError as exc:
            raise BaselineError(str(exc), path) from None


def baseline_from_json(document: Any, path: Path) -> Baseline:
    """Validate a parsed baseline file; every complaint names the file and the field."""
    if not isinstance(document, dict):
        raise BaselineError(f"expected a JSON object, got {type(document).__name__}", path)
    if document.get("schema") != BASELINE_SCHEMA:
        raise BaselineError(f"field 'schema' is {document.get('schema')!r}, expected {BASELINE_SCHEMA!r}", path)
    version = document.get("schema_version")
    if version not in READ_BASELINE_SCHEMA_VERSIONS:
        readable = " or ".join(map(str, READ_BASELINE_SCHEMA_VERSIONS))
        raise BaselineError(f"field 'schema_version' is {version!r}; this version of openaiperf reads {readable} "
                            f"(re-save the baseline: --baseline-save with --repeats >= {MIN_BASELINE_ROUNDS})", path)
    for name in REQUIRED_FIELDS:
        if name not in document:
            raise BaselineError(f"missing field {name!r}", path)
    _check_metrics(document["metrics"], path)
    rounds = document["rounds"]
    if not isinstance(rounds, list) or not all(isinstance(r, dict) for r in rounds):
        raise BaselineError("field 'rounds' must be a list of objects ({\"run\": ..., \"values\": {metric: value}} "
                            "per round)", path)
    if len(rounds) < MIN_BASELINE_ROUNDS:
        raise BaselineError(f"field 'rounds' has {len(rounds)} round(s); a baseline needs at least "
                            f"{MIN_BASELINE_ROUNDS} (re-save it with --repeats {MIN_BASELINE_ROUNDS} or more)", path)
    fingerprint = document["fingerprint"]
    if not isinstance(fingerprint, dict) or not isinstance(fingerprint.get("checked"), dict):
        raise BaselineError("field 'fingerprint' must be an object with a 'checked' object", path)
    return Baseline(
        case_id=str(document["case_id"]), hardware=str(document["hardware"]),
        metrics=_typed(dict[str, MetricValue], document["metrics"], "metrics", path),
        rounds=_typed(list[Round], rounds, "rounds", path),
        fingerprint=_typed(Fingerprint, fingerprint, "fingerprint", path),
        case=_typed(CaseIdentity, document.get("case") or {}, "case", path), settings=document.get("settings") or {},
        created=str(document.get("created") or ""), openaiperf_version=str(document.get("openaiperf_version") or ""),
        source=str(path),
    )


def _typed(kind: Any, value: Any, name: str, path: Path) -> Any:
    """``value`` validated as ``kind``; a BaselineError names the file and the field."""
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        raise BaselineError(describe_validation(exc, prefix=name), path) from None


def read_baseline(path: Path) -> Baseline:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BaselineError(f"not valid JSON ({exc})", path) from None
    except OSError as exc:
        raise BaselineError(f"cannot be read ({exc.strerror or exc})", path) from None
    return baseline_from_json(document, path)


class JsonBaselineStore:
    """The baselines of ``baselines/``: ``load`` returns None when a case has none, and raises
    :class:`~openaiperf.baselines.BaselineError` for a file that exists but cannot be used."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, hardware: str, case_id: str) -> Path:
        """``<root>/<hardware>/<case_id>.json``; both names come from results and are checked."""
        folder = name_in(self.root, hardware, field="hardware")
        return name_in(folder, case_id, field="case id", suffix=".json")

    def find(self, hardware: str, case_id: str) -> Path | None:
        for path in (self.path_for(hardware, case_id), name_in(self.root, case_id, field="case id", suffix=".json")):
            if path.exists():
                return path
        return None

    def load(self, hardware: str, case_id: str) -> Baseline | None:
        path = self.find(hardware, case_id)
        return read_baseline(path) if path else None

    def save(self, baseline: Baseline) -> Path:
        """Write the baseline; one with fewer than :data:`MIN_BASELINE_ROUNDS` rounds is refused."""
        path = self.path_for(baseline.hardware, baseline.case_id)
        if len(baseline.rounds) < MIN_BASELINE_ROUNDS:
            raise BaselineError(f"{baseline.case_id} has {len(baseline.rounds)} round(s); a baseline needs at least "
                                f"{MIN_BASELINE_ROUNDS} (run with --repeats {MIN_BASELINE_ROUNDS} or more)", path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(baseline_to_json(baseline), indent=2, sort_keys=True, ensure_ascii=False, default=str)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    def list(self, hardware: str) -> list[str]:
        folder = self.root / hardware
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
