"""The typed result of a run: what ``results.json`` holds, from the runner to every writer.

:class:`RunResult` is one run (the system probe, the run's configuration, one
:class:`CaseResult` per case); :class:`CaseResult` is one case (its identity,
status, validity, metrics with units and directions, per-round values, quality,
resources, engine info, settings, notes, failures, profile, configuration
fingerprint and baseline verdict). The runner builds a :class:`CaseResult`, the
session collects them, :mod:`openaiperf.report.results` writes and reads the
file, and the console, Markdown, HTML, Allure, baseline, sweep, profiling and
history writers all read these models.

Every model validates when it is built and refuses a field it does not know,
except the objects whose content another part defines, which stay free-form and
say so: ``engine_info`` (engine-defined keys), ``quality.details`` (task-defined),
``calibration``, the run's ``config.options``, the ``system`` probe and the
monitor's ``resources`` beyond the fields named here (per-device keys), and a
scenario's own ``settings.scenario`` entries.

The JSON Schema of the file (``docs/result-schema.json``) is generated from
:class:`RunResult`; :data:`SCHEMA_VERSION` is bumped on any incompatible change.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from openaiperf import __version__
from openaiperf.metrics import Better, Metric
from openaiperf.redact import redact

if TYPE_CHECKING:
    from openaiperf.matrix import Case
    from openaiperf.tasks import QualityResult

#: the version of the results.json layout; bumped on any incompatible change
SCHEMA_VERSION: Final = 2

CaseStatus = Literal["passed", "failed", "error", "interrupted", "skipped"]
#: statuses that count as a failed case in the reports
FAILED_STATUSES: tuple[CaseStatus, ...] = ("failed", "error", "interrupted")


class Typed(BaseModel):
    """A result object: validated when built, an unknown field is an error."""

    model_config = ConfigDict(extra="forbid")


class FreeForm(BaseModel):
    """A result object whose content another part defines (the system probe, the
    monitor, a scenario): the fields named are typed, others are kept as they are."""

    model_config = ConfigDict(extra="allow")


def _omit_none(value: Any) -> bool:
    return value is None


# -- metrics ------------------------------------------------------------------------------
class MetricValue(Typed):
    """One number of a case with its unit and which direction is better; the
    confidence interval where one was computed (left out of the file otherwise)."""

    value: float | None
    unit: str
    better: Better = Better.NONE
    ci_low: float | None = Field(default=None, exclude_if=_omit_none)
    ci_high: float | None = Field(default=None, exclude_if=_omit_none)
    #: the column header a task file gave one of its quality metrics (it is then a column of the case tables)
    label: str | None = Field(default=None, exclude_if=_omit_none)

    @classmethod
    def of(cls, metric: Metric) -> MetricValue:
        return cls(value=metric.value, unit=metric.unit, better=metric.better, ci_low=metric.ci_low,
                   ci_high=metric.ci_high, label=metric.label)


def metric_values(metrics: Mapping[str, Metric | MetricValue]) -> dict[str, MetricValue]:
    """A case's metrics as result values (a :class:`MetricValue` is kept as it is)."""
    return {name: m if isinstance(m, MetricValue) else MetricValue.of(m) for name, m in metrics.items()}


# -- quality ------------------------------------------------------------------------------
class QualityCheck(Typed):
    passed: bool
    detail: str


class CaseQuality(Typed):
    """Quality scores, their confidence intervals, and the verdict of each target.
    ``details`` is task-defined (free-form): dataset source and checksum, scored samples..."""
    scores: dict[str, float] = Field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = Field(default_factory=dict)
    checks: dict[str, QualityCheck] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks.values())

    @classmethod
    def of(cls, quality: QualityResult) -> CaseQuality:
        return cls(scores=dict(quality.scores), intervals=dict(quality.intervals),
                   checks={name: QualityCheck(passed=ok, detail=why) for name, (ok, why) in quality.checks.items()},
                   details=dict(quality.details))


# -- the engine, resources, settings, profile ----------------------------------------------
#: the library names whose versions results written before :attr:`EngineInfo.versions` kept
#: among the engine's other keys
LEGACY_VERSION_KEYS: Final = ("vllm", "sglang", "tensorrt_llm", "transformers", "torch", "aiohttp")


def _omit_empty(value: Any) -> bool:
    return not value


