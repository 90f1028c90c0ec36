"""``report.html``: one self-contained page per run (figures inlined as base64 PNG).

Readable at tens of cases: the case table is grouped by task and engine and
numbers each case; the baseline deltas come with regressions highlighted; one
throughput-vs-latency view shows every case as a point (coloured by engine,
shaped by scenario, labelled with its number); each task × engine group has its
own section with small multiples (one latency-CDF panel per case, shared axes);
history trends and notes are folded per case. Rendered with jinja2 from
``templates/report.html.j2``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openaiperf.baselines.compare import per_request_latencies
from openaiperf.history.plot import sparkline_svg
from openaiperf.history.trends import MIN_RUNS_FOR_RANGE, format_range, format_value
from openaiperf.metrics.catalogue import catalogue
from openaiperf.paths import path_in
from openaiperf.records import read_records
from openaiperf.report import figures, roofline, verdict
from openaiperf.report.console import Column, quality_declaration, status_text, table_columns
from openaiperf.report.results import read_results
from openaiperf.result import CaseResult, MetricVerdict, RunResult
from openaiperf.sweeps.pareto import pareto_figure, pareto_points

TEMPLATE = "report.html.j2"


@dataclass
class Row:
    """A case in the report: its number, the case, and its table cells (text, baseline delta)."""

    number: int
    case: CaseResult
    cells: list[tuple[str, MetricVerdict | None]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return status_text(self.case)

    @property
    def invalid(self) -> bool:
        return self.case.status == "passed" and not self.case.valid

    @property
    def metric_lines(self) -> list[MetricLine]:
        return metric_lines(self.case)


@dataclass(frozen=True)
class MetricLine:
    """One metric of a case in its "all metrics" table: as the catalogue (or the task file) labels
    and formats it; an undeclared one raw, by its name."""

    name: str
    label: str
    value: str
    unit: str
    better: str
    description: str = ""
    interval: str = ""
    declared: bool = True


def metric_lines(case: CaseResult) -> list[MetricLine]:
    """Every metric the case has: the catalogue's in its order, then the task file's labelled
    quality metrics, then the undeclared ones by name (raw values)."""
    declared = [(d, case.metrics[d.name]) for d in catalogue if d.name in case.metrics]
    known = {d.name for d, _ in declared}
    quality = [(d, case.metrics[name]) for name in case.metrics
               if name not in known and (d := quality_declaration(name, case)) is not None]
    known |= {d.name for d, _ in quality}
    lines = []
    for declaration, metric in declared + quality:
        interval = ""
        if metric.ci_low is not None and metric.ci_high is not None:
            interval = f"{declaration.text(metric.ci_low)} .. {declaration.text(metric.ci_high)}"
        lines.append(MetricLine(declaration.name, declaration.label, declaration.text(metric.value),
                                "%" if declaration.percent else declaration.unit, declaration.better.value,
                                declaration.description, interval))
    for name in sorted(set(case.metrics) - known):
        metric = case.metrics[name]
        interval = "" if metric.ci_low is None or metric.ci_high is None else f"{metric.ci_low:g} .. {metric.ci_high:g}"
        lines.append(MetricLine(name, name, "-" if metric.value is None else f"{metric.value:g}", metric.unit,
                                metric.better.value, "not in the metric catalogue", interval, declared=False))
    return lines


@dataclass
class CaseGroup:
    """The cases of one task on one engine: a section of the report."""

    task: str
    engine: str
    rows: list[Row] = field(default_factory=list)
    figure: str | None = None  # the small multiples, as a data URI

    @property
    def anchor(self) -> str:
        return "group-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{self.task}-{self.engine}")

    @property
    def title(self) -> str:
        return f"{self.task} · {self.engine}"

    @property
    def failed(self) -> int:
        return sum(row.case.failed for row in self.rows)

    @property
    def invalid(self) -> int:
        return sum(row.invalid for row in self.rows)


@dataclass
class Verdict:
    """A compared case in the baseline section: its verdict, the metrics behind it
    (regressions first) and, for the summary table, which metrics and why."""

    row: Row
    label: str
    metrics: list[MetricVerdict]
    named: list[str]
    why: str

    @property
    def counts(self) -> str:
        found = {outcome: sum(m.outcome.value == outcome for m in self.metrics)
                 for outcome in ("regression", "inconclusive", "no regression")}
        return ", ".join(f"{n} {outcome}" for outcome, n in found.items() if n)


def verdicts(groups: Sequence[CaseGroup]) -> list[Verdict]:
    """Every compared case, what needs attention first (regression, refused, inconclusive), then by number."""
    out = []
    for row in (row for group in groups for row in group.rows):
        label, entry, ab = verdict.label(row.case), row.case.baseline, row.case.ab
        if not label or (entry is None and ab is None):
            continue
        metrics = [m for _, m in verdict.metric_rows([row.case])]
        comparison = ab.comparison if ab is not None else entry.comparison if entry is not None else None
        settle = ab.settle if ab is not None else entry.settle if entry is not None else ""
        sides = (f"interleaved A/B, B ({ab.b.target}) vs A ({ab.a.target}), {ab.pairs} rounds a side "
                 f"({ab.order}): " if ab is not None else "")
        if label == "refused" and entry is not None:
            named, why = [], "; ".join(d.text for d in entry.differences if d.refuses)
        elif label == "regression":
            named, why = list(comparison.regressions) if comparison else [], "significantly worse, beyond the tolerance"
        elif label == "inconclusive":
            named, why = list(comparison.inconclusive) if comparison else [], f"would settle it: {settle or '?'}"
        else:
            named, why = [], "a change beyond the tolerance is ruled out for every metric"
        out.append(Verdict(row, label, metrics, named, sides + why))
    return sorted(out, key=lambda v: (verdict.ORDER.get(v.label, 9), v.row.number))


def case_latencies(run_dir: Path, case: CaseResult) -> dict[str, list[float]]:
    """Per-request TTFT/TPOT/E2E (ms) of the case's measured requests ({} without records)."""
    path = path_in(run_dir, case.records_file, field="records_file") if case.records_file else None
    if path is None or not path.exists():
        return {}
    return per_request_latencies(read_records(path))


