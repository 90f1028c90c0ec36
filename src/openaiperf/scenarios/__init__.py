"""Scenarios: the load pattern, with MLPerf semantics.

A scenario drives an engine with a case's requests and returns a
:class:`ScenarioRun` (its records and the constraints it checked). Each one is a
module with a :class:`Scenario` subclass registered by name in :data:`scenarios`
(built in: ``offline``, ``single_stream``, ``multi_stream``, ``server``,
``interactive``; any other with ``@scenarios.register("name")`` or an
``openaiperf.scenarios`` entry point; see ``docs/new-scenario.md``).

A scenario's options (the matrix's ``scenario_options``) are its ``Options``
model; a field made with :func:`~openaiperf.registry.option_field` and a
``flag`` is also a command-line flag (``--qps-target``...), applied to the cases
of every scenario whose options have that field. :class:`ScenarioConfig` holds
the knobs every scenario shares (``--min-duration``, ``--min-queries``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from openaiperf.engines import Engine
from openaiperf.metrics import MetricSet
from openaiperf.records import Record, RecordSink, Request, Workload
from openaiperf.registry import Options, Registry, add_registry, option_field, parse_options


class ScenarioConfig(Options):
    """Knobs common to the scenarios, validated when built."""

    min_duration_s: float = option_field(0.0, ge=0, flag="--min-duration", metavar="S",
                                         help="minimum measured duration for a VALID result, s")
    min_queries: int = option_field(1, ge=1, flag="--min-queries", metavar="N",
                                    help="minimum measured query count for a VALID result")
    allow_client_bound: bool = option_field(
        False, flag="--allow-client-bound",
        help="online cases: a round whose client, not the server, set the limit (client-bound) stays VALID")
    #: the largest failed-request fraction of a VALID run (``--max-error-rate``; MLPerf: none)
    max_error_rate: float = Field(default=0.0, ge=0, le=1)
    #: the task's default SLA bounds (its ``sla``), for the scenarios that judge one
    task_sla: dict[str, float] = Field(default_factory=dict)
    #: the scenario's own options, validated by its ``Options``
    options: dict[str, Any] = Field(default_factory=dict)


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
    #: every request sent in the round (warmup ones too), in the order they were sent:
    #: what the engine saw, e.g. to work out what an ideal prefix cache would have served
    requests: list[Request] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return all(self.constraints.values())


class Scenario:
    """Base class of scenarios: construct with a :class:`ScenarioConfig`, then :meth:`run`."""

    #: registry name (set by the registry when the class has none)
    name: ClassVar[str] = ""
    #: its own options (``scenario_options.<name>`` in a matrix); the base takes none
    Options: ClassVar[type[Options]] = Options
    #: capability: it sends requests that overlap in time (through ``stream``), so an
    #: engine that serves one at a time makes them queue (the case says so)
    overlapping: ClassVar[bool] = False
    #: capability: it drives multi-turn sessions (a task that builds
    #: :class:`~openaiperf.records.Session` s), each turn sent when the one before was answered
    sessions: ClassVar[bool] = False

    config: ScenarioConfig
    #: its options, validated by :attr:`Options` (an instance of it)
    options: BaseModel

    def __init__(self, config: ScenarioConfig) -> None:
        self.config = config
        self.options = parse_options(self.Options, config.options, source=f"scenario {self.name}")

    def run(self, engine: Engine, requests: Workload, sink: RecordSink, round_index: int = 0) -> ScenarioRun:
        """Drive ``engine`` with ``requests`` (requests, or multi-turn sessions when the task
        builds them: :func:`~openaiperf.records.is_sessions` tells; a scenario that cannot drive
        sessions leaves ``sessions`` False and is never given any); pass every finished
        record to ``sink``."""
        raise NotImplementedError

    def metrics(self, records: Sequence[Record], runs: Sequence[ScenarioRun]) -> MetricSet:
        """Metrics of the scenario's own, added to the case's (e.g. goodput, peak QPS)."""
        return {}


#: the scenario registry
scenarios: Registry[type[Scenario]] = add_registry(Registry(
    "scenario", "openaiperf.scenarios",
    builtins={
        "offline": "openaiperf.scenarios.offline:OfflineScenario",
        "single_stream": "openaiperf.scenarios.single_stream:SingleStreamScenario",
        "multi_stream": "openaiperf.scenarios.multi_stream:MultiStreamScenario",
        "server": "openaiperf.scenarios.server:ServerScenario",
        "interactive": "openaiperf.scenarios.interactive:InteractiveScenario",
    },
    base=Scenario, required=("run",)))


def scenario_class(name: str) -> type[Scenario]:
    return scenarios.get(name, source="--scenario")


def create_scenario(name: str, config: ScenarioConfig) -> Scenario:
    return scenario_class(name)(config)


def scenario_config(options: Mapping[str, Any], *, source: str, **common: Any) -> ScenarioConfig:
    """A case's ``scenario_options`` as a :class:`ScenarioConfig`: the shared knobs
    (``min_duration_s``, ``min_queries``, ``max_error_rate``) in their fields, the
    rest as the scenario's own options. ``common`` gives defaults (the run's
    ``max_error_rate``, the task's SLA) that the options override."""
    shared = {k: v for k, v in options.items() if k in ScenarioConfig.model_fields and k != "options"}
    own = {k: v for k, v in options.items() if k not in shared}
    return parse_options(ScenarioConfig, {**common, **shared, "options": own}, source=source)