class EngineInfo(FreeForm):
    """What an engine reports about itself (its ``info()``): its name, the versions of the
    libraries it runs on, and engine-defined keys (device, options, mode...)."""

    engine: str | None = Field(default=None, exclude_if=_omit_none)
    versions: dict[str, str] = Field(
        default_factory=dict, exclude_if=_omit_empty,
        description="library -> version of what the engine runs on (the baseline fingerprint checks them)")

    @model_validator(mode="before")
    @classmethod
    def _versions_among_the_keys(cls, data: Any) -> Any:
        """A result written before ``versions`` existed named the versions among the other keys."""
        if isinstance(data, Mapping) and "versions" not in data:
            found = {key: value for key in LEGACY_VERSION_KEYS if isinstance(value := data.get(key), str)}
            if found:
                return {**data, "versions": found}
        return data


class ResourceSummary(FreeForm):
    """The resource monitor's summary over the case's rounds. Sampler-defined keys
    (``gpu0_util_mean``, ``gpu0_energy_j``...) are kept beside the fields named here."""

    monitor: str | None = None  # "off (--no-monitor)"
    samples: int | None = None
    interval_s: float | None = None
    duration_s: float | None = None
    rounds: int | None = None
    sampled_in: str | None = None
    timeline_file: str | None = None
    peak_process_rss_bytes: float | None = None
    mean_cpu_percent: float | None = None
    peak_system_memory_used_bytes: float | None = None
    energy_j: float | None = None
    monitored_energy_j: float | None = None
    energy_window_s: float | None = None
    energy_scope: str | None = None
    monitor_notes: list[str] | None = None
    monitor_warnings: list[str] | None = None


class EfficiencyBasis(Typed):
    """What MFU and MBU divide by, and where the figures come from."""

    compute_dtype: str
    activation_dtype: str
    weight_bytes_per_parameter: float
    kv_bytes_per_value: float
    devices: int
    quantization: str | None = None
    notes: list[str] = Field(default_factory=list)
    peak_flops_per_device: float | None = None
    peak_flops: float | None = None
    peak_source: str | None = None
    bandwidth_bytes_per_s_per_device: float | None = None
    bandwidth_bytes_per_s: float | None = None


class PeakTrial(Typed):
    qps: float
    valid: bool


class FindPeak(Typed):
    peak_qps: float | None
    trials: list[PeakTrial] = Field(default_factory=list)
    tolerance: float | None = None


class ClientLoadSummary(Typed):
    """The client's own load over a round (see :mod:`openaiperf.loadgen.client_load`)."""

    processes: int = Field(description="client processes: the case's own, or the driver and each worker")
    send_lag_p99_ms: float | None = None
    loop_lag_p99_ms: float | None = Field(default=None, description="event-loop lateness, p99 over the processes")
    loop_lag_max_ms: float | None = None
    cpu_cores: float | None = Field(default=None, description="CPU of the client processes, in cores")
    busiest_process_cpu: float | None = Field(default=None, description="the busiest process, fraction of a core")
    token_events_per_s: float | None = Field(default=None, description="chunks handled per second of the round")
    judged: bool = Field(description="False: the engine runs in the client's process, which cannot be told apart")
    client_bound: bool = Field(description="the client, not the server, set the limit")
    reason: str | None = None


class WorkerClock(Typed):
    before: dict[str, float] | None = None
    after: dict[str, float] | None = None
    drift_ms: float | None = None
    error_ms: float | None = None


class LoadgenWorker(Typed):
    worker: int
    node: str | None = None
    assigned: int = Field(description="requests (or sessions) the split gave it")
    reported: int = Field(description="records it reported (the rest were lost)")
    lost: str | None = Field(default=None, description="why it was lost, if it was")
    clock: WorkerClock | None = None


class LoadgenSummary(Typed):
    """Load generator workers of a round (``--loadgen-workers``, ``--loadgen-cluster``)."""

    transport: str = Field(description="processes (this host) or ray (a cluster)")
    workers: int
    split_seed: int | None = None
    clock_correction: bool
    clock_tolerance_ms: float
    clock_error_ms: float | None = Field(default=None, description="the largest worker offset uncertainty + drift")
    lost_requests: int
    dead_workers: list[int] = Field(default_factory=list)
    per_worker: list[LoadgenWorker] = Field(default_factory=list)


