"""Interleaved A/B: the verdict of two targets measured in one session, round by round.

A stored baseline is measured on another day: the drift between the two runs (machine
load, clocks, a neighbour on a shared runner) is part of every comparison, and a one-run
baseline can only assume it. Measured in one session, in alternating rounds, the drift
is common to both sides and cancels in their ratio. The rounds run in a balanced order,
``A B | B A | A B | B A ...`` (pair ``i`` is A then B for even ``i``, B then A for odd),
so that a linear trend in time adds as much to A as to B over every two pairs, and each
side is warmed up before its first measured round.

Per gated metric (the gate's tolerances and directions), on the per-pair log ratios
``d_i = log(B_i / A_i)`` of that metric's round values: a one-sample (paired) t test,
20% trimmed (:class:`PairedChange`: robust to a pair a hiccup of the machine spoiled),
read through the metric's direction as for the stored-baseline gate
(:mod:`openaiperf.baselines.compare`): **regression** (significantly worse, Holm across
the case's metrics, and the estimate beyond the tolerance), **no regression** (the
one-sided upper bound within the tolerance), **inconclusive** (neither, with the rounds
a side that would decide and the smallest change the rounds could have caught).

The sequential rule: the verdict is looked at after :data:`FIRST_LOOK` pairs and then
after every second pair (the end of a balanced block) up to ``--ab-rounds``, and the
rounds stop at the first look that decides the case (a regression in any metric, or no
regression in all). Each of the ``K`` looks tests at ``alpha / K`` (alpha spent evenly,
Bonferroni over the looks): the chance of a false regression at *any* look is at most the
sum, ``alpha``, whatever the dependence between looks; likewise a false "no regression".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openaiperf.baselines import stats as gate_stats
from openaiperf.baselines.compare import (
    AB_ROUNDS,
    ALPHA,
    OUTCOME_ORDER,
    CaseComparison,
    MetricComparison,
    detectable_change,
    inconclusive_reason,
)
from openaiperf.case_options import check_engine_options, engine_takes
from openaiperf.errors import ConfigError
from openaiperf.options import parse_engine_option
from openaiperf.redact import redact, redact_text
from openaiperf.result import MetricValue, Outcome

if TYPE_CHECKING:
    from openaiperf.baselines.settings import BaselineSettings

#: pairs measured before the first look: two balanced blocks (A B B A A B B A)
FIRST_LOOK = 4
#: the fraction of pairs the paired test trims at each end (:class:`PairedChange`)
TRIM = 0.2


def side_order(pair: int) -> str:
    """The sides of pair ``pair`` in the order they run: "AB" for an even pair, "BA" for an odd one."""
    return "AB" if pair % 2 == 0 else "BA"


def looks(max_pairs: int) -> list[int]:
    """The pair counts at which the verdict is looked at: :data:`FIRST_LOOK`, then every
    second pair, and ``max_pairs`` itself."""
    first = min(FIRST_LOOK, max_pairs)
    return sorted({*range(first, max_pairs + 1, 2), max_pairs})


def trimmed_count(n: int) -> int:
    """How many pairs the trimmed mean leaves out at each end: ``floor(TRIM · n)``."""
    return int(TRIM * n)


@dataclass(frozen=True)
class PairedChange:
    """The trimmed mean per-pair log ratio ``log(B / A)`` of a metric, with its standard
    error: the one-sample trimmed t of Tukey and McLaughlin (Wilcox, *Introduction to
    Robust Estimation and Hypothesis Testing*): ``g = floor(0.2 n)`` pairs left out at each
    end, ``se = s_w / ((1 - 2g/n) sqrt(n))`` with the winsorized standard deviation ``s_w``,
    ``n - 2g - 1`` df. A pair a hiccup of the machine spoiled (one side's round stalled
    for a tenth of a second: seen here on a loaded 2-core machine) is an outlier that would
    swamp a plain t's standard error; trimmed, it costs a degree of freedom or two. With
    fewer than five pairs nothing is trimmed (the plain paired t)."""

    log_ratios: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.log_ratios)

    @property
    def trimmed(self) -> int:
        return trimmed_count(self.n)

    @property
    def estimate(self) -> float:
        ordered, g = sorted(self.log_ratios), self.trimmed
        kept = ordered[g:self.n - g]
        return math.fsum(kept) / len(kept)

    @property
    def sd(self) -> float:
        """The winsorized standard deviation scaled to the trimmed mean: ``se · sqrt(n)``."""
        ordered, g = sorted(self.log_ratios), self.trimmed
        low, high = ordered[g], ordered[self.n - 1 - g]
        winsorized = [min(max(d, low), high) for d in self.log_ratios]
        mean = math.fsum(winsorized) / self.n
        s_w = math.sqrt(math.fsum((d - mean) ** 2 for d in winsorized) / (self.n - 1))
        return s_w / (1 - 2 * g / self.n)

    @property
    def se(self) -> float:
        return self.sd / math.sqrt(self.n)

    @property
    def df(self) -> float:
        return float(self.n - 2 * self.trimmed - 1)


def paired_change(a: Sequence[float | None], b: Sequence[float | None]) -> PairedChange | None:
    """The paired change of a metric from its round values on each side (pair ``i`` is
    round ``i`` of A and of B; a pair where a side has no positive value is left out);
    None with fewer than two pairs."""
    ratios = tuple(math.log(vb / va) for va, vb in zip(a, b, strict=False)
                   if va is not None and vb is not None and va > 0 and vb > 0)
    return PairedChange(ratios) if len(ratios) >= 2 else None


def _decides(worse: float, se: float, df: float, threshold: float, level: float, alpha: float) -> bool:
    if worse > threshold and gate_stats.p_worse(worse, se, df) < level:
        return True
    return gate_stats.worse_bound(worse, se, df, alpha) <= threshold


def pairs_to_decide(change: PairedChange, worse: float, threshold: float, alpha: float, holm_share: float,
                    limit: int = gate_stats.MAX_SUGGESTED_ROUNDS) -> int | None:
    """The fewest rounds a side (``--ab-rounds``) that would decide the metric at its observed
    change and spread, spending ``alpha`` over that many rounds' looks (``holm_share``: the
    metric's Holm level as a fraction of alpha); None when ``limit`` would not."""
    for n in range(change.n + 1, limit + 1):
        per_look = alpha / len(looks(n))
        df = n - 2 * trimmed_count(n) - 1
        if _decides(worse, change.sd / math.sqrt(n), df, threshold, per_look * holm_share, per_look):
            return n
    return None