def group_cases(cases: Sequence[CaseResult], columns: Sequence[Column] | None = None) -> list[CaseGroup]:
    """The cases by task and engine (groups and cases in the order they ran), numbered 1.. in that order;
    each row's cells are ``columns`` (default: the case tables' columns of ``cases``)."""
    columns = table_columns(cases) if columns is None else columns
    groups: dict[tuple[str, str], CaseGroup] = {}
    for case in cases:
        groups.setdefault((case.task, case.engine), CaseGroup(case.task, case.engine)).rows.append(Row(0, case))
    number = 0
    for group in groups.values():
        for row in group.rows:
            number += 1
            row.number = number
            deltas = {m.metric: m for m in verdict_metrics(row.case)}
            row.cells = [(column.cell(row.case), deltas.get(column.metric)) for column in columns]
    return list(groups.values())


def verdict_metrics(case: CaseResult) -> list[MetricVerdict]:
    return verdict.comparisons(case)


def panel_title(case: CaseResult) -> str:
    """A case's panel title within its group (the task and engine are the group's)."""
    title = f"{case.scenario} · {case.model}"
    return f"{title}\n[{case.variant}]" if case.variant else title


def panel_flag(case: CaseResult) -> str:
    if case.status != "passed":
        return case.status
    return "" if case.valid else "INVALID"


def group_figures(run_dir: Path, groups: Sequence[CaseGroup]) -> None:
    """Each group's small multiples (one latency panel per case, numbered as in the table)."""
    for group in groups:
        panels = [figures.Panel(f"#{row.number} {panel_title(row.case)}", case_latencies(run_dir, row.case),
                                panel_flag(row.case)) for row in group.rows]
        figure = figures.small_multiples(panels)
        group.figure = figures.data_uri(figure) if figure is not None else None


def throughput_figure(groups: Sequence[CaseGroup]) -> str | None:
    points = [p for group in groups for row in group.rows
              if (p := figures.throughput_point(row.number, row.case)) is not None]
    figure = figures.throughput_vs_latency(points)
    return figures.data_uri(figure) if figure is not None else None