class ScenarioSettings(FreeForm):
    """What the scenario ran with (the rounds' settings merged). Named here: what the
    built-in scenarios set and the reports read; a scenario may add its own keys."""

    batching: str | None = None
    concurrency: int | None = None
    stream_count: int | None = None
    loop: str | None = None
    warmup_requests: int | None = None
    qps_target: float | None = None
    burstiness: float | None = None
    seed: int | None = None
    sla: dict[str, float] | None = None
    sla_source: str | None = None
    measured_requests: int | None = None
    scheduled_qps: float | None = None
    achieved_qps: float | None = None
    find_peak: FindPeak | None = None
    queued_in_front_of_engine: bool | None = None
    client: ClientLoadSummary | None = None
    loadgen: LoadgenSummary | None = None


class CaseSettings(Typed):
    """How the case was run: samples, rounds, dtype, the efficiency basis, the scenario's settings."""

    samples: int | None = None
    repeats: int | None = None
    subset_seed: int | None = None
    warmup_samples: int | None = None
    dtype: str | None = None
    max_new_tokens: int | None = None
    efficiency: EfficiencyBasis | None = None
    scenario: ScenarioSettings | None = None
    #: the run's salt, from which every prompt's salt derives (``--salt`` reproduces the prompts)
    salt: str | None = None
    #: "declared": the workload shares prefixes on purpose; "none": it is cold
    prefix_sharing: Literal["declared", "none"] | None = None


class ProfiledOp(Typed):
    name: str
    calls: int
    self_cpu_ms: float
    self_cpu_percent: float
    self_device_ms: float
    self_device_percent: float


class CaseProfile(Typed):
    """``--profile``: the PyTorch profiler's trace and top ops, or where the Nsight report is."""

    tool: Literal["torch", "nsys", "ncu"]
    round: int | None = None
    sorted_by: Literal["self_cpu_ms", "self_device_ms"] | None = None
    trace_file: str | None = None
    table_file: str | None = None
    top_ops: list[ProfiledOp] = Field(default_factory=list)
    wrapped: bool | None = None
    nvtx_range: str | None = None
    report: str | None = None
    kernel_table: str | None = None


# -- workloads: sessions, the server's own metrics, batch invariance ----------------------
class TurnStats(Typed):
    """The requests of one turn index of a multi-turn workload (turn 1 is every session's first)."""

    turn: int
    requests: int
    ok: int
    input_tokens_mean: float | None = None
    output_tokens_mean: float | None = None
    ttft_mean_ms: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p90_ms: float | None = None
    tpot_mean_ms: float | None = None
    e2e_mean_ms: float | None = None


class SessionCacheHits(Typed):
    """The prefix cache's share of the sessions, from each response's cached prompt tokens:
    sessions that reported them, the per-session hit rates' mean, p50 and p10, and the
    token-weighted rate with its token counts (:func:`openaiperf.metrics.sessions.session_cache_hits`)."""

    sessions: int
    rate_mean: float | None = None
    rate_p50: float | None = None
    rate_p10: float | None = None
    rate: float | None = None
    cached_tokens: int = 0
    prompt_tokens: int = 0


class SessionSummary(Typed):
    """A multi-turn workload's sessions: how many, how many had every turn answered,
    turns and duration (s, first scheduled send to last answer) per session, the
    requests by turn index, and the prefix cache's hit rates per session (None when
    the server reports no cached tokens)."""

    sessions: int
    completed: int
    turns_mean: float | None = None
    duration_mean_s: float | None = None
    duration_p50_s: float | None = None
    duration_p90_s: float | None = None
    by_turn: list[TurnStats] = Field(default_factory=list)
    cache_hits: SessionCacheHits | None = None


class ServerRound(Typed):
    """What the server's /metrics counted in one round: counters' growth, each
    histogram's growth as [sum s, count], peaks of running/waiting requests, and
    whether it had counted every request the round completed when scraped."""

    round: int
    duration_s: float
    counters: dict[str, float] = Field(default_factory=dict)
    histograms: dict[str, tuple[float, float]] = Field(default_factory=dict)
    peaks: dict[str, float] = Field(default_factory=dict)
    settled: bool = True