@dataclass
class ABVerdict:
    """The paired verdict of one look: every gated metric, and the case's outcome."""

    comparison: CaseComparison
    pairs: int
    look: int  # 1-based
    looks: list[int]
    alpha_per_look: float
    pair_ratios: dict[str, list[float | None]] = field(default_factory=dict)

    @property
    def outcome(self) -> Outcome:
        return self.comparison.outcome

    @property
    def decided(self) -> bool:
        """A verdict the rounds may stop at: a regression, or no regression in every metric."""
        return self.outcome is not Outcome.INCONCLUSIVE

    @property
    def last(self) -> bool:
        return self.look == len(self.looks)

    def stopped(self) -> str:
        if self.decided and not self.last:
            return (f"decided at look {self.look} of {len(self.looks)} ({self.pairs} rounds a side): "
                    f"{self.outcome.value}")
        if self.decided:
            return f"decided at the last look ({self.pairs} rounds a side): {self.outcome.value}"
        return f"undecided after {self.pairs} rounds a side (--ab-rounds {self.looks[-1]})"


def compare_pairs(a_rounds: Sequence[dict[str, Any]], b_rounds: Sequence[dict[str, Any]],
                  metrics: dict[str, MetricValue], tolerances: dict[str, float], *, max_pairs: int,
                  alpha: float = ALPHA, case_id: str = "", source: str = "A", hardware: str = "") -> ABVerdict:
    """The verdict after ``len(a_rounds)`` pairs (a look of the schedule for ``max_pairs``):
    each metric of ``tolerances`` that ``metrics`` (A's, for units and directions) has."""
    pairs = min(len(a_rounds), len(b_rounds))
    schedule = looks(max_pairs)
    look = next((i + 1 for i, n in enumerate(schedule) if n >= pairs), len(schedule))
    per_look = alpha / len(schedule)
    out = CaseComparison(case_id=case_id, baseline_source=source, baseline_hardware=hardware, hardware=hardware,
                         alpha=per_look)
    verdict = ABVerdict(out, pairs, look, schedule, per_look)
    tested: list[tuple[MetricComparison, PairedChange]] = []
    for metric, tolerance in tolerances.items():
        declared = metrics.get(metric)
        if declared is None or not declared.better.gated:
            continue
        a = [r.get(metric) for r in a_rounds[:pairs]]
        b = [r.get(metric) for r in b_rounds[:pairs]]
        verdict.pair_ratios[metric] = [None if va is None or vb is None or va <= 0 else vb / va
                                       for va, vb in zip(a, b, strict=True)]
        result = MetricComparison(metric=metric, unit=declared.unit, better=declared.better, tolerance=tolerance,
                                  confidence=1 - 2 * per_look)
        out.metrics.append(result)
        change = paired_change(a, b)
        if change is None:
            result.reason = "fewer than two pairs of rounds with a value on both sides"
            continue
        result.n_baseline = result.n_current = change.n
        result.baseline = _geometric_mean([v for v in a if v is not None and v > 0])
        result.ratio = math.exp(change.estimate)
        # B's value as A's times the paired ratio (a pair a stall spoiled moves neither)
        result.current = None if result.baseline is None else result.baseline * result.ratio
        half = gate_stats.t_quantile(1 - per_look, change.df) * change.se if change.se > 0 else 0.0
        result.ci_low, result.ci_high = math.exp(change.estimate - half), math.exp(change.estimate + half)
        result.p_value = gate_stats.p_worse(declared.better.worse_by(change.estimate), change.se, change.df)
        result.spread = math.expm1(change.sd)
        trimmed = f", 20% trimmed: {change.trimmed} left out at each end" if change.trimmed else ""
        result.method = (f"paired t on {change.n} per-pair log ratios B/A{trimmed} ({change.df:.0f} df), rounds "
                         f"interleaved; look {look} of {len(schedule)} at alpha {per_look:.3g}")
        tested.append((result, change))
    p_values = [m.p_value for m, _ in tested if m.p_value is not None]
    for (m, _), adjusted in zip(tested, gate_stats.holm(p_values), strict=True):
        m.p_holm = adjusted
    final = pairs >= schedule[-1]
    for index, (m, change) in enumerate(tested):
        _decide(m, change, gate_stats.holm_level(p_values, index, per_look), per_look, alpha, final)
    out.metrics.sort(key=lambda m: (OUTCOME_ORDER[m.outcome], -(m.worse or 0.0)))
    return verdict


