"""How a case's baseline verdict reads in every report (console, Markdown, HTML, Allure).

A case's ``baseline`` entry (:class:`openaiperf.result.BaselineVerdict`) holds its
outcome (regression / no regression / inconclusive), what would settle an
inconclusive one, the configuration differences and whether they refused the
comparison, and the per-metric comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence

from openaiperf.baselines.stats import holm
from openaiperf.metrics import Better
from openaiperf.result import CaseResult, MetricVerdict, Outcome

ORDER = {"regression": 0, "refused": 1, "inconclusive": 2, "no regression": 3}
ICON = {"regression": "🔴", "refused": "⛔", "inconclusive": "🟡", "no regression": "✅"}


def label(case: CaseResult) -> str:
    """The case's verdict in a word or two; "" when it was not compared."""
    return case.verdict_label


def slug(text: str) -> str:
    """A CSS class for an outcome ("no regression" -> "no-regression"); the HTML template uses it."""
    return text.replace(" ", "-")


def comparisons(case: CaseResult) -> list[MetricVerdict]:
    """The case's per-metric comparisons with its baseline, or of its B side with its A side
    in an interleaved A/B run ([] when not compared)."""
    if case.ab is not None:
        return case.ab.comparison.metrics
    if case.baseline is None or case.baseline.comparison is None:
        return []
    return case.baseline.comparison.metrics


def metric_rows(cases: Sequence[CaseResult]) -> list[tuple[CaseResult, MetricVerdict]]:
    """(case, metric comparison) pairs: regressions first, then inconclusive, then the rest."""
    rows = [(case, m) for case in cases for m in comparisons(case)]
    return sorted(rows, key=lambda cm: (ORDER.get(cm[1].outcome.value, 9), -abs((cm[1].ratio or 1) - 1)))


def change_text(m: MetricVerdict) -> str:
    if m.ratio is None:
        return "-"
    return f"{100 * (m.ratio - 1):+.1f}% ({m.change})"


def interval_text(m: MetricVerdict) -> str:
    if m.ci_low is None or m.ci_high is None:
        return "-"
    return f"{100 * (m.ci_low - 1):+.1f}% .. {100 * (m.ci_high - 1):+.1f}% ({m.confidence:.0%})"


def tolerance_text(m: MetricVerdict) -> str:
    return f"{'+' if m.better is Better.LOWER else '-'}{100 * m.tolerance:.0f}%"


def value_text(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.4g} {unit}"


def why_text(m: MetricVerdict) -> str:
    """The reason, and for an inconclusive metric the smallest change it could have caught
    and what would settle it."""
    text = m.reason
    if m.outcome is Outcome.INCONCLUSIVE and m.detectable is not None:
        sign = "+" if m.better is Better.LOWER else "-"
        text += f"; the smallest change it could have caught: {sign}{100 * m.detectable:.1f}%"
    if m.outcome is Outcome.INCONCLUSIVE and m.settle:
        text += f"; would settle it: {m.settle}"
    return text


def attention(cases: Sequence[CaseResult]) -> list[tuple[str, str]]:
    """(verdict, line) for each compared case that needs attention: a regression, a
    refused comparison, or an inconclusive verdict with what would settle it."""
    lines = []
    for case in sorted(cases, key=lambda c: ORDER.get(label(c), 9)):
        if case.ab is not None:
            lines += ab_attention(case)
            continue
        entry, verdict = case.baseline, label(case)
        if entry is None:
            continue
        comparison = entry.comparison
        if verdict == "refused":
            differing = "; ".join(d.text for d in entry.differences if d.refuses)
            lines.append((verdict, f"{case.id}: baseline refused, the configuration differs: {differing}"))
        elif verdict == "regression":
            metrics = ", ".join(comparison.regressions if comparison else [])
            lines.append((verdict, f"{case.id}: regression in {metrics}"))
        elif verdict == "inconclusive":
            metrics = ", ".join(comparison.inconclusive if comparison else [])
            lines.append((verdict, f"{case.id}: inconclusive ({metrics}); would settle it: {entry.settle or '?'}"))
    return lines


def ab_attention(case: CaseResult) -> list[tuple[str, str]]:
    """An interleaved A/B case's line: both sides, the verdict, and the paired ratios of
    the metrics behind it (or what would settle it)."""
    ab = case.ab
    if ab is None:
        return []
    head = f"{case.id}: B ({ab.b.target}) vs A ({ab.a.target}), {ab.pairs} rounds a side ({ab.order})"
    if ab.outcome is Outcome.REGRESSION:
        shown = [m for m in ab.comparison.metrics if m.outcome is Outcome.REGRESSION]
    else:
        shown = [m for m in ab.comparison.metrics if m.metric in ("tpot_p50", "ttft_p50", "e2e_p50")]
    ratios = "; ".join(f"{m.metric} {change_text(m)} [{interval_text(m)}]" for m in shown)
    text = f"{head}: {ab.outcome.value}" + (f": {ratios}" if ratios else "")
    if ab.outcome is Outcome.INCONCLUSIVE:
        text += f"; would settle it: {ab.settle or '?'}"
    return [(ab.outcome.value, text)]


def case_lines(cases: Sequence[CaseResult]) -> list[str]:
    return [text for _, text in attention(cases)]


def session_line(cases: Sequence[CaseResult]) -> str:
    """Each case is gated on its own (family-wise error per case); this says how many
    regressing metrics would stay significant with Holm over the whole run's metrics."""
    alphas = [c.baseline.comparison.alpha for c in cases if c.baseline is not None and c.baseline.comparison]
    alpha = next((a for a in alphas if a), 0.05)
    rows = [m for _, m in metric_rows(cases) if m.p_value is not None]
    regressions = sum(m.outcome is Outcome.REGRESSION for m in rows)
    if not regressions:
        return ""
    adjusted = holm([m.p_value for m in rows if m.p_value is not None])
    kept = sum(m.outcome is Outcome.REGRESSION and p < alpha for m, p in zip(rows, adjusted, strict=True))
    compared = sum(bool(label(c)) for c in cases)
    return (f"across the run: {kept} of {regressions} regressing metric(s) stay significant with Holm over all "
            f"{len(rows)} tested metrics of {compared} compared case(s)")


def counts(cases: Sequence[CaseResult]) -> dict[str, int]:
    out = {key: 0 for key in ORDER}
    for case in cases:
        if verdict := label(case):
            out[verdict] = out.get(verdict, 0) + 1
    return out