class ServerMetricsSummary(Typed):
    """The server's own metrics around the case's rounds (see docs/serving.md): which
    server's names were read (vllm, sglang, tgi), from where (credentials masked), our
    name -> its name, its KV-cache block size when it says, and each round."""

    server: str
    url: str
    names: dict[str, str | None] = Field(default_factory=dict)
    block_size: int | None = None
    rounds: list[ServerRound] = Field(default_factory=list)


class RoundStalls(Typed):
    """One measured attempt at a round, watched for stalls of the client
    (:mod:`openaiperf.monitor.stalls`): an attempt whose longest stall reached
    ``--stall-limit`` is measured again, and its records are kept, marked ``discarded``."""

    round: int
    attempt: int = Field(default=0, description="0 for the first measurement of the round, then 1, 2...")
    longest_ms: float = Field(description="the longest time the client's watch thread woke up late, ms")
    limit_ms: float | None = Field(
        default=None, description="the stall that measures the attempt again (--stall-limit, or a tenth of its "
                                  "median TTFT or decoding time when longer); None: --stall-limit off")
    steal_ms: float | None = Field(
        default=None, description="CPU time the hypervisor took during the attempt, the most of any CPU, ms")
    seconds: float = Field(description="the attempt's length")
    over_limit: bool = Field(default=False, description="the longest stall reached --stall-limit")
    kept: bool = Field(default=True, description="its records count (False: measured again, records discarded)")


class BatchInvariance(Typed):
    """Greedy answers under load against the same requests served one at a time
    (concurrency ``reference_concurrency``) after the measured rounds: ``rate`` is
    the fraction identical; ``first_difference``, for each one that differs, the
    first position (``position_unit``) where it parts from its reference."""

    reference_concurrency: int = 1
    compared: int
    identical: int
    rate: float | None = None
    first_difference: list[int] = Field(default_factory=list)
    position_unit: Literal["tokens", "characters"] = "tokens"
    unmatched: int = 0
    reference_requests: int = 0
    reference_s: float | None = None


# -- the configuration fingerprint and the baseline verdict -------------------------------
class Fingerprint(Typed):
    """What a case was measured with (:mod:`openaiperf.baselines.fingerprint`): readable
    labels to values; ``checked`` parts refuse a comparison when they differ, ``noted`` ones are shown."""

    checked: dict[str, Any] = Field(default_factory=dict)
    noted: dict[str, Any] = Field(default_factory=dict)


class Outcome(str, Enum):
    """The verdict of a run against its baseline, per metric and per case."""

    REGRESSION = "regression"
    NO_REGRESSION = "no regression"
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:
        return self.value


class ConfigDifference(Typed):
    """One part of the configuration that differs from the baseline's."""

    part: str
    baseline: Any = None
    current: Any = None
    refuses: bool
    text: str


#: how a metric moved, read through its direction
Change = Literal["worse", "better", "same", "unknown"]


class MetricMeasures(Typed):
    """What a comparison of one metric against its baseline finds: the computation
    (:class:`openaiperf.baselines.compare.MetricComparison`) and its verdict share these."""

    metric: str
    unit: str
    better: Better
    tolerance: float
    outcome: Outcome = Outcome.INCONCLUSIVE
    baseline: float | None = None
    current: float | None = None
    ratio: float | None = None
    n_baseline: int = 0
    n_current: int = 0
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float
    p_value: float | None = None
    p_holm: float | None = None
    method: str = ""
    spread: float | None = None
    reason: str = ""
    settle: str = ""
    detectable: float | None = Field(
        default=None, description="an inconclusive metric's smallest relative change (worse side, e.g. 0.12) that "
        "these rounds would have called a regression")


class MetricVerdict(MetricMeasures):
    """One metric against its baseline, as the result file keeps it."""

    verdict: Outcome  # repeats ``outcome`` for readers that look for that name
    change: Change
    message: str = ""