def _geometric_mean(values: Sequence[float]) -> float | None:
    return math.exp(math.fsum(math.log(v) for v in values) / len(values)) if values else None


def _decide(result: MetricComparison, change: PairedChange, level: float, per_look: float, alpha: float,
            final: bool) -> None:
    worse = result.better.worse_by(change.estimate)
    threshold = result.better.tolerance_log(result.tolerance)
    significant = result.p_holm is not None and result.p_holm < per_look
    if significant and worse > threshold:
        result.outcome, result.reason = Outcome.REGRESSION, "B significantly worse than A, beyond the tolerance"
        return
    if gate_stats.worse_bound(worse, change.se, change.df, per_look) <= threshold:
        result.outcome, result.reason = Outcome.NO_REGRESSION, f"a change beyond {result.tolerance_text()} is ruled out"
        return
    result.outcome = Outcome.INCONCLUSIVE
    result.reason = inconclusive_reason(result, worse, threshold, significant)
    result.detectable = detectable_change(result.better, threshold, change.se, change.df, level)
    if not final:
        return  # more rounds are coming
    needed = pairs_to_decide(change, worse, threshold, alpha, level / per_look)
    if needed is not None:
        result.settle = f"{needed} rounds a side (--ab-rounds {needed})"
        result.settle_rounds = gate_stats.Settle(current_rounds=needed)
    else:
        spread, estimate = 100 * math.expm1(change.sd), 100 * math.expm1(change.estimate)
        result.settle = (f"a steadier machine or a wider tolerance: at a pair-to-pair spread of {spread:.1f}% and a "
                         f"change of {estimate:+.1f}%, {gate_stats.MAX_SUGGESTED_ROUNDS} rounds a side would not tell")
        result.settle_rounds = gate_stats.Settle()


