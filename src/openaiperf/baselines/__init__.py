"""Baselines: stored case results that later runs are compared with.

A baseline is one case's result on one hardware profile, kept as reviewable JSON
(``baselines/<hw-profile>/<case-id>.json``): the metrics with units and typed
directions, the per-round values of at least :data:`MIN_BASELINE_ROUNDS` rounds
(their spread is what a new run is judged against) and the configuration
fingerprint (:mod:`fingerprint`) that a comparison checks first.
:mod:`json_store` reads and writes the files. :mod:`stats` holds the statistics, :mod:`compare` the three-outcome
verdict per metric and per case, :mod:`gate` the pytest glue (tolerances,
options, save and compare).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from openaiperf.errors import OpenAIPerfError
from openaiperf.result import CaseIdentity, Fingerprint, MetricValue

BASELINE_SCHEMA = "openaiperf.baseline"
#: 3: each round is ``{"run": ..., "values": {metric: value}}``; 2 (still read): a round was
#: ``{metric: value, "_run": run id}``
BASELINE_SCHEMA_VERSION = 3
#: the versions this one reads
READ_BASELINE_SCHEMA_VERSIONS = (2, 3)
#: a baseline's rounds give the round-to-round spread a new run is judged by: two
#: rounds leave one degree of freedom (an interval 6x wider than with many)
MIN_BASELINE_ROUNDS = 3
#: where a round of schema version 2 kept its run's id, beside the metric values
LEGACY_RUN_KEY = "_run"
#: a baseline keeps the rounds of its last runs (``--baseline-append``), each round tagged with its run
MAX_BASELINE_RUNS = 10
#: rounds measured more when a compared run's rounds make a regression (``--baseline-confirm``):
#: a machine's hiccup inflates a round now and then (one in 25 rounds read 8% or more high on this
#: project's 2-core VM, the client not stalled), and a verdict on one round would take it for the
#: engine's; a real slowdown shows in the new rounds too
CONFIRM_ROUNDS = 2


class BaselineError(OpenAIPerfError):
    """A baseline file that cannot be used: names the file and what is wrong."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


class Round(BaseModel):
    """One measured round as a baseline keeps it: each metric's value, and the run it was
    measured in (a baseline appended to run after run keeps the rounds of several)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: metric name -> the round's value (None: no value this round)
    values: dict[str, float | None] = Field(default_factory=dict)
    #: the id of the run it was measured in; "" for the rounds of one result, not yet tagged
    run: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_flat(cls, data: Any) -> Any:
        """A round as schema version 2 wrote it (and as a result's rounds are): metric -> value,
        the run's id under :data:`LEGACY_RUN_KEY`."""
        if not isinstance(data, Mapping):
            return data
        current = isinstance(data.get("values"), Mapping) and set(data) <= {"values", "run"}
        if not current:
            values = {str(k): v for k, v in data.items() if k != LEGACY_RUN_KEY}
            return {"values": values, "run": str(data.get(LEGACY_RUN_KEY) or "")}
        return data

    def value(self, metric: str) -> float | None:
        return self.values.get(metric)

    def in_run(self, run_id: str) -> Round:
        """This round tagged as measured in ``run_id``, unless it is tagged already."""
        return self if self.run else self.model_copy(update={"run": run_id})


@dataclass
class Baseline:
    """One case result as the gate sees it: a stored baseline, or a run's case. Its
    metrics, fingerprint and case are validated as they are built (plain dicts, as
    parsed from a file, become the typed result objects)."""

    case_id: str
    hardware: str
    metrics: dict[str, MetricValue]
    #: its rounds (given as :class:`Round` s, or as mappings in either file layout)
    rounds: list[Round] = field(default_factory=list)
    #: :func:`openaiperf.baselines.fingerprint.configuration`; None when the case carries none
    fingerprint: Fingerprint | None = None
    case: CaseIdentity = field(default_factory=CaseIdentity)
    #: the case's settings when it was measured (shown, not compared)
    settings: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    openaiperf_version: str = ""
    source: str = ""  # where it was read from

    def __post_init__(self) -> None:
        self.metrics = {name: MetricValue.model_validate(m) for name, m in self.metrics.items()}
        self.fingerprint = Fingerprint.model_validate(self.fingerprint) if self.fingerprint else None
        self.case = CaseIdentity.model_validate(self.case)
        self.rounds = [Round.model_validate(r) for r in self.rounds]

    def value(self, metric: str) -> float | None:
        found = self.metrics.get(metric)
        return found.value if found is not None else None

    def round_values(self, metric: str) -> list[float]:
        """The metric's value in every round that has one."""
        return [float(value) for r in self.rounds if (value := r.value(metric)) is not None]

    def run_values(self, metric: str) -> list[list[float]]:
        """The metric's round values grouped by the run they were measured in (untagged rounds are one run)."""
        runs: dict[str, list[float]] = {}
        for r in self.rounds:
            value = r.value(metric)
            if value is not None:
                runs.setdefault(r.run, []).append(float(value))
        return list(runs.values())

    @property
    def run_ids(self) -> list[str]:
        return list(dict.fromkeys(r.run for r in self.rounds))

    def tagged(self, run_id: str) -> Baseline:
        """This result with every untagged round marked as measured in ``run_id``."""
        return replace(self, rounds=[r.in_run(run_id) for r in self.rounds])