class CaseComparisonResult(Typed):
    """Every gated metric of a case against its baseline, and the case's outcome."""

    case_id: str
    source: str
    baseline_hardware: str
    hardware: str
    outcome: Outcome
    verdict: Outcome
    settle: str = ""
    alpha: float
    summary: str = ""
    regressions: list[str] = Field(default_factory=list)
    inconclusive: list[str] = Field(default_factory=list)
    metrics: list[MetricVerdict] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class ABSide(Typed):
    """One side of an interleaved A/B comparison: what it measured and its metrics."""

    name: Literal["A", "B"]
    target: str = Field(description="where it ran: the endpoint (credentials removed) or the engine options that "
                        "differ from the other side's")
    engine_options: dict[str, Any] = Field(default_factory=dict, description="the side's engine options (redacted)")
    case_id: str = Field(description="the id the side's records and prompts are tagged with")
    records_file: str | None = None
    metrics: dict[str, MetricValue] = Field(default_factory=dict, description="over all of the side's rounds")
    rounds: list[dict[str, float | None]] = Field(default_factory=list, description="each round's metric values")


class ABComparison(Typed):
    """The ``ab`` entry of a case measured interleaved against two targets in one session
    (``--ab-endpoint`` / ``--ab-engine-option``): both sides, the order the rounds ran in,
    the looks of the sequential rule, and the paired verdict per metric (``comparison``:
    ``baseline`` is A's geometric mean, ``current`` B's, ``ratio`` B / A with its interval)."""

    a: ABSide
    b: ABSide
    order: str = Field(description='the measured rounds in the order they ran, e.g. "ABBAABBA"')
    pairs: int = Field(description="rounds measured on each side")
    max_pairs: int = Field(description="--ab-rounds: the most rounds a side")
    looks: list[int] = Field(default_factory=list, description="the round counts at which the verdict is looked at")
    alpha_per_look: float = Field(description="the significance level of each look (alpha spent evenly)")
    stopped: str = Field(default="", description="why the rounds stopped where they did")
    outcome: Outcome
    verdict: Outcome
    settle: str = ""
    summary: str = ""
    pair_ratios: dict[str, list[float | None]] = Field(
        default_factory=dict, description="metric -> B / A of each pair of rounds (None: a side had no value)")
    comparison: CaseComparisonResult


class BaselineVerdict(Typed):
    """The ``baseline`` entry of a case: the comparison's outcome (None when it was not
    compared: no baseline, or refused), what would settle an inconclusive one, every
    configuration difference and whether they refused the comparison, and where the
    case was saved as a baseline."""

    outcome: Outcome | None = None
    verdict: Outcome | None = None
    settle: str = ""
    refused: bool = False
    differences: list[ConfigDifference] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    saved: str | None = None
    comparison: CaseComparisonResult | None = None

    @property
    def label(self) -> str:
        """The verdict in a word or two: "refused", an outcome, or "" when not compared."""
        if self.refused:
            return "refused"
        return self.outcome.value if self.outcome is not None else ""


# -- one case -----------------------------------------------------------------------------
class CaseIdentity(Typed):
    """What a case is: task, scenario, engine, model and their options (a baseline file's ``case``)."""
    task: str | None = None
    scenario: str | None = None
    engine: str | None = None
    model: str | None = None
    engine_options: dict[str, Any] = Field(default_factory=dict)
    scenario_options: dict[str, Any] = Field(default_factory=dict)
    task_options: dict[str, Any] = Field(default_factory=dict)


