"""Markdown for GitHub: the job's step summary (``$GITHUB_STEP_SUMMARY``) and a
PR-comment file, with the delta table versus the baseline, regressions first, and
how each case's values sit against its recent history (when the history store was read)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from openaiperf.history.trends import markdown_lines
from openaiperf.report import roofline, verdict
from openaiperf.report.console import table_columns
from openaiperf.result import RunResult


def markdown_summary(run: RunResult, title: str = "OpenAIPerf", trends: Any = None) -> str:
    """``trends``: the cases' recent history (:class:`openaiperf.history.trends.HistoryTrends`), if read."""
    cases = run.cases
    hardware = run.hardware_profile or "?"
    rows = verdict.metric_rows(cases)
    counts = verdict.counts(cases)
    failed = [c for c in cases if c.failed]
    lines = [f"## {title} — {hardware}", ""]
    mark = "❌" if failed or counts["regression"] or counts["refused"] else "🟡" if counts["inconclusive"] else "✅"
    against = "B vs A" if any(c.ab for c in cases) else "vs baseline"
    versus = (f"; {against}: {counts['regression']} regression, {counts['inconclusive']} inconclusive, "
              f"{counts['no regression']} no regression" if any(counts.values()) else "")
    refused = f", {counts['refused']} refused (configuration differs)" if counts["refused"] else ""
    lines.append(f"{mark} {len(cases)} case(s), {len(failed)} failed{versus}{refused}")
    lines.append("")
    attention = verdict.attention(cases)
    if attention:
        lines += [f"- {verdict.ICON[outcome]} {text}" for outcome, text in attention]
        if session := verdict.session_line(cases):
            lines.append(f"- {session}")
        lines.append("")
    if rows:
        # an A/B run holds no stored-baseline comparison (refused at start-up): its rows are B against A
        ab = any(c.ab is not None for c in cases)
        heading, sides, rounds = (("### Interleaved A/B: B vs A (paired ratios)", "A | B", "pairs")
                                  if ab else ("### Delta vs baseline", "baseline | current", "rounds b/c"))
        lines += [heading, "",
                  (f"| | case | metric | {sides} | change | interval | tolerance | {rounds} | outcome | "
                   "why / what would settle it |"),
                  "|---|---|---|---:|---:|---:|---|---:|---:|---|---|"]
        for case, m in rows:
            outcome = m.outcome.value
            lines.append(f"| {verdict.ICON.get(outcome, '')} | `{case.id}` | {m.metric} | "
                         f"{verdict.value_text(m.baseline, m.unit)} | "
                         f"{verdict.value_text(m.current, m.unit)} | {verdict.change_text(m)} | "
                         f"{verdict.interval_text(m)} | {verdict.tolerance_text(m)} | "
                         f"{m.n_current if ab else f'{m.n_baseline}/{m.n_current}'} | {outcome} | "
                         f"{verdict.why_text(m)} |")
        lines.append("")
    elif not attention:
        lines += ["No baseline comparison in this run.", ""]
    columns = table_columns(cases)
    lines += ["### Cases", "", "| case | status | " + " | ".join(c.header for c in columns) + " |",
              "|---|---|" + "---:|" * len(columns)]
    for case in sorted(cases, key=lambda c: c.status == "passed"):
        cells = " | ".join(column.cell(case) for column in columns)
        lines.append(f"| `{case.id}` | {case.status} | {cells} |")

    roof = roofline.markdown_lines(list(enumerate(cases, start=1)))
    if roof:
        lines += ["", *roof]
    if trends is not None:
        lines += ["", *markdown_lines(trends)]
    notes = [(c.id, f) for c in cases for f in [*c.failures, *([c.error] if c.error else [])]]
    if notes:
        lines += ["", "### Failures", ""] + [f"- `{cid}`: {text}" for cid, text in notes]
    return "\n".join(lines) + "\n"


def write_markdown(run_dir: Path, run: RunResult, trends: Any = None) -> list[Path]:
    """Writes ``pr-comment.md`` in the run folder, and appends to ``$GITHUB_STEP_SUMMARY`` when set."""
    text = markdown_summary(run, trends=trends)
    written = [run_dir / "pr-comment.md"]
    written[0].write_text(text, encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text)
        written.append(Path(summary))
    return written