def check_scenario_options(name: str, options: Mapping[str, Any], *, source: str) -> None:
    """``options`` valid for scenario ``name`` (shared and own; an unknown scenario is left
    to the name check, one whose module cannot be imported to its skip reason)."""
    if name not in scenarios:
        return
    try:
        cls = scenario_class(name)
    except ImportError:
        return
    config = scenario_config(options, source=source)
    parse_options(cls.Options, config.options, source=source)


def scenario_option_keys(name: str) -> set[str]:
    """The ``scenario_options`` keys scenario ``name`` takes (shared ones included)."""
    shared = set(ScenarioConfig.model_fields) - {"options", "task_sla"}
    return shared | set(scenario_class(name).Options.model_fields)


def new_records(requests: Sequence[Request], round_index: int) -> list[Record]:
    return [Record(request_id=r.id, sample_id=r.sample_id, round=round_index, session_id=r.session_id, turn=r.turn,
                   salt=r.salt, model=r.model)
            for r in requests]


def in_send_order(requests: Sequence[Request], records: Sequence[Record]) -> list[Request]:
    """The requests in the order they were sent (records aligned with them)."""
    pairs = sorted(zip(requests, records), key=lambda pair: (pair[1].sent is None, pair[1].sent or 0.0))
    return [request for request, _ in pairs]


def session_scenarios() -> list[str]:
    """The scenarios that drive multi-turn sessions."""
    return [name for name, cls in scenarios.classes().items() if cls.sessions]


def check_minimums(run: ScenarioRun, config: ScenarioConfig) -> None:
    """MLPerf validity: enough queries, a long enough run, and no more failed
    requests than allowed (a failed query makes an MLPerf run invalid)."""
    measured = [r for r in run.records if not r.warmup]
    run.constraints["min_queries"] = len(measured) >= config.min_queries
    run.constraints["min_duration"] = (run.end - run.start) >= config.min_duration_s
    check_error_rate(run, measured, config)


def check_error_rate(run: ScenarioRun, measured: Sequence[Record], config: ScenarioConfig) -> None:
    failed = sum(r.failed for r in measured)  # a cancelled request did not fail
    rate = failed / len(measured) if measured else 0.0
    run.constraints["error_rate"] = rate <= config.max_error_rate
    if failed:
        run.notes.append(f"{failed} of {len(measured)} measured request(s) failed ({rate:.1%}; a VALID run "
                         f"allows {config.max_error_rate:.1%}, --max-error-rate)")