class CaseResult(Typed):
    """One case's result. Built by :class:`openaiperf.runner.CaseRunner`; ``valid`` is
    derived from ``validity`` (every constraint met)."""

    id: str = Field(description="<task>-<scenario>-<engine>-<model>, and [<variant>] for a sweep variant")
    task: str
    scenario: str
    engine: str
    model: str
    engine_options: dict[str, Any] = Field(default_factory=dict, description="options given to the engine")
    scenario_options: dict[str, Any] = Field(default_factory=dict, description="options given to the scenario")
    task_options: dict[str, Any] = Field(
        default_factory=dict, description="task input-profile overrides of a sweep variant (max_new_tokens...)")
    variant: str = Field(default="", description='the swept values of a sweep variant ("batch_size=2"), else ""')
    base_id: str = Field(default="", description="the case id without the variant (the id outside a sweep)")
    hardware: str = Field(description="the hardware profile the case ran on")
    status: CaseStatus = "passed"
    validity: dict[str, bool] = Field(
        default_factory=dict, description="constraint -> met (min_duration, min_queries, error_rate, SLAs...)")
    metrics: dict[str, MetricValue] = Field(default_factory=dict, description="metric name -> value, unit, direction")
    rounds: list[dict[str, float | None]] = Field(
        default_factory=list, description="each measured round's metric values (what the baseline gate tests)")
    quality: CaseQuality | None = None
    resources: ResourceSummary = Field(default_factory=ResourceSummary)
    engine_info: EngineInfo = Field(
        default_factory=EngineInfo, description="the engine's info(): its name, library versions, engine-defined keys")
    settings: CaseSettings = Field(default_factory=CaseSettings)
    notes: list[str] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list, description="why a failed case failed (one line each)")
    error: str | None = Field(default=None, description="the exception that ended an error or interrupted case")
    records_file: str | None = Field(default=None, description="the per-request records, relative to the run folder")
    profile: CaseProfile | None = None
    fingerprint: Fingerprint | None = None
    baseline: BaselineVerdict | None = None
    ab: ABComparison | None = Field(default=None, description="interleaved A/B against a second target "
                                    "(--ab-endpoint, --ab-engine-option): both sides and the paired verdict")
    calibration: dict[str, Any] | None = Field(
        default=None, description="the hardware calibration's measurements (the calibration item only; free-form)")
    sessions: SessionSummary | None = Field(default=None, description="a multi-turn workload's sessions and turns")
    server_metrics: ServerMetricsSummary | None = Field(
        default=None, description="the server's own /metrics around each round (an engine that exposes them)")
    batch_invariance: BatchInvariance | None = Field(
        default=None, description="greedy answers under load vs alone (--batch-invariance)")
    stalls: list[RoundStalls] = Field(
        default_factory=list, description="each measured attempt at a round, watched for stalls of the client")

    @model_validator(mode="before")
    @classmethod
    def _derived_fields(cls, data: Any) -> Any:
        """``valid`` is derived: a file's value must agree with its ``validity``."""
        if isinstance(data, dict) and "valid" in data:
            data = dict(data)
            stated = data.pop("valid")
            validity = data.get("validity") or {}
            if isinstance(validity, dict) and stated != all(validity.values()):
                raise ValueError(f"valid is {stated!r} but validity is {validity!r}")
        return data

    @model_validator(mode="after")
    def _base_id(self) -> CaseResult:
        if not self.base_id:
            if self.variant:
                raise ValueError(f"case {self.id!r} is a sweep variant ({self.variant!r}) without a base_id")
            self.base_id = self.id
        return self

    def __repr_args__(self) -> Any:
        # options may echo server flags or endpoints with secrets: a traceback shows this repr
        for name, value in super().__repr_args__():
            if isinstance(value, BaseModel):
                value = value.model_dump()
            yield name, redact(value) if name in ("engine_options", "engine_info") else value

    @computed_field  # type: ignore[prop-decorator]
    @property
    def valid(self) -> bool:
        """Every validity constraint met (a case without constraints is valid)."""
        return all(self.validity.values())

    @classmethod
    def for_case(cls, case: Case, hardware: str, **fields: Any) -> CaseResult:
        """A result for ``case`` (a matrix case) on ``hardware``, not yet measured."""
        return cls(id=case.id, task=case.task, scenario=case.scenario, engine=case.engine, model=case.model,
                   engine_options=dict(case.engine_options), scenario_options=dict(case.scenario_options),
                   task_options=dict(case.task_options), variant=case.variant, base_id=case.base_id,
                   hardware=hardware, **fields)

    @property
    def identity(self) -> CaseIdentity:
        return CaseIdentity(task=self.task, scenario=self.scenario, engine=self.engine, model=self.model,
                            engine_options=self.engine_options, scenario_options=self.scenario_options,
                            task_options=self.task_options)

    def value(self, metric: str) -> float | None:
        """A metric's value; None when the case has no such metric or no value for it."""
        found = self.metrics.get(metric)
        return found.value if found is not None else None

    @property
    def qps_target(self) -> float | None:
        """The arrival rate asked for (server, interactive): the scenario option (a sweep's
        axis), else the rate the scenario ran at; None for a closed-loop scenario."""
        asked = self.scenario_options.get("qps_target")  # scenario options: option name -> value
        if asked is not None:
            return float(asked)
        return self.settings.scenario.qps_target if self.settings.scenario is not None else None

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def verdict_label(self) -> str:
        """The baseline (or A/B) verdict in a word or two ("" when not compared)."""
        if self.ab is not None:
            return self.ab.outcome.value
        return self.baseline.label if self.baseline is not None else ""


