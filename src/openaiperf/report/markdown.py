"""Markdown for GitHub: the job's step summary (``$GITHUB_STEP_SUMMARY``) and a
PR-comment file, with the delta table versus the baseline, regressions first, and
how each case's values sit against its recent history (when the history store was read)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from openaiperf.report.console import COLUMNS, _cell

ORDER = {"regression": 0, "improvement": 1, "not significant": 2, "untested": 3, "within tolerance": 4}
ICON = {"regression": "🔴", "improvement": "🟢", "not significant": "⚪", "untested": "⚪", "within tolerance": "✅"}


def delta_rows(cases: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    rows = [(case, m) for case in cases
            for m in ((case.get("baseline") or {}).get("comparison") or {}).get("metrics", [])]
    return sorted(rows, key=lambda cm: (ORDER.get(cm[1]["verdict"], 9), -abs(cm[1]["ratio"] - 1)))


def markdown_summary(document: dict[str, Any], title: str = "OpenAIPerf", trends: Any = None) -> str:
    """``trends``: the cases' recent history (:class:`openaiperf.history.trends.HistoryTrends`), if read."""
    cases = document.get("cases", [])
    hardware = ((document.get("config") or {}).get("hardware_profile") or {}).get("name", "?")
    rows = delta_rows(cases)
    regressions = [r for r in rows if r[1]["verdict"] == "regression"]
    failed = [c for c in cases if c.get("status") in ("failed", "error", "interrupted")]
    lines = [f"## {title} — {hardware}", ""]
    verdict = "❌" if failed or regressions else "✅"
    lines.append(f"{verdict} {len(cases)} case(s), {len(failed)} failed, {len(regressions)} significant regression(s)")
    lines.append("")
    if rows:
        lines += ["### Delta vs baseline", "",
                  "| | case | metric | baseline | current | change | 95% CI of ratio | tolerance | verdict |",
                  "|---|---|---|---:|---:|---:|---|---:|---|"]
        for case, m in rows:
            ci = f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}]" if m.get("ci_low") is not None else "-"
            sign = "+" if m["better"] == "lower" else "-"
            lines.append(f"| {ICON.get(m['verdict'], '')} | `{case['id']}` | {m['metric']} | {m['baseline']:.4g} "
                         f"{m['unit']} | {m['current']:.4g} {m['unit']} | {100 * (m['ratio'] - 1):+.1f}% | {ci} | "
                         f"{sign}{100 * m['tolerance']:.0f}% | {m['verdict']} |")
        lines.append("")
    else:
        lines += ["No baseline comparison in this run.", ""]
    lines += ["### Cases", "", "| case | status | " + " | ".join(h for h, _, _ in COLUMNS) + " |",
              "|---|---|" + "---:|" * len(COLUMNS)]
    for case in sorted(cases, key=lambda c: c.get("status") == "passed"):
        cells = " | ".join(_cell(case, metric, fmt) for _, metric, fmt in COLUMNS)
        lines.append(f"| `{case['id']}` | {case.get('status')} | {cells} |")
    if trends is not None:
        from openaiperf.history.trends import markdown_lines

        lines += ["", *markdown_lines(trends)]
    notes = [(c["id"], f) for c in cases for f in c.get("failures", []) + ([c["error"]] if c.get("error") else [])]
    if notes:
        lines += ["", "### Failures", ""] + [f"- `{cid}`: {text}" for cid, text in notes]
    return "\n".join(lines) + "\n"


def write_markdown(run_dir: Path, document: dict[str, Any], trends: Any = None) -> list[Path]:
    """Writes ``pr-comment.md`` in the run folder, and appends to ``$GITHUB_STEP_SUMMARY`` when set."""
    text = markdown_summary(document, trends=trends)
    written = [run_dir / "pr-comment.md"]
    written[0].write_text(text, encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text)
        written.append(Path(summary))
    return written
