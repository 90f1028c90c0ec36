"""What changed between a baseline and a run, and whether it is significant.

Each metric is compared as ``ratio = current / baseline`` with a 95% interval:

- with at least three rounds on both sides (``--repeats``): Welch's t-test on the
  logarithms of the round values, whose interval, exponentiated, is the interval
  of the ratio of the geometric round means; the change is significant when that
  interval excludes 1. (A bootstrap over three rounds under-covers badly and
  cried wolf in A/A runs; the t interval is honest about how little three rounds
  say.) The reported values are the round geometric means, so ratio and
  interval agree;
- otherwise, for a latency (TTFT, TPOT, E2E) with per-request values on both
  sides: a Mann-Whitney U test over the requests (significant when p < alpha),
  with a bootstrap interval of the ratio of the statistic (percentile or mean);
- otherwise the change cannot be tested (one round, no spread): it is reported,
  never gated.

A metric *regresses* only when it moved the wrong way by more than its
tolerance **and** the move is significant; noise alone never fails a gate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from openaiperf.baselines import Baseline
from openaiperf.records import Record

CONFIDENCE = 0.95
ALPHA = 0.05
N_RESAMPLES = 2000
#: fewer rounds than this give a degenerate bootstrap (two rounds: just their min and max)
MIN_ROUNDS = 3
#: metric-name prefix -> per-request latency kept in a baseline
REQUEST_LATENCIES = ("ttft", "tpot", "e2e")


# -- building comparable things ----------------------------------------------------------
def per_request_latencies(records: Sequence[Record]) -> dict[str, list[float]]:
    """Per-request TTFT / TPOT / E2E in ms, for the rank test (measured, successful requests)."""
    from openaiperf.metrics.latency import MS, e2e_s, tpot_s, ttft_s

    ok = [r for r in records if r.ok and not r.warmup]
    out: dict[str, list[float]] = {}
    for name, fn in (("ttft", ttft_s), ("tpot", tpot_s), ("e2e", e2e_s)):
        out[name] = [round(v * MS, 4) for r in ok if (v := fn(r)) is not None]
    return out


def baseline_from_case(case: dict[str, Any], records: Sequence[Record] = ()) -> Baseline:
    """A case of a results.json (plus its records) in the shape of a baseline."""
    keys = ("task", "scenario", "engine", "model", "engine_options", "scenario_options")
    return Baseline(
        case_id=case["id"], hardware=case.get("hardware", "?"), metrics=case.get("metrics", {}),
        rounds=case.get("rounds", []), requests=per_request_latencies(records),
        case={k: case[k] for k in keys if k in case}, settings=case.get("settings", {}),
    )


# -- one metric ---------------------------------------------------------------------------
@dataclass
class MetricComparison:
    metric: str
    unit: str
    better: str  # lower | higher
    baseline: float
    current: float
    ratio: float
    tolerance: float
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    method: str = "untested"
    significant: bool = False
    verdict: str = "unchanged"  # regression | improvement | within tolerance | not significant | untested

    @property
    def regression(self) -> bool:
        return self.verdict == "regression"

    @property
    def delta(self) -> float:
        return self.ratio - 1.0

    def interval_text(self) -> str:
        if self.ci_low is None or self.ci_high is None:
            return "no interval"
        return f"{CONFIDENCE:.0%} CI [{self.ci_low:.3f}, {self.ci_high:.3f}]"

    def message(self) -> str:
        sign = "+" if self.better == "lower" else "-"
        extra = f", p={self.p_value:.3g}" if self.p_value is not None else ""
        return (f"{self.metric} {self.verdict}: baseline {self.baseline:.4g} {self.unit}, current "
                f"{self.current:.4g} {self.unit}, ratio {self.ratio:.3f} ({self.interval_text()}{extra}, "
                f"{self.method}), tolerance {sign}{self.tolerance:.0%}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"message": self.message()}


def _bootstrap_ratio(current: np.ndarray, baseline: np.ndarray, statistic) -> tuple[float, float] | None:
    from scipy.stats import bootstrap

    if current.size < 2 or baseline.size < 2:
        return None
    if np.ptp(current) == 0 and np.ptp(baseline) == 0:
        ratio = statistic(current) / statistic(baseline)
        return float(ratio), float(ratio)

    def ratio_stat(c: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return statistic(c, axis=axis) / statistic(b, axis=axis)

    result = bootstrap((current, baseline), ratio_stat, paired=False, vectorized=True, method="percentile",
                       confidence_level=CONFIDENCE, n_resamples=N_RESAMPLES, rng=np.random.default_rng(0))
    low, high = result.confidence_interval.low, result.confidence_interval.high
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return float(low), float(high)


def _welch_log_ratio(current: np.ndarray, baseline: np.ndarray) -> tuple[float, float, float]:
    """(low, high, p) of the ratio of geometric means, by Welch's t on log values."""
    from scipy.stats import t as student_t

    log_c, log_b = np.log(current), np.log(baseline)
    diff = float(log_c.mean() - log_b.mean())
    var_c, var_b = log_c.var(ddof=1) / log_c.size, log_b.var(ddof=1) / log_b.size
    se = float(np.sqrt(var_c + var_b))
    if se == 0.0:
        ratio = float(np.exp(diff))
        return ratio, ratio, (1.0 if diff == 0 else 0.0)
    df = (var_c + var_b) ** 2 / (var_c**2 / (log_c.size - 1) + var_b**2 / (log_b.size - 1))
    half = float(student_t.ppf(0.5 + CONFIDENCE / 2, df)) * se
    p_value = float(2 * student_t.sf(abs(diff) / se, df))
    return float(np.exp(diff - half)), float(np.exp(diff + half)), p_value