# -- one run ------------------------------------------------------------------------------
class CpuInfo(FreeForm):
    model: str | None = None
    #: physical cores
    cores: int | None = None
    threads: int | None = None
    frequency_ghz: float | None = None
    #: where the clock was read (the peak estimate names it)
    frequency_source: str | None = None
    #: whether ``frequency_ghz`` is the maximum clock (a current clock is no upper bound)
    frequency_is_max: bool | None = None
    #: the vector ISA extensions the peak estimate keys on (always probed)
    isa_extensions: list[str] = Field(default_factory=list)
    #: every CPU flag (``ob init --detailed``)
    flags: list[str] = Field(default_factory=list)


class AcceleratorInfo(FreeForm):
    name: str | None = None
    model: str | None = None
    count: int = 1
    memory_gb: float | None = None
    power_limits_w: list[float | None] | None = None


class MemoryInfo(FreeForm):
    total_gb: float | None = None
    total_bytes: int | None = None
    bandwidth_gbs: float | None = None


class HardwareInfo(FreeForm):
    cpu: CpuInfo = Field(default_factory=CpuInfo)
    accelerators: list[AcceleratorInfo] = Field(default_factory=list)
    memory: MemoryInfo | None = None


class ComputeBackend(FreeForm):
    type: str | None = None
    version: str | None = None


class SoftwareInfo(FreeForm):
    os: str | None = None
    python: str | None = None
    driver: str | None = None
    compute_backend: ComputeBackend | None = None
    packages: dict[str, str | None] = Field(default_factory=dict)


class SystemInfo(FreeForm):
    """The system probe (:func:`openaiperf.hardware.probe.probe_system`): typed where it is
    read (CPU, accelerators, software versions), the rest kept as probed."""

    hardware: HardwareInfo = Field(default_factory=HardwareInfo)
    software: SoftwareInfo = Field(default_factory=SoftwareInfo)
    probed_at: str | None = None
    #: environment variables that set CPU threading (OMP_NUM_THREADS), where set
    environment: dict[str, str] = Field(default_factory=dict)

    def summary(self) -> str | None:
        """"8x NVIDIA H100 80GB HBM3", or "AMD EPYC, 2 cores" on a CPU machine."""
        accelerators = self.hardware.accelerators
        if accelerators:
            return ", ".join(f"{a.count}x {a.model or a.name or '?'}" for a in accelerators)
        cpu = self.hardware.cpu
        if cpu.model:
            return f"{cpu.model}, {cpu.cores if cpu.cores is not None else '?'} cores"
        return None


class HardwareProfileInfo(FreeForm):
    """The hardware profile the run used (its YAML's fields beside the name)."""
    name: str


class RunConfig(Typed):
    """The run's configuration: the hardware profile, the options as given (free-form:
    option name -> value), and the pytest command line; secrets masked when written."""

    hardware_profile: HardwareProfileInfo | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    pytest_args: list[str] = Field(default_factory=list)
    config_files: list[str] = Field(
        default_factory=list, description="the matrix, task and model files the run read (absolute paths)")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class RunResult(Typed):
    """One run: what ``results.json`` holds."""

    schema_version: Literal[2] = Field(default=SCHEMA_VERSION,
                                       description="the layout's version, bumped on any incompatible change")
    openaiperf_version: str = __version__
    created: str = Field(default_factory=_now, description="when the document was written (ISO 8601, UTC)")
    system: SystemInfo = Field(default_factory=SystemInfo)
    config: RunConfig = Field(default_factory=RunConfig)
    cases: list[CaseResult] = Field(default_factory=list)

    @property
    def hardware_profile(self) -> str | None:
        """The hardware profile's name, else the first case's hardware."""
        if self.config.hardware_profile is not None:
            return self.config.hardware_profile.name
        return next((c.hardware for c in self.cases if c.hardware), None)


def result_schema() -> dict[str, Any]:
    """The JSON Schema of results.json (the file as written: ``valid`` included,
    a metric's absent interval left out)."""
    schema = RunResult.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            **schema, "title": f"OpenAIPerf results.json, schema_version {SCHEMA_VERSION}"}


def schema_text() -> str:
    """``docs/result-schema.json`` as committed (``python -m openaiperf.result > docs/result-schema.json``)."""
    import json

    return json.dumps(result_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(schema_text())
