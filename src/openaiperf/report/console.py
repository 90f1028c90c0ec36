"""The table printed at the end of a session: one row per case, units in the headers."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from openaiperf.metrics.catalogue import MetricDeclaration, catalogue
from openaiperf.report import verdict
from openaiperf.result import CaseResult


@dataclass(frozen=True)
class Column:
    """A metric column of the case tables: its header and how a case's value is written."""

    header: str
    metric: str
    declaration: MetricDeclaration

    def cell(self, case: CaseResult) -> str:
        return self.declaration.text(case.value(self.metric))


def quality_declaration(name: str, case: CaseResult) -> MetricDeclaration | None:
    """A quality metric the case's task file gave a ``label`` (its unit and direction as
    the result holds them), or None."""
    found = case.metrics.get(name)
    if found is None or not found.label:
        return None
    return MetricDeclaration(name, found.unit, found.better, found.label, f"quality: {found.label}",
                             format="{:.4f}", source=f"task {case.task}", headline=True, trend=True)


def table_columns(cases: Sequence[CaseResult]) -> list[Column]:
    """The catalogue's headline metrics (those declared ``where_measured`` only where some case
    has a value), then the labelled quality metrics of ``cases`` in the order they first appear
    (a task's quality metrics come from its task file)."""
    columns = [Column(d.label, d.name, d) for d in catalogue.headline()
               if not d.where_measured or any(case.value(d.name) is not None for case in cases)]
    seen = {c.metric for c in columns}
    for case in cases:
        for name in case.metrics:
            declaration = None if name in seen else quality_declaration(name, case)
            if declaration is not None:
                seen.add(name)
                columns.append(Column(declaration.label, name, declaration))
    return columns


def status_text(case: CaseResult) -> str:
    """The case's status, with a passed but INVALID case marked."""
    return "passed (INVALID)" if case.status == "passed" and not case.valid else case.status


def render_table(cases: Sequence[CaseResult], title: str = "OpenAIPerf results", width: int = 240) -> str:
    compared = any(verdict.label(case) for case in cases)
    table = Table(title=title, show_lines=False)
    table.add_column("case", no_wrap=True)
    table.add_column("status")
    if compared:
        table.add_column("B vs A" if any(case.ab for case in cases) else "vs baseline")
    columns = table_columns(cases)
    for column in columns:
        table.add_column(column.header, justify="right")
    for case in cases:
        extra = [verdict.label(case) or "-"] if compared else []
        table.add_row(case.id, status_text(case), *extra, *(column.cell(case) for column in columns))
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None)
    console.print(table)
    for line in verdict.case_lines(cases):  # regressions, refusals, and what would settle an inconclusive case
        console.print(line, soft_wrap=True, markup=False)
    return buffer.getvalue()
