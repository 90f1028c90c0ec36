"""The table printed at the end of a session: one row per case, units in the headers."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from openaiperf.result import CaseResult

COLUMNS = (
    # header, metric, format
    ("TTFT p50 (ms)", "ttft_p50", "{:.1f}"),
    ("TTFT p90 (ms)", "ttft_p90", "{:.1f}"),
    ("TPOT p50 (ms)", "tpot_p50", "{:.1f}"),
    ("E2E p90 (ms)", "e2e_p90", "{:.0f}"),
    ("req/s", "requests_per_s", "{:.2f}"),
    ("out tok/s", "output_tokens_per_s", "{:.1f}"),
    ("MFU (%)", "mfu", "{:.3%}"),
    ("ROUGE-1", "rouge1", "{:.4f}"),
    ("ROUGE-2", "rouge2", "{:.4f}"),
    ("ROUGE-L", "rougeL", "{:.4f}"),
)


def cell(case: CaseResult, metric: str, fmt: str) -> str:
    """A metric of a case as a table cell ("-" when it has none)."""
    value = case.value(metric)
    if value is None:
        return "-"
    text = fmt.format(value)
    return text.rstrip("%") if metric == "mfu" else text


def status_text(case: CaseResult) -> str:
    """The case's status, with a passed but INVALID case marked."""
    return "passed (INVALID)" if case.status == "passed" and not case.valid else case.status


def render_table(cases: Sequence[CaseResult], title: str = "OpenAIPerf results", width: int = 240) -> str:
    from openaiperf.report import verdict

    compared = any(verdict.label(case) for case in cases)
    table = Table(title=title, show_lines=False)
    table.add_column("case", no_wrap=True)
    table.add_column("status")
    if compared:
        table.add_column("vs baseline")
    for header, _, _ in COLUMNS:
        table.add_column(header, justify="right")
    for case in cases:
        extra = [verdict.label(case) or "-"] if compared else []
        table.add_row(case.id, status_text(case), *extra, *(cell(case, metric, fmt) for _, metric, fmt in COLUMNS))
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None)
    console.print(table)
    for line in verdict.case_lines(cases):  # regressions, refusals, and what would settle an inconclusive case
        console.print(line, soft_wrap=True, markup=False)
    return buffer.getvalue()
