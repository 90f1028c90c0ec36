"""The metric catalogue: every metric a case computes is declared once, with the unit and
direction the computation gives it; the console, Markdown, HTML, gate, trends and sweeps
read it, so adding a metric is its computation plus one declaration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.engines import ScriptedEngine, xsum_case_runner
from fixtures.results import measured_case
from openaiperf.matrix import Case
from openaiperf.metrics import Better, Metric
from openaiperf.metrics.catalogue import MetricDeclaration, catalogue, declare
from openaiperf.metrics.server import MEANS
from openaiperf.result import CaseResult, MetricValue
from openaiperf.runner import RunSettings


def run_case(tmp_path: Path, scenario: str, options: dict[str, object]) -> CaseResult:
    case = Case("summarization.xsum", scenario, "scripted", "m", engine_options={}, scenario_options=options)
    runner = xsum_case_runner(tmp_path, case, engine=ScriptedEngine(tokens=3, token_s=0.001),
                              settings=RunSettings(max_samples=4, warmup_samples=0, monitor=False,
                                                   stall_limit_ms=None))
    runner.prepare()
    runner.measure_round(0)
    result: CaseResult = runner.finish()
    return result


@pytest.mark.parametrize(("scenario", "options"), [("offline", {}), ("single_stream", {}),
                                                   ("server", {"qps_target": 50.0, "warmup_requests": 1})])
def test_every_metric_a_case_computes_is_declared_with_its_unit_and_direction(tmp_path, scenario, options):
    result = run_case(tmp_path, scenario, options)
    assert result.status == "passed" and len(result.metrics) > 30
    quality = {name for name, metric in result.metrics.items() if name in (result.quality.scores
                                                                           if result.quality else {})}
    undeclared = catalogue.undeclared([name for name in result.metrics if name not in quality])
    assert undeclared == [], f"declare these in openaiperf.metrics.catalogue: {undeclared}"
    for name, metric in result.metrics.items():
        declaration = catalogue.get(name)
        if declaration is not None:
            assert (metric.unit, metric.better) == (declaration.unit, declaration.better), name


def test_the_servers_metrics_are_declared():
    assert catalogue.undeclared(list(MEANS.values())) == []


def test_quality_metrics_come_from_the_task_file_labelled_as_it_says(tmp_path):
    result = run_case(tmp_path, "offline", {})
    assert result.metrics["rouge1"].label == "ROUGE-1" and result.metrics["rougeL"].label == "ROUGE-L"
    assert result.metrics["rougeLsum"].label is None  # no label in the task file: not a column
    from openaiperf.report.console import table_columns

    headers = [c.header for c in table_columns([result])]
    assert headers[-3:] == ["ROUGE-1", "ROUGE-2", "ROUGE-L"] and "rougeLsum" not in headers


@pytest.fixture
def new_metric() -> Iterator[MetricDeclaration]:
    """A metric a contributor adds: one declaration (removed again after the test)."""
    declaration = declare("queue_share", "fraction", Better.LOWER, "queue share (%)", "time spent queued",
                          percent=True, format="{:.1f}", headline=True, trend=True, sweep=True, tolerance=0.2)
    yield declaration
    del catalogue.declarations["queue_share"]


def test_one_declaration_makes_a_column_a_gated_metric_a_trend_and_a_sweep_column(tmp_path, new_metric):
    from openaiperf.baselines.gate import resolve_tolerances
    from openaiperf.report.console import render_table
    from openaiperf.report.markdown import markdown_summary

    case = measured_case(tmp_path)
    case.metrics["queue_share"] = MetricValue.of(Metric(0.25, "fraction", Better.LOWER))
    table = render_table([case])
    assert "queue share (%)" in table and "25.0" in table
    assert "queue share (%)" in "\n".join(render_markdown_lines(markdown_summary, tmp_path, case))
    assert resolve_tolerances()["queue_share"] == 0.2  # gated by default
    assert "queue_share" in catalogue.names("trend") and "queue_share" in catalogue.names("sweep")


def render_markdown_lines(render_markdown, tmp_path: Path, case: CaseResult) -> list[str]:
    from fixtures.results import minimal_run

    run = minimal_run(tmp_path)
    run.cases = [case]
    return render_markdown(run).splitlines()


def test_a_declaration_is_checked_when_made():
    with pytest.raises(ValueError, match="tolerance needs a better direction"):
        MetricDeclaration("x", "ms", Better.NONE, "x", "x", tolerance=0.1)
    with pytest.raises(ValueError, match="declared twice"):
        declare("ttft_p50", "s", Better.LOWER, "TTFT", "another")
    with pytest.raises(ValueError, match="not a direction"):
        declare("y", "ms", "down", "y", "y")


def test_the_gate_defaults_and_the_tables_are_the_catalogues():
    from openaiperf.baselines.gate import DEFAULT_TOLERANCES
    assert DEFAULT_TOLERANCES == catalogue.tolerances()
    assert DEFAULT_TOLERANCES["ttft_p50"] == 0.10 and DEFAULT_TOLERANCES["tpot_p50"] == 0.05
    assert "requests_per_s" not in DEFAULT_TOLERANCES
    assert [d.label for d in catalogue.headline() if not d.where_measured] == [
        "TTFT p50 (ms)", "TTFT p90 (ms)", "TPOT p50 (ms)", "E2E p90 (ms)", "req/s", "out tok/s", "MFU (%)"]
    # a workload's own columns (pooling) appear only in the tables where some case has them
    assert [d.label for d in catalogue.headline() if d.where_measured] == [
        "inputs/s", "in tok/s", "req latency p50 (ms)", "req latency p90 (ms)", "req latency p99 (ms)"]
