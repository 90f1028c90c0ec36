"""The results history on a real PostgreSQL server (started on loopback for these
tests, password authentication over TCP): two benchmark runs written through
``pytest benchmarks --history postgresql://...`` and read back, ``ob history`` over
it, and the Grafana dashboard's SQL against the same schema. Skips, with the
reason, where no PostgreSQL server can be started."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchproject import bench_args
from sqlalchemy import text

from fixtures import pgserver
from openaiperf.cli import main as ob
from openaiperf.history.store import HistoryStore
from tests.history_docs import CASE, dashboard_queries, iso, make_case, make_document, write_run

pytest_plugins = ["pytester"]

OFFLINE = "summarization.xsum-offline-fake-fake-tiny"


@pytest.fixture(scope="module")
def postgres() -> Iterator[pgserver.PostgresServer]:
    reason = pgserver.missing_reason()
    if reason:
        pytest.skip(f"no PostgreSQL server here: {reason}")
    server = pgserver.start_server()
    try:
        yield server
    finally:
        server.stop()


def test_two_runs_into_postgresql_and_back(postgres: pgserver.PostgresServer, bench_project: pytest.Pytester,
                                           temp_history_store: Path, capsys) -> None:
    url = postgres.new_database("two_runs")
    first = bench_project.runpytest(*bench_args("-k", "offline", "--history", url))
    first.assert_outcomes(passed=1)
    shown = f"postgresql+psycopg://***@127.0.0.1:{postgres.port}/two_runs"
    first.stdout.fnmatch_lines([f"history: recorded as run 1 in {shown}"])
    second = bench_project.runpytest(*bench_args("-k", "offline", "--history", url))
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines([f"history: recorded as run 2 in {shown}"])
    assert pgserver.PASSWORD not in first.stdout.str() + second.stdout.str()
    assert not temp_history_store.exists()  # --history wins over $OPENAIPERF_HISTORY
    runs = sorted(p for p in (bench_project.path / "reports").iterdir() if p.is_dir())
    documents = [json.loads((r / "results.json").read_text()) for r in runs]

    with HistoryStore(url.replace("postgresql://", "postgresql+psycopg://")) as store:
        assert store.engine.dialect.name == "postgresql" and store.revision() == "0002"
        assert [r.run_name for r in store.runs()] == [runs[1].name, runs[0].name]
        for name in ("tpot_p50", "ttft_p50", "output_tokens_per_s"):
            points = store.case_points(OFFLINE, name)
            assert [p.value for p in points] == [d["cases"][0]["metrics"][name]["value"] for d in documents]
            assert {p.unit for p in points} == {documents[0]["cases"][0]["metrics"][name]["unit"]}
        with store.engine.connect() as conn:
            column = conn.execute(text("SELECT data_type FROM information_schema.columns "
                                       "WHERE table_name = 'ob_runs' AND column_name = 'system'")).scalar_one()
        assert column == "jsonb"

    capsys.readouterr()
    assert ob(["history", "list", "--history", url]) == 0
    listing = capsys.readouterr().out
    assert runs[0].name in listing and runs[1].name in listing and pgserver.PASSWORD not in listing
    plot = bench_project.path / "trend.png"
    assert ob(["history", "show", OFFLINE, "--metric", "tpot_p50", "--plot", str(plot), "--history", url]) == 0
    assert plot.read_bytes()[:4] == b"\x89PNG"
    markdown = (runs[1] / "pr-comment.md").read_text()
    assert "(1 run(s))" in markdown and shown in markdown


def test_grafana_dashboard_queries_on_postgresql(postgres: pgserver.PostgresServer, tmp_path: Path) -> None:
    url = postgres.new_database("grafana")
    with HistoryStore(url.replace("postgresql://", "postgresql+psycopg://")) as store:
        for day, value in ((1, 100.0), (2, 120.0)):
            verdicts = {"ttft_p50": "regression"} if day == 2 else None
            document = make_document(iso(day), [make_case(ttft_p50=value, verdicts=verdicts)])
            store.record_run(document, write_run(tmp_path, f"run-{day}", document), {"git_commit": f"{day}" * 40})
        queries = dashboard_queries({"hardware": ["cpu"], "engine": ["hf"], "model": ["smollm2-135m"],
                                     "case": [CASE], "metric": "ttft_p50"})
        with store.engine.connect() as conn:
            results = {title: [tuple(row) for row in conn.execute(text(sql))] for title, sql in queries.items()}
    assert [(name, value) for _, name, value in results["panel $metric of each case over time"]] == [
        (f"{CASE} @ cpu", 100.0), (f"{CASE} @ cpu", 120.0)]
    assert [row[0].isoformat() for row in results["panel $metric of each case over time"]] == [iso(1), iso(2)]
    assert [(r[1], r[2], r[3], r[7]) for r in results["panel Baseline regressions"]] == [
        (CASE, "ttft_p50", 120.0, "2" * 40)]
    assert [r[1] for r in results["panel Runs"]] == ["run-2", "run-1"]
    assert results["variable hardware"] == [("cpu",)] and results["variable case"] == [(CASE,)]
    assert results["variable engine"] == [("hf",)] and results["variable model"] == [("smollm2-135m",)]


def test_the_skip_reason_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgserver.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(pgserver.shutil, "which", lambda name: None)
    reason = pgserver.missing_reason()
    assert reason is not None and "initdb" in reason and "Debian's postgresql package" in reason
