"""The verdict of a run against its baseline: regression, no regression, or inconclusive.

Per metric (each with a typed direction, :class:`~openaiperf.metrics.Better`, and
a tolerance τ), on the per-round values of that very metric (a p90 verdict uses
the rounds' p90s, never a whole-distribution test), on the log scale
(:mod:`openaiperf.baselines.stats`):

- ``w`` = how much worse the run is: ``log(current / baseline)`` of the round
  geometric means, sign-flipped for a higher-is-better metric; ``θ`` = τ on the
  same scale (``log(1 + τ)``, or ``-log(1 - τ)`` for higher-is-better);
- **regression**: significantly worse (one-sided t, Holm-adjusted across the
  case's metrics, below ``alpha``) *and* the estimate worse than the tolerance
  (``w > θ``);
- **no regression**: the worse-side one-sided ``1 - alpha`` bound of ``w`` is
  within the tolerance (``≤ θ``): a regression beyond τ is ruled out. Claiming
  this for every metric at once needs no multiplicity correction (an
  intersection-union test);
- **inconclusive**: neither (too few rounds or too much noise to tell at τ), with
  the number of rounds that would settle it at the observed spread.

Per case: a regression if any metric regresses; else inconclusive if any metric
is; else no regression. The interval shown is the two-sided ``1 - 2·alpha``
interval of the ratio, whose worse end is the bound used above.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, Field

from openaiperf.baselines import Baseline, Round
from openaiperf.baselines import stats as gate_stats
from openaiperf.errors import ConfigError
from openaiperf.metrics import Better
from openaiperf.metrics.latency import MS, e2e_s, tpot_s, ttft_s
from openaiperf.records import Record, measured
from openaiperf.result import (
    CaseComparisonResult,
    CaseResult,
    Change,
    Fingerprint,
    MetricMeasures,
    MetricVerdict,
    Outcome,
)

__all__ = ["AB_ROUNDS", "ALPHA", "DRIFT", "MIN_AB_ROUNDS", "CaseComparison", "MetricComparison", "Outcome",
           "baseline_from_case", "compare_case", "compare_metric", "judged_rounds", "judged_side", "parse_alpha",
           "parse_drift", "per_request_latencies", "stalled_note"]

ALPHA = 0.05
#: the run-to-run drift (standard deviation of a run's log mean) a one-run baseline assumes:
#: it cannot measure it, and a gate that leaves it out cries wolf on a machine that drifts
#: (a multi-run baseline, ``--baseline-append``, measures it instead)
DRIFT = 0.05
#: the most rounds a side by default (``--ab-rounds``)
AB_ROUNDS = 8
#: the fewest rounds a side ``--ab-rounds`` accepts: a paired t needs two degrees of freedom
MIN_AB_ROUNDS = 3


def _parse_number(value: Any, accepts: Callable[[float], bool], expected: str, option: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not accepts(number):  # NaN is accepted by no range
        raise ConfigError(f"expected {expected}, got {value!r}", source=option)
    return number


def parse_alpha(value: Any, option: str = "--baseline-alpha") -> float:
    if value is None:
        return ALPHA
    return _parse_number(value, lambda a: 0 < a < 0.5, "a significance level 0 < ALPHA < 0.5 (e.g. 0.05)", option)


def parse_drift(value: Any, option: str = "--baseline-drift") -> float:
    if value is None:
        return DRIFT
    return _parse_number(value, lambda d: 0 <= d < 1, "a run-to-run drift 0 <= FRACTION < 1 (e.g. 0.02 for 2%)",
                         option)


#: display order: what needs attention first
OUTCOME_ORDER = {Outcome.REGRESSION: 0, Outcome.INCONCLUSIVE: 1, Outcome.NO_REGRESSION: 2}


# -- building comparable things ----------------------------------------------------------
def per_request_latencies(records: Sequence[Record]) -> dict[str, list[float]]:
    """Per-request TTFT / TPOT / E2E in ms of the measured, successful requests (for plots)."""
    ok = [r for r in measured(records) if r.ok]
    out: dict[str, list[float]] = {}
    for name, fn in (("ttft", ttft_s), ("tpot", tpot_s), ("e2e", e2e_s)):
        out[name] = [round(v * MS, 4) for r in ok if (v := fn(r)) is not None]
    return out


def baseline_from_case(case: CaseResult, fingerprint: Fingerprint | None = None) -> Baseline:
    """A case of a run in the shape of a baseline (its fingerprint: the case's own, else ``fingerprint``)."""
    return Baseline(
        case_id=case.id, hardware=case.hardware, metrics=dict(case.metrics),
        rounds=[Round(values=dict(r)) for r in case.rounds],
        fingerprint=case.fingerprint or fingerprint, case=case.identity,
        settings=case.settings.model_dump(mode="json"),
    )


def judged_rounds(case: CaseResult) -> tuple[list[dict[str, float | None]], list[int]]:
    """The rounds of a run the gate judges, and the indices of those it leaves out: a round
    the client stalled in at every attempt (a stall burst longer than the retries) holds the
    machine's pause, not the engine's time. A baseline keeps such rounds: they widen its
    spread, which can hide a regression but never invent one."""
    stalled = sorted({s.round for s in case.stalls if s.kept and s.over_limit})
    return [dict(r) for index, r in enumerate(case.rounds) if index not in stalled], stalled


def judged_side(case: CaseResult, fingerprint: Fingerprint | None = None) -> tuple[Baseline, list[int]]:
    """A run's case as the gate judges it (:func:`baseline_from_case` without the rounds
    :func:`judged_rounds` leaves out), and the indices of those rounds."""
    rounds, stalled = judged_rounds(case)
    side = baseline_from_case(case, fingerprint)
    side.rounds = [Round(values=r) for r in rounds]
    return side, stalled


def stalled_note(stalled: Sequence[int]) -> str:
    """The note of a judged run whose rounds ``stalled`` (0-based) were left out."""
    rounds = ", ".join(str(i + 1) for i in stalled)
    return f"baseline: round(s) {rounds} not judged: the client stalled in every attempt"


# -- one metric ---------------------------------------------------------------------------
def _percent(fraction: float) -> str:
    return f"{100 * fraction:+.1f}%"


class MetricComparison(MetricMeasures):
    """One metric against its baseline, as computed: the verdict's fields (round geometric means
    ``baseline``/``current``, the two-sided 1 - 2·alpha interval ``ci_low``..``ci_high``, the
    one-sided p-value of "worse" and after Holm across the case's metrics, the round-to-round
    ``spread`` of the log values) and the statistics behind them."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    confidence: float = 1 - 2 * ALPHA
    #: the rounds behind ``settle`` (for the case's most demanding answer)
    settle_rounds: gate_stats.Settle | None = Field(default=None, repr=False)
    #: the statistics behind the interval (None when the metric could not be tested)
    log_change: gate_stats.LogChange | None = Field(default=None, repr=False)

    @property
    def regression(self) -> bool:
        return self.outcome is Outcome.REGRESSION

    @property
    def worse(self) -> float | None:
        """log change on the worse side (positive: worse), from the typed direction."""
        return None if self.ratio is None else self.better.worse_by(math.log(self.ratio))

    @property
    def change(self) -> Change:
        """"worse", "better" or "same", read through the metric's direction."""
        worse = self.worse
        if worse is None:
            return "unknown"
        return "worse" if worse > 0 else "better" if worse < 0 else "same"

    @property
    def delta(self) -> float:
        return 0.0 if self.ratio is None else self.ratio - 1.0

    def tolerance_text(self) -> str:
        return f"{'+' if self.better is Better.LOWER else '-'}{100 * self.tolerance:.0f}%"

    def interval_text(self) -> str:
        if self.ci_low is None or self.ci_high is None:
            return "no interval"
        return f"{self.confidence:.0%} CI {_percent(self.ci_low - 1)} .. {_percent(self.ci_high - 1)}"

    def message(self) -> str:
        head = f"{self.metric} {self.outcome.value}"
        if self.ratio is None or self.baseline is None or self.current is None:
            return f"{head}: {self.reason}" + (f"; would settle it: {self.settle}" if self.settle else "")
        text = (f"{head}: {self.current:.4g} {self.unit} vs baseline {self.baseline:.4g} {self.unit}, "
                f"{_percent(self.delta)} ({self.change}; {self.interval_text()}")
        if self.p_value is not None and self.p_holm is not None:
            text += f", p={self.p_value:.2g}, Holm p={self.p_holm:.2g}"
        text += f"; {self.method}), tolerance {self.tolerance_text()}: {self.reason}"
        if self.detectable is not None:
            text += f"; the smallest change it could have caught: {self.detectable_text()}"
        if self.settle:
            text += f"; would settle it: {self.settle}"
        return text

    def detectable_text(self) -> str:
        if self.detectable is None:
            return ""
        return f"{'+' if self.better is Better.LOWER else '-'}{100 * self.detectable:.1f}%"

    def to_result(self) -> MetricVerdict:
        measures = self.model_dump(include=set(MetricMeasures.model_fields))
        return MetricVerdict(**measures, verdict=self.outcome, change=self.change, message=self.message())


def _direction(metric: str, baseline: Baseline, current: Baseline) -> tuple[Better | None, str]:
    """The metric's direction, agreed by both sides; (None, why) when it cannot be gated."""
    sides = [side.metrics[metric] for side in (baseline, current) if metric in side.metrics]
    directions = {m.better for m in sides}
    if len(directions) > 1:
        return None, "its better direction differs between the baseline and this run"
    direction = directions.pop() if directions else Better.NONE
    return (direction, "") if direction.gated else (None, "it has no better direction")


def compare_metric(metric: str, baseline: Baseline, current: Baseline, tolerance: float,
                   *, alpha: float = ALPHA, drift: float = DRIFT) -> MetricComparison | None:
    """Compare one metric before Holm (the case does that); None when neither side has it."""
    if baseline.value(metric) is None and current.value(metric) is None:
        return None
    direction, why = _direction(metric, baseline, current)
    unit = next((side.metrics[metric].unit for side in (current, baseline)
                 if metric in side.metrics and side.metrics[metric].unit), "")
    if direction is None:
        return MetricComparison(metric=metric, unit=unit, better=Better.NONE, tolerance=tolerance,
                                reason=f"not comparable: {why}")
    result = MetricComparison(metric=metric, unit=unit, better=direction, tolerance=tolerance, confidence=1 - 2 * alpha)
    base_runs, cur_rounds = baseline.run_values(metric), current.round_values(metric)
    base_rounds = [v for run in base_runs for v in run]
    result.n_baseline, result.n_current = len(base_rounds), len(cur_rounds)
    if not cur_rounds:
        result.reason = "not measured in this run"
        return result
    if sum(len(run) - 1 for run in base_runs) + len(cur_rounds) - 1 < 1:
        result.reason = f"the baseline has {len(base_rounds)} round(s) of it, too few for a round-to-round spread"
        result.settle = "re-save the baseline with --repeats 3 or more"
        return result
    if min(base_rounds + cur_rounds) <= 0:
        result.reason = "values <= 0 cannot be compared as ratios"
        return result
    change = gate_stats.log_change(base_runs, cur_rounds, assumed_drift=math.log1p(drift))
    result.log_change = change
    result.current = math.exp(sum(math.log(v) for v in cur_rounds) / len(cur_rounds))
    # The baseline's geometric mean is that of its run means (each run weighs alike).
    result.baseline = result.current / math.exp(change.estimate)
    result.ratio = math.exp(change.estimate)
    half = gate_stats.t_quantile(1 - alpha, change.df) * change.se if change.se > 0 else 0.0
    result.ci_low, result.ci_high = math.exp(change.estimate - half), math.exp(change.estimate + half)
    worse = direction.worse_by(change.estimate)
    result.p_value = gate_stats.p_worse(worse, change.se, change.df)
    result.method = change.method
    result.spread = math.expm1(change.spread)
    return result


def detectable_change(better: Better, threshold: float, se: float, df: float, level: float) -> float:
    """The smallest relative change on the worse side that a comparison of standard error
    ``se`` would call a regression: beyond the tolerance (``threshold``, worse-side log) and
    significant at ``level`` (a metric's Holm level)."""
    worse = max(threshold, gate_stats.t_quantile(1 - level, df) * se if se > 0 else 0.0)
    return math.expm1(worse) if better is Better.LOWER else -math.expm1(-worse)


def inconclusive_reason(result: MetricComparison, worse: float, threshold: float, significant: bool,
                        holm_bound: str = "") -> str:
    """Why a metric is inconclusive, in the words of the gate and of the A/B comparison
    (``holm_bound``: what the Holm p-value fell short of, e.g. " >= 0.05")."""
    if worse > threshold:
        return f"worse beyond the tolerance, but not significantly (Holm p={result.p_holm:.2g}{holm_bound})"
    if significant:
        return f"significantly worse, but it cannot be told whether by more than {result.tolerance_text()}"
    return f"too noisy to rule out a change beyond {result.tolerance_text()}"


def _decide(result: MetricComparison, change: gate_stats.LogChange, level: float, alpha: float) -> None:
    """Set the outcome, reason and what would settle it (after Holm)."""
    worse = result.better.worse_by(change.estimate)
    threshold = result.better.tolerance_log(result.tolerance)
    bound = gate_stats.worse_bound(worse, change.se, change.df, alpha)
    significant = result.p_holm is not None and result.p_holm < alpha
    if significant and worse > threshold:
        result.outcome = Outcome.REGRESSION
        result.reason = "significantly worse, beyond the tolerance"
        return
    if bound <= threshold:
        result.outcome = Outcome.NO_REGRESSION
        result.reason = f"a change beyond {result.tolerance_text()} is ruled out"
        return
    result.outcome = Outcome.INCONCLUSIVE
    result.reason = inconclusive_reason(result, worse, threshold, significant, f" >= {alpha:g}")
    result.detectable = detectable_change(result.better, threshold, change.se, change.df, level)
    result.settle_rounds = gate_stats.rounds_to_settle(change, worse, threshold, alpha, level)
    result.settle = result.settle_rounds.text(change, result.tolerance)


# -- one case -----------------------------------------------------------------------------
@dataclass
class CaseComparison:
    case_id: str
    baseline_source: str
    baseline_hardware: str
    hardware: str
    alpha: float = ALPHA
    metrics: list[MetricComparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[MetricComparison]:
        return [m for m in self.metrics if m.outcome is Outcome.REGRESSION]

    @property
    def inconclusive(self) -> list[MetricComparison]:
        return [m for m in self.metrics if m.outcome is Outcome.INCONCLUSIVE]

    @property
    def outcome(self) -> Outcome:
        if self.regressions:
            return Outcome.REGRESSION
        if self.inconclusive or not self.metrics:
            return Outcome.INCONCLUSIVE
        return Outcome.NO_REGRESSION

    @property
    def settle(self) -> str:
        """What would settle an inconclusive case: the most demanding of its metrics' answers."""
        if self.outcome is not Outcome.INCONCLUSIVE:
            return ""
        if not self.metrics:
            return "no gated metric could be compared"
        answers = [m for m in self.inconclusive if m.settle]
        if not answers:
            return ""
        hardest = max(answers, key=lambda m: m.settle_rounds.demand if m.settle_rounds else (3, 0))
        return hardest.settle

    def summary(self) -> str:
        counts = {o: sum(m.outcome is o for m in self.metrics) for o in Outcome}
        text = (f"{self.outcome.value} ({counts[Outcome.REGRESSION]} regression, {counts[Outcome.INCONCLUSIVE]} "
                f"inconclusive, {counts[Outcome.NO_REGRESSION]} no regression; alpha {self.alpha:g}, Holm over "
                f"{sum(m.p_value is not None for m in self.metrics)} metrics)")
        return text + (f"; would settle it: {self.settle}" if self.settle else "")

    def to_result(self) -> CaseComparisonResult:
        return CaseComparisonResult(
            case_id=self.case_id, source=self.baseline_source, baseline_hardware=self.baseline_hardware,
            hardware=self.hardware, outcome=self.outcome, verdict=self.outcome, settle=self.settle, alpha=self.alpha,
            summary=self.summary(), regressions=[m.metric for m in self.regressions],
            inconclusive=[m.metric for m in self.inconclusive], metrics=[m.to_result() for m in self.metrics],
            notes=list(self.notes))


def compare_case(baseline: Baseline, current: Baseline, tolerances: dict[str, float],
                 *, alpha: float = ALPHA, drift: float = DRIFT) -> CaseComparison:
    """Compare every metric that has a tolerance; Holm across those that could be tested."""
    out = CaseComparison(case_id=current.case_id, baseline_source=baseline.source,
                         baseline_hardware=baseline.hardware, hardware=current.hardware, alpha=alpha)
    for metric, tolerance in tolerances.items():
        comparison = compare_metric(metric, baseline, current, tolerance, alpha=alpha, drift=drift)
        if comparison is not None:
            out.metrics.append(comparison)
    # a metric with a log change has its p-value (compare_metric sets both)
    tested = [(m, m.log_change, m.p_value) for m in out.metrics if m.log_change is not None and m.p_value is not None]
    p_values = [p for _, _, p in tested]
    for (m, _, _), adjusted in zip(tested, gate_stats.holm(p_values), strict=True):
        m.p_holm = adjusted
    for index, (m, change, _) in enumerate(tested):
        _decide(m, change, gate_stats.holm_level(p_values, index, alpha), alpha)
    out.metrics.sort(key=lambda m: (OUTCOME_ORDER[m.outcome], -(m.worse or 0.0)))
    return out
