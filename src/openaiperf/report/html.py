"""``report.html``: one self-contained page per run (figures inlined as base64 PNG).

The case table (status, key metrics with units), baseline deltas with
regressions highlighted, latency CDF, TTFT/TPOT histograms and, when server
runs at several QPS exist, throughput vs latency. Rendered with jinja2 from
``templates/report.html.j2``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openaiperf.report.console import COLUMNS
from openaiperf.report.results import read_results

TEMPLATE = "report.html.j2"


def case_latencies(run_dir: Path, cases: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    from openaiperf.baselines.compare import per_request_latencies
    from openaiperf.records import read_records

    out = {}
    for case in cases:
        path = run_dir / case["records_file"] if case.get("records_file") else None
        if path is not None and path.exists():
            out[case["id"]] = per_request_latencies(read_records(path))
    return out


def table_rows(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from openaiperf.report.console import _cell

    rows = []
    for case in cases:
        comparison = (case.get("baseline") or {}).get("comparison") or {}
        deltas = {m["metric"]: m for m in comparison.get("metrics", [])}
        cells = []
        for header, metric, fmt in COLUMNS:
            delta = deltas.get(metric)
            cells.append({"text": _cell(case, metric, fmt), "delta": delta})
        rows.append({"case": case, "cells": cells})
    return rows


def history_section(trends: Any) -> dict[str, Any] | None:
    """The history section: per case, its headline metrics against its last runs (table
    and sparklines). None when the history was not read (the section is left out)."""
    if trends is None:
        return None
    from openaiperf.history.plot import sparklines
    from openaiperf.history.trends import MIN_RUNS_FOR_RANGE, format_range, format_value
    from openaiperf.report import figures

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
                 "outcome": m.outcome if m.outcome and len(m.values) >= MIN_RUNS_FOR_RANGE else ""}
                for m in case.metrics]
        figure = sparklines(case)
        cases.append({"id": case_id, "runs": case.runs, "rows": rows,
                      "src": figures.data_uri(figure) if figure is not None else None})
    return {"store": trends.store, "limit": trends.limit, "error": trends.error, "cases": cases}


def render_html(run_dir: Path, trends: Any = None) -> str:
    """``trends``: the cases' recent history (:class:`openaiperf.history.trends.HistoryTrends`), if read."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    from openaiperf.report import figures

    document = read_results(run_dir / "results.json")
    cases = document["cases"]
    latencies = case_latencies(run_dir, cases)
    plots = []
    for title, figure in (("Latency CDF (E2E)", figures.latency_cdf(latencies, "e2e")),
                          ("Latency CDF (TTFT)", figures.latency_cdf(latencies, "ttft")),
                          ("TTFT and TPOT histograms", figures.ttft_tpot_histograms(latencies)),
                          ("Throughput vs latency", figures.throughput_vs_latency(cases))):
        if figure is not None:
            plots.append({"title": title, "src": figures.data_uri(figure)})
    from openaiperf.report import verdict

    comparisons = verdict.metric_rows(cases)
    environment = Environment(loader=PackageLoader("openaiperf.report", "templates"),
                              autoescape=select_autoescape(["html", "j2"]))
    hardware = (document.get("config") or {}).get("hardware_profile") or {}
    return environment.get_template(TEMPLATE).render(
        run_id=run_dir.name, document=document, hardware=hardware, columns=[c[0] for c in COLUMNS],
        rows=table_rows(cases), plots=plots, comparisons=comparisons, verdict=verdict,
        attention=verdict.attention(cases),
        notes=[(c["id"], n) for c in cases for n in c.get("notes", []) + c.get("failures", [])],
        history=history_section(trends),
    )


def write_html_report(run_dir: Path, output: Path | None = None, trends: Any = None) -> Path:
    output = output or run_dir / "report.html"
    output.write_text(render_html(run_dir, trends), encoding="utf-8")
    return output
