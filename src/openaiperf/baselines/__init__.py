"""Baselines: stored case results that later runs are compared with.

A baseline is one case's result on one hardware profile, kept as reviewable JSON
(``baselines/<hw-profile>/<case-id>.json``): the metrics with units and
directions, the per-round values (for a significance test over repeats) and the
per-request latencies (for a rank test). Storage backends implement
:class:`BaselineStore`; :mod:`json_store` is the one the suite uses.
:mod:`compare` decides what changed and whether it is significant, :mod:`gate`
turns that into pass/fail with tolerances from defaults, the task file and the
command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from openaiperf.errors import OpenAIPerfError

BASELINE_SCHEMA = "openaiperf.baseline"
BASELINE_SCHEMA_VERSION = 1


class BaselineError(OpenAIPerfError):
    """A baseline file that cannot be used: names the file and what is wrong."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


@dataclass
class Baseline:
    """One stored case result."""

    case_id: str
    hardware: str
    metrics: dict[str, dict[str, Any]]
    rounds: list[dict[str, float | None]] = field(default_factory=list)
    #: per-request latencies in ms: "ttft" / "tpot" / "e2e" -> values
    requests: dict[str, list[float]] = field(default_factory=dict)
    case: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    openaiperf_version: str = ""
    source: str = ""  # where it was read from

    def value(self, metric: str) -> float | None:
        return (self.metrics.get(metric) or {}).get("value")


class BaselineStore(Protocol):
    """Where baselines live. ``load`` returns None when there is none for the case,
    and raises :class:`BaselineError` for a file that exists but cannot be used."""

    def load(self, hardware: str, case_id: str) -> Baseline | None: ...

    def save(self, baseline: Baseline) -> Path: ...

    def list(self, hardware: str) -> list[str]: ...
