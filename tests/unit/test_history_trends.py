"""A run against its cases' recent history (statistics with known values), the
report sections, the figures, and the session-end call that must never fail a run."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from openaiperf.history.session import NOTE_FILE, read_trends, record_session_run
from openaiperf.history.store import HistoryStore
from openaiperf.history.trends import MetricTrend, case_trends, format_value, markdown_lines
from tests.history_docs import CASE, iso, make_case, make_document, write_run


def history_of(tmp_path: Path, ttft_values: list[float], **current: float) -> tuple[HistoryStore, dict, str]:
    """A store holding one run per value (day 1, 2, ...) and the current run (recorded too)."""
    store = HistoryStore(f"sqlite:///{tmp_path / 'h.sqlite'}")
    for day, value in enumerate(ttft_values, start=1):
        document = make_document(iso(day), [make_case(ttft_p50=value, output_tokens_per_s=50.0)])
        store.record_run(document, write_run(tmp_path / "reports", f"run-{day}", document))
    document = make_document(iso(28), [make_case(**current)])
    store.record_run(document, write_run(tmp_path / "reports", "current", document))
    return store, document, "current"


def test_current_value_against_median_and_range(tmp_path: Path) -> None:
    store, document, name = history_of(tmp_path, [400.0, 405.0, 398.0, 430.0], ttft_p50=412.0,
                                       output_tokens_per_s=40.0)
    trends = case_trends(store, document, name, limit=10)
    ttft, tokens = trends.cases[CASE].metrics
    assert (ttft.metric, ttft.values, ttft.median, ttft.low, ttft.high) == ("ttft_p50", [400.0, 405.0, 398.0, 430.0],
                                                                             402.5, 398.0, 430.0)
    assert ttft.change == pytest.approx(412 / 402.5 - 1)
    assert ttft.side == "within" and ttft.outcome is None
    assert ttft.sentence() == ("ttft_p50 412 ms vs median 402.5 ms of the last 4 run(s) (range 398 ms–430 ms): "
                               "+2.4%, within the range")
    # throughput fell below every earlier run: outside the range, on the worse side (higher is better)
    assert (tokens.side, tokens.outcome, tokens.position()) == ("below", "worse", "below the range (worse)")
    assert trends.outside == [(CASE, tokens)]
    assert trends.cases[CASE].runs == 4  # the current run is not its own history


def test_last_n_runs_only_and_failed_runs_do_not_count(tmp_path: Path) -> None:
    store, document, name = history_of(tmp_path, [100.0, 200.0, 300.0], ttft_p50=250.0)
    failed = make_document(iso(20), [make_case(ttft_p50=9999.0, status="failed")])
    store.record_run(failed, write_run(tmp_path / "reports", "failed", failed))
    trend = case_trends(store, document, name, limit=2).cases[CASE].metrics[0]
    assert [p.value for p in trend.points] == [300.0, 9999.0]  # the last two runs, oldest first
    assert trend.values == [300.0]  # the failed run is listed, not counted
    assert trend.position() == "below the range (better)"


def test_directions_and_no_history() -> None:
    lower = MetricTrend("ttft_p50", "ms", "lower", 130.0)
    assert lower.position() == "no earlier valid runs" and lower.median is None and lower.change is None
    assert lower.sentence() == "ttft_p50 130 ms: no earlier valid runs"
    assert format_value(0.0123, "fraction") == "1.23%" and format_value(None, "ms") == "-"
    assert format_value(43992.4, "ms") == "43,992 ms" and format_value(0.09093, "requests/s") == "0.09093 requests/s"
    from openaiperf.history.trends import format_range

    assert format_range(5545.0, 5545.0, "ms") == "5545 ms" and format_range(1.0, 2.0, "") == "1–2"


def test_markdown_section(tmp_path: Path) -> None:
    store, document, name = history_of(tmp_path, [400.0, 405.0, 403.0], ttft_p50=500.0)
    text = "\n".join(markdown_lines(case_trends(store, document, name, limit=10)))
    assert "### Trend vs recent history" in text
    assert (f"- `{CASE}`: ttft_p50 500 ms vs median 403 ms of the last 3 run(s) (range 400 ms–405 ms): "
            "+24.1%, above the range (worse)") in text
    assert (f"| `{CASE}` | ttft_p50 | 500 ms | 403 ms (3 run(s)) | 400 ms–405 ms | +24.1% | above the range (worse) |"
            in text)


def test_two_earlier_runs_make_no_range_to_call_a_value_outside_of(tmp_path: Path) -> None:
    store, document, name = history_of(tmp_path, [400.0, 405.0], ttft_p50=500.0)
    trends = case_trends(store, document, name, limit=10)
    assert trends.cases[CASE].metrics[0].outcome == "worse" and trends.outside == []
    text = "\n".join(markdown_lines(trends))
    assert "No value outside the range of its recent runs" in text and "| above the range (worse) |" in text
    assert "Trend vs recent history" not in "\n".join(markdown_lines(None))
    from openaiperf.history.trends import HistoryTrends

    assert "History not available: boom" in "\n".join(markdown_lines(HistoryTrends(store="x", error="boom")))


def test_html_section_and_figures(tmp_path: Path) -> None:
    from openaiperf.history.plot import metric_over_runs, sparkline_svg
    from openaiperf.report.html import render_html

    store, document, name = history_of(tmp_path, [400.0, 405.0, 410.0], ttft_p50=500.0, output_tokens_per_s=55.0)
    trends = case_trends(store, document, name, limit=10)
    svg = sparkline_svg(trends.cases[CASE].metrics[0])
    assert svg is not None and svg.startswith("<svg") and svg.count("<circle") == 3 + 1  # three runs, this one
    series = {"cpu": store.case_points(CASE, "ttft_p50")}
    assert metric_over_runs(series, CASE, "ttft_p50") is not None
    page = render_html(tmp_path / "reports" / "current", trends)
    assert "History: each case against its last 10 runs" in page
    assert "above the range (worse)" in page and '<svg class="spark"' in page
    assert "History:" not in render_html(tmp_path / "reports" / "current")  # no trends given: no section


# -- the session end ------------------------------------------------------------------------
def test_session_end_records_and_reads_trends(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    first = write_run(tmp_path, "run-1", make_document(iso(1), [make_case(ttft_p50=100.0)]))
    second = write_run(tmp_path, "run-2", make_document(iso(2), [make_case(ttft_p50=110.0)]))
    one = record_session_run(first, tmp_path, history=url)
    two = record_session_run(second, tmp_path, history=url)
    assert (one.error, one.run_id, one.created, two.run_id) == (None, 1, True, 2)
    assert two.summary_line() == f"history: recorded as run 2 in {url}"
    assert two.trends.cases[CASE].metrics[0].values == [100.0]
    assert (first / "run-meta.json").exists() and not (first / NOTE_FILE).exists()
    assert record_session_run(second, tmp_path, history=url).created is False
    # ob report reads the same trends without writing
    document = make_document(iso(2), [make_case(ttft_p50=110.0)])
    assert read_trends(second, document, history=url).cases[CASE].metrics[0].values == [100.0]
    assert read_trends(second, document, history=url, disabled=True) is None


def test_session_end_with_the_history_off(tmp_path: Path, temp_history_store: Path) -> None:
    run = write_run(tmp_path, "run-1", make_document(iso(1), [make_case(ttft_p50=100.0)]))
    outcome = record_session_run(run, tmp_path, disabled=True)
    assert outcome.store is None and outcome.summary_line() is None and outcome.trends is None
    assert not temp_history_store.exists()


def test_session_end_with_a_store_that_never_answers(tmp_path: Path) -> None:
    """A server that accepts the connection and then says nothing: the deadline ends the wait."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        run = write_run(tmp_path, "run-1", make_document(iso(1), [make_case(ttft_p50=100.0)]))
        outcome = record_session_run(run, tmp_path, history=f"postgresql://u:hidden-pw@127.0.0.1:{port}/db",
                                     deadline_s=0.5)
    assert outcome.error == f"history store postgresql+psycopg://***@127.0.0.1:{port}/db did not answer within 0.5 s"
    note = (run / NOTE_FILE).read_text()
    store = f"postgresql+psycopg://***@127.0.0.1:{port}/db"
    assert "did not answer" in note and f"ob history import --history {store} {run.resolve()}" in note
    assert "hidden-pw" not in note
    # the hint names the store: without --history the run would go to the default one
    assert outcome.summary_line().endswith(
        f"load it later with `ob history import --history {store} {outcome._shown_dir()}`")


def test_session_end_with_a_bad_environment_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAIPERF_HISTORY", "mysql://u@h/db")
    run = write_run(tmp_path, "run-1", make_document(iso(1), [make_case(ttft_p50=100.0)]))
    outcome = record_session_run(run, tmp_path)
    assert "$OPENAIPERF_HISTORY: unsupported history URL scheme 'mysql'" in outcome.error
    assert (run / NOTE_FILE).exists()


def test_session_end_without_results(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    outcome = record_session_run(tmp_path / "empty", tmp_path, history=f"sqlite:///{tmp_path / 'h.sqlite'}")
    assert "cannot read results" in outcome.error