def _request_statistic(metric: str):
    """The statistic a latency metric is (``tpot_p90`` -> 90th percentile), as f(x, axis)."""
    suffix = metric.rsplit("_", 1)[-1]
    if suffix.startswith("p") and suffix[1:].isdigit():
        q = float(suffix[1:])
        return lambda x, axis=-1: np.percentile(x, q, axis=axis)
    return lambda x, axis=-1: np.mean(x, axis=axis)


def compare_metric(metric: str, baseline: Baseline, current: Baseline, tolerance: float,
                   *, alpha: float = ALPHA) -> MetricComparison | None:
    """Compare one metric; None when either side lacks it or it has no direction."""
    base_m, cur_m = baseline.metrics.get(metric) or {}, current.metrics.get(metric) or {}
    base_v, cur_v = base_m.get("value"), cur_m.get("value")
    better = cur_m.get("better") or base_m.get("better") or "none"
    if base_v is None or cur_v is None or better not in ("lower", "higher") or base_v == 0:
        return None
    comparison = MetricComparison(metric=metric, unit=cur_m.get("unit") or base_m.get("unit", ""), better=better,
                                  baseline=float(base_v), current=float(cur_v), ratio=float(cur_v) / float(base_v),
                                  tolerance=tolerance)
    base_rounds = np.array([r[metric] for r in baseline.rounds if r.get(metric) is not None], dtype=float)
    cur_rounds = np.array([r[metric] for r in current.rounds if r.get(metric) is not None], dtype=float)
    family = metric.split("_", 1)[0]
    base_req = np.asarray(baseline.requests.get(family, []), dtype=float)
    cur_req = np.asarray(current.requests.get(family, []), dtype=float)
    if (base_rounds.size >= MIN_ROUNDS and cur_rounds.size >= MIN_ROUNDS
            and np.all(base_rounds > 0) and np.all(cur_rounds > 0)):
        low, high, p_value = _welch_log_ratio(cur_rounds, base_rounds)
        comparison.baseline = float(np.exp(np.log(base_rounds).mean()))
        comparison.current = float(np.exp(np.log(cur_rounds).mean()))
        comparison.ratio = comparison.current / comparison.baseline
        comparison.ci_low, comparison.ci_high, comparison.p_value = low, high, p_value
        comparison.method = f"Welch t on log values over {cur_rounds.size}/{base_rounds.size} rounds"
        comparison.significant = low > 1.0 or high < 1.0
    elif family in REQUEST_LATENCIES and base_req.size >= 3 and cur_req.size >= 3:
        from scipy.stats import mannwhitneyu

        statistic = _request_statistic(metric)
        comparison.p_value = float(mannwhitneyu(cur_req, base_req, alternative="two-sided").pvalue)
        comparison.method = f"Mann-Whitney U over {cur_req.size}/{base_req.size} requests"
        comparison.significant = comparison.p_value < alpha
        if statistic(base_req) != 0:
            interval = _bootstrap_ratio(cur_req, base_req, statistic)
            if interval:
                comparison.ci_low, comparison.ci_high = interval
    comparison.verdict = _verdict(comparison)
    return comparison


def _verdict(c: MetricComparison) -> str:
    worse = c.ratio - 1.0 if c.better == "lower" else 1.0 - c.ratio
    if abs(c.ratio - 1.0) <= c.tolerance:
        return "within tolerance"
    if c.method == "untested":
        return "untested"
    if not c.significant:
        return "not significant"
    return "regression" if worse > 0 else "improvement"


# -- one case -----------------------------------------------------------------------------
@dataclass
class CaseComparison:
    case_id: str
    baseline_source: str
    baseline_hardware: str
    hardware: str
    metrics: list[MetricComparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[MetricComparison]:
        return [m for m in self.metrics if m.regression]

    def to_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "source": self.baseline_source, "baseline_hardware": self.baseline_hardware,
                "hardware": self.hardware, "regressions": [m.metric for m in self.regressions],
                "metrics": [m.to_json() for m in self.metrics], "notes": self.notes}


def compare_case(baseline: Baseline, current: Baseline, tolerances: dict[str, float],
                 *, alpha: float = ALPHA) -> CaseComparison:
    """Compare every metric that has a tolerance; regressions sort first."""
    out = CaseComparison(case_id=current.case_id, baseline_source=baseline.source,
                         baseline_hardware=baseline.hardware, hardware=current.hardware)
    for metric, tolerance in tolerances.items():
        comparison = compare_metric(metric, baseline, current, tolerance, alpha=alpha)
        if comparison is not None:
            out.metrics.append(comparison)
    order = {"regression": 0, "improvement": 2, "not significant": 1, "untested": 1}
    out.metrics.sort(key=lambda m: (order.get(m.verdict, 3), -abs(m.delta)))
    if baseline.settings and current.settings:
        differing = sorted(k for k in ("samples", "max_new_tokens", "dtype", "subset_seed")
                           if baseline.settings.get(k) != current.settings.get(k))
        if differing:
            out.notes.append("settings differ from the baseline's: " + ", ".join(
                f"{k} {baseline.settings.get(k)!r} -> {current.settings.get(k)!r}" for k in differing))
    return out
