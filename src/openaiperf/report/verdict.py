"""How a case's baseline verdict reads in every report (console, Markdown, HTML, Allure).

A case's ``baseline`` entry in results.json (:meth:`openaiperf.baselines.gate.GateOutcome.to_json`)
holds its outcome (regression / no regression / inconclusive), what would settle
an inconclusive one, the configuration differences and whether they refused the
comparison, and the per-metric comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ORDER = {"regression": 0, "refused": 1, "inconclusive": 2, "no regression": 3}
ICON = {"regression": "🔴", "refused": "⛔", "inconclusive": "🟡", "no regression": "✅"}


def baseline_entry(case: dict[str, Any]) -> dict[str, Any]:
    return case.get("baseline") or {}


def label(case: dict[str, Any]) -> str:
    """The case's verdict in a word or two; "" when it was not compared."""
    entry = baseline_entry(case)
    if entry.get("refused"):
        return "refused"
    return entry.get("outcome") or ""


def slug(text: str) -> str:
    """A CSS class for an outcome ("no regression" -> "no-regression")."""
    return text.replace(" ", "-")


def metric_rows(cases: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(case, metric comparison) pairs: regressions first, then inconclusive, then the rest."""
    rows = [(case, m) for case in cases for m in (baseline_entry(case).get("comparison") or {}).get("metrics", [])]
    return sorted(rows, key=lambda cm: (ORDER.get(cm[1].get("outcome", ""), 9), -abs((cm[1].get("ratio") or 1) - 1)))


def change_text(m: dict[str, Any]) -> str:
    if m.get("ratio") is None:
        return "-"
    return f"{100 * (m['ratio'] - 1):+.1f}% ({m.get('change', '?')})"


def interval_text(m: dict[str, Any]) -> str:
    if m.get("ci_low") is None:
        return "-"
    return f"{100 * (m['ci_low'] - 1):+.1f}% .. {100 * (m['ci_high'] - 1):+.1f}% ({m.get('confidence', 0.9):.0%})"


def tolerance_text(m: dict[str, Any]) -> str:
    return f"{'+' if m.get('better') == 'lower' else '-'}{100 * m['tolerance']:.0f}%"


def value_text(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.4g} {unit}"


def why_text(m: dict[str, Any]) -> str:
    """The reason, and for an inconclusive metric what would settle it."""
    if m.get("outcome") == "inconclusive" and m.get("settle"):
        return f"{m.get('reason', '')}; would settle it: {m['settle']}"
    return m.get("reason", "")


def attention(cases: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(verdict, line) for each compared case that needs attention: a regression, a
    refused comparison, or an inconclusive verdict with what would settle it."""
    lines = []
    for case in sorted(cases, key=lambda c: ORDER.get(label(c), 9)):
        entry, verdict = baseline_entry(case), label(case)
        comparison = entry.get("comparison") or {}
        if verdict == "refused":
            differing = "; ".join(d["text"] for d in entry.get("differences", []) if d.get("refuses"))
            lines.append((verdict, f"{case['id']}: baseline refused, the configuration differs: {differing}"))
        elif verdict == "regression":
            metrics = ", ".join(comparison.get("regressions", []))
            lines.append((verdict, f"{case['id']}: regression in {metrics}"))
        elif verdict == "inconclusive":
            metrics = ", ".join(comparison.get("inconclusive", []))
            lines.append((verdict, (f"{case['id']}: inconclusive ({metrics}); would settle it: "
                                   f"{entry.get('settle') or '?'}")))
    return lines


def case_lines(cases: Sequence[dict[str, Any]]) -> list[str]:
    return [text for _, text in attention(cases)]


def session_line(cases: Sequence[dict[str, Any]]) -> str:
    """Each case is gated on its own (family-wise error per case); this says how many
    regressing metrics would stay significant with Holm over the whole run's metrics."""
    from openaiperf.baselines.stats import holm

    alphas = [(baseline_entry(c).get("comparison") or {}).get("alpha") for c in cases]
    alpha = next((a for a in alphas if a), 0.05)
    rows = [m for _, m in metric_rows(cases) if m.get("p_value") is not None]
    regressions = sum(m.get("outcome") == "regression" for m in rows)
    if not regressions:
        return ""
    adjusted = holm([m["p_value"] for m in rows])
    kept = sum(m.get("outcome") == "regression" and p < alpha for m, p in zip(rows, adjusted))
    compared = sum(bool(label(c)) for c in cases)
    return (f"across the run: {kept} of {regressions} regressing metric(s) stay significant with Holm over all "
            f"{len(rows)} tested metrics of {compared} compared case(s)")


def counts(cases: Sequence[dict[str, Any]]) -> dict[str, int]:
    out = {key: 0 for key in ORDER}
    for case in cases:
        if verdict := label(case):
            out[verdict] = out.get(verdict, 0) + 1
    return out