def roofline_section(groups: Sequence[CaseGroup]) -> dict[str, Any] | None:
    """The roofline figure (a data URI) and, per point, the bound it sits under; None without points."""
    numbered = [(row.number, row.case) for group in groups for row in group.rows]
    points = roofline.roofline_points(numbered)
    if not points:
        return None
    cases = [case for _, case in numbered]
    ceilings = roofline.run_ceilings(cases)
    figure = figures.roofline(points, ceilings)
    rows = []
    for point in points:
        bound, ceiling = roofline.bound_of(point, ceilings)
        attainable = ceiling.attainable(point.intensity) if ceiling is not None else None
        rows.append({"number": point.number, "case": point.case_id, "phase": point.phase,
                     "intensity": f"{point.intensity:.3g}", "tflops": f"{point.flops / 1e12:.4g}",
                     "bound": f"{bound}, {ceiling.label.split(' ')[0]} ceilings" if ceiling is not None
                     else "unknown (no ceilings)",
                     "share": f"{point.flops / attainable:.1%}" if attainable else "-"})
    return {"figure": figures.data_uri(figure) if figure is not None else None, "rows": rows,
            "ceilings": roofline.describe_ceilings(ceilings)}


def pareto_section(cases: Sequence[CaseResult]) -> str | None:
    """The Pareto figure of the run's concurrency or rate sweeps (a data URI), or None."""
    figure = pareto_figure(pareto_points(cases))
    return figures.data_uri(figure) if figure is not None else None


def history_section(trends: Any) -> dict[str, Any] | None:
    """The history section: per case, its headline metrics against its last runs (a table
    with a sparkline per metric). None when the history was not read (the section is left out)."""
    if trends is None:
        return None
    from markupsafe import Markup

    cases = []
    for case_id, case in trends.cases.items():
        if not case.runs:
            continue
        rows = [{"metric": m.metric, "current": format_value(m.current, m.unit),
                 "median": format_value(m.median, m.unit), "n": len(m.values),
                 "range": format_range(m.low, m.high, m.unit),
                 "change": f"{100 * m.change:+.1f}%" if m.change is not None else "-",
                 "position": m.position(),
                 # a range of one or two runs says little: colour only values outside a real range
                 "outcome": m.outcome if m.outcome and len(m.values) >= MIN_RUNS_FOR_RANGE else "",
                 "trend": Markup(svg) if (svg := sparkline_svg(m)) else ""}  # markup we drew
                for m in case.metrics]
        cases.append({"id": case_id, "runs": case.runs, "rows": rows,
                      "worse": sum(row["outcome"] == "worse" for row in rows)})
    return {"store": trends.store, "limit": trends.limit, "error": trends.error, "cases": cases}


def status_counts(cases: Sequence[CaseResult]) -> dict[str, int]:
    """How many cases passed (valid), passed INVALID, failed, errored, were interrupted or skipped."""
    counts: dict[str, int] = {}
    for case in cases:
        key = status_text(case)
        counts[key] = counts.get(key, 0) + 1
    return counts


def render_html(run_dir: Path, trends: Any = None, run: RunResult | None = None) -> str:
    """``trends``: the cases' recent history (:class:`openaiperf.history.trends.HistoryTrends`), if read;
    ``run``: the run's results (default: read from the folder's results.json)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    run = run if run is not None else read_results(run_dir / "results.json")
    cases = run.cases
    columns = table_columns(cases)
    groups = group_cases(cases, columns)
    group_figures(run_dir, groups)
    numbers = {row.case.id: row.number for group in groups for row in group.rows}
    environment = Environment(loader=PackageLoader("openaiperf.report", "templates"),
                              autoescape=select_autoescape(["html", "j2"]))
    return environment.get_template(TEMPLATE).render(
        run_id=run_dir.name, run=run, hardware=run.hardware_profile or "?", columns=[c.header for c in columns],
        groups=groups, counts=status_counts(cases), throughput=throughput_figure(groups),
        pareto=pareto_section(cases), roofline=roofline_section(groups),
        verdicts=verdicts(groups), verdict_counts={k: n for k, n in verdict.counts(cases).items() if n},
        session_line=verdict.session_line(cases), verdict=verdict, numbers=numbers,
        notes=[row for group in groups for row in group.rows if row.case.notes or row.case.failures],
        history=history_section(trends),
    )


def write_html_report(run_dir: Path, output: Path | None = None, trends: Any = None,
                      run: RunResult | None = None) -> Path:
    output = output or run_dir / "report.html"
    output.write_text(render_html(run_dir, trends, run), encoding="utf-8")
    return output