# -- settings ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ABSettings:
    """What the A/B options ask for (``None`` from :func:`ab_settings`: no A/B)."""

    #: [ENGINE:]KEY=VALUE overrides of the B side (``--ab-endpoint URL`` is ``endpoint=URL``)
    overrides: tuple[tuple[str | None, str, Any], ...]
    rounds: int = AB_ROUNDS
    alpha: float = ALPHA
    strict: bool = False

    def b_engine_options(self, engine: str, options: dict[str, Any]) -> dict[str, Any]:
        """The B side's engine options: A's with the overrides that apply to ``engine``."""
        out = dict(options)
        for name, key, value in self.overrides:
            if name == engine or (name is None and engine_takes(engine, key)):
                out[key] = value
        return out


def ab_settings(given: BaselineSettings) -> ABSettings | None:
    """The A/B settings of the command line's (checked: a ConfigError names the option), or None."""
    if given.ab_endpoint is None and not given.ab_engine_options:
        if given.ab_rounds != type(given).model_fields["ab_rounds"].default:
            raise ConfigError("applies to an A/B comparison: give --ab-endpoint or --ab-engine-option",
                              source="--ab-rounds")
        return None
    overrides: list[tuple[str | None, str, Any]] = []
    if given.ab_endpoint is not None:
        overrides.append((None, "endpoint", given.ab_endpoint))
    overrides += [parse_engine_option(text, "--ab-engine-option") for text in given.ab_engine_options]
    for flag, stored in (("--baseline-save", given.save), ("--baseline-append", given.append),
                         ("--baseline-compare", given.compare)):
        if stored is not None:
            raise ConfigError("an A/B run compares its two targets with each other; save or compare stored "
                              "baselines in a run of one target", source=flag)
    if given.required:
        raise ConfigError("an A/B run compares its two targets with each other", source="--baseline-required")
    return ABSettings(overrides=tuple(overrides), rounds=given.ab_rounds, alpha=given.alpha, strict=given.strict)


def check_engine_overrides(given: BaselineSettings) -> None:
    """Start-up check of ``--ab-engine-option`` once the engines are registered: each a known
    engine option of the right type (a ConfigError names the option)."""
    check_engine_options(given.ab_engine_options, flag="--ab-engine-option")


def differing(a: dict[str, Any], b: dict[str, Any]) -> str:
    """What the B side's engine options change, as ``key=value`` words (redacted)."""
    changed = {k: v for k, v in b.items() if a.get(k) != v}
    if set(changed) == {"endpoint"}:
        return redact_text(str(changed["endpoint"]))
    return ", ".join(f"{k}={redact(v)!s}" for k, v in sorted(changed.items())) or "the same options"
