"""Scenarios: the load pattern, with MLPerf semantics.

A scenario drives an engine with a case's requests and returns a
:class:`ScenarioRun` (its records and the constraints it checked). Each one is a
module with a class implementing :class:`Scenario`, listed in
:data:`BUILTIN_SCENARIOS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Sequence

from openaiperf.errors import UnknownNameError
from openaiperf.records import Record, RecordSink, Request

BUILTIN_SCENARIOS: dict[str, str] = {
    "offline": "openaiperf.scenarios.offline:OfflineScenario",
    "single_stream": "openaiperf.scenarios.single_stream:SingleStreamScenario",
    "multi_stream": "openaiperf.scenarios.multi_stream:MultiStreamScenario",
    "server": "openaiperf.scenarios.server:ServerScenario",
    "interactive": "openaiperf.scenarios.interactive:InteractiveScenario",
}


@dataclass
class ScenarioConfig:
    """Knobs common to the scenarios; each scenario reads those it needs."""

    min_duration_s: float = 0.0
    min_queries: int = 1
    #: the largest failed-request fraction of a VALID run (``--max-error-rate``; MLPerf: none)
    max_error_rate: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScenarioRun:
    """What one measured round produced."""

    records: list[Record]
    start: float
    end: float
    #: constraint name -> met? (e.g. min_queries, min_duration, sla)
    constraints: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return all(self.constraints.values())


class Scenario(Protocol):
    name: ClassVar[str]
    #: the headline metric MLPerf reports for the scenario
    headline: ClassVar[str]

    def __init__(self, config: ScenarioConfig) -> None: ...

    def run(self, engine: Any, requests: Sequence[Request], sink: RecordSink, round_index: int = 0) -> ScenarioRun:
        """Drive ``engine`` with ``requests``; pass every finished record to ``sink``."""


def known_scenarios() -> list[str]:
    return sorted(BUILTIN_SCENARIOS)


def scenario_class(name: str) -> type:
    if name not in BUILTIN_SCENARIOS:
        raise UnknownNameError("scenario", name, known_scenarios(), source="--scenario")
    module_name, _, attr = BUILTIN_SCENARIOS[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def create_scenario(name: str, config: ScenarioConfig) -> Scenario:
    return scenario_class(name)(config)


def new_records(requests: Sequence[Request], round_index: int) -> list[Record]:
    return [Record(request_id=r.id, sample_id=r.sample_id, round=round_index) for r in requests]


def check_minimums(run: ScenarioRun, config: ScenarioConfig) -> None:
    """MLPerf validity: enough queries, a long enough run, and no more failed
    requests than allowed (a failed query makes an MLPerf run invalid)."""
    measured = [r for r in run.records if not r.warmup]
    run.constraints["min_queries"] = len(measured) >= config.min_queries
    run.constraints["min_duration"] = (run.end - run.start) >= config.min_duration_s
    check_error_rate(run, measured, config)


def check_error_rate(run: ScenarioRun, measured: Sequence[Record], config: ScenarioConfig) -> None:
    failed = sum(not r.ok for r in measured)
    rate = failed / len(measured) if measured else 0.0
    run.constraints["error_rate"] = rate <= config.max_error_rate
    if failed:
        run.notes.append(f"{failed} of {len(measured)} measured request(s) failed ({rate:.1%}; a VALID run "
                         f"allows {config.max_error_rate:.1%}, --max-error-rate)")
