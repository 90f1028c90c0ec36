"""Submissions end to end on loopback: ``ob pack`` archives sent by ``ob submit`` to a real
uvicorn server over SQLite and over a real PostgreSQL, the runs then in the history and on
the pages; the refusals (token, scope, revocation, size, paths, links, corrupt results,
checksums, replays), nothing stored by a refused request; 20 concurrent submissions."""

from __future__ import annotations

import pytest

from tests.registry.conftest import MISSING_EXTRA

if MISSING_EXTRA:
    pytest.skip(MISSING_EXTRA, allow_module_level=True)

import io
import json
import tarfile
import threading
from pathlib import Path
from typing import Any

import httpx

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
    assert report.headers["content-security-policy"] == "sandbox"  # the submitter's HTML, kept in a sandbox
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


# -- refusals -----------------------------------------------------------------------------
def tar_of(path: Path, members: list[tuple[str, bytes | None, str | None]]) -> Path:
    """A gzip tar with ``(name, content, link target)`` members (content None: a symlink)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, content, target in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.linkname = tarfile.SYMTYPE, target or ""
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return path


def members_of(archive: Path) -> list[tuple[str, bytes | None, str | None]]:
    with tarfile.open(archive) as opened:
        return [(m.name, opened.extractfile(m).read(), None) for m in opened.getmembers()  # type: ignore[union-attr]
                if m.isfile()]


def refused(registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            archive: Path, scope: str | None = "submit") -> str:
    """Submit; assert it was refused and nothing was stored; the error line."""
    before_rows, before_files = len(stored(registry)), data_files(registry)
    capsys.readouterr()
    assert submit(registry, monkeypatch, archive, scope) == 2
    captured = capsys.readouterr()
    for token in registry.tokens.values():
        assert token not in captured.out + captured.err
    assert len(stored(registry)) == before_rows
    assert data_files(registry) == before_files
    return captured.err


def test_refusals_store_nothing(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    good = pack(make_run(tmp_path / "reports", "run-a", CREATED[0]), tmp_path / "good.tgz")
    members = members_of(good)
    # tokens: none, a read-only one, a revoked one, an unknown one
    assert "no registry token: set $OPENAIPERF_TOKEN" in refused(registry, monkeypatch, capsys, good, None)
    error = refused(registry, monkeypatch, capsys, good, "read")
    assert "has scope(s) read; this needs 'submit'" in error
    assert "revoked" in refused(registry, monkeypatch, capsys, good, "revoked")
    registry.tokens["unknown"] = "obt_" + "x" * 43
    assert "refused the token (the token from $OPENAIPERF_TOKEN): unknown token" in refused(
        registry, monkeypatch, capsys, good, "unknown")
    # climbing, absolute and link members; nothing written outside the data folder
    outside = tmp_path / "escaped.txt"
    climbing = tar_of(tmp_path / "climb.tgz", [*members, (f"run-a/../../../../{outside}", b"x", None)])
    assert "a path with '..'" in refused(registry, monkeypatch, capsys, climbing)
    absolute = tar_of(tmp_path / "abs.tgz", [*members, (str(outside), b"x", None)])
    assert "an absolute path" in refused(registry, monkeypatch, capsys, absolute)
    linked = tar_of(tmp_path / "link.tgz", [*members, ("run-a/records/evil.jsonl", None, "/etc/passwd")])
    assert "a link (links are not accepted)" in refused(registry, monkeypatch, capsys, linked)
    assert not outside.exists()
    # a record changed after packing: its checksum no longer matches the manifest
    tampered = [(n, c + b"\n" if n.endswith(".jsonl") and c else c, t) for n, c, t in members]
    error = refused(registry, monkeypatch, capsys, tar_of(tmp_path / "tampered.tgz", tampered))
    assert "checksum mismatch: 'records/summarization.xsum-offline-" in error
    # an archive without the manifest (not made by ob pack)
    bare = tar_of(tmp_path / "bare.tgz", [m for m in members if not m[0].endswith("SHA256SUMS")])
    assert "no SHA256SUMS in the run folder" in refused(registry, monkeypatch, capsys, bare)
    # a corrupt results.json, packed (so its checksum is right)
    corrupt_dir = make_run(tmp_path / "reports", "run-corrupt", CREATED[1])
    document = json.loads((corrupt_dir / "results.json").read_text())
    document["cases"][0]["metrics"]["ttft_p50"]["value"] = "fast"
    (corrupt_dir / "results.json").write_text(json.dumps(document))
    error = refused(registry, monkeypatch, capsys, pack(corrupt_dir, tmp_path / "corrupt.tgz"))
    assert "results.json: not a valid results document" in error and "cases[0].metrics.ttft_p50" in error
    assert str(tmp_path) not in error  # the service's own paths stay out of the answer
    # not a tar at all
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"not an archive" * 10)
    assert "not a tar archive" in refused(registry, monkeypatch, capsys, junk)
    # the good archive still goes in, once; a replay and a repack of the same run are recognised
    assert submit(registry, monkeypatch, good) == 0
    assert "this archive was submitted already" in refused(registry, monkeypatch, capsys, good)
    repacked = tar_of(tmp_path / "repacked.tgz", list(reversed(members)))
    assert repacked.read_bytes() != good.read_bytes()
    assert "this run was submitted already" in refused(registry, monkeypatch, capsys, repacked)
    assert len(stored(registry)) == 1 and len(registry.service.store.runs()) == 1


def test_an_oversized_archive_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    registry, server, store = start_registry(f"sqlite:///{tmp_path / 'h.sqlite'}", tmp_path / "data",
                                             max_archive_bytes=2000)
    try:
        archive = pack(make_run(tmp_path / "reports", "run-a", CREATED[0]), tmp_path / "a.tgz")
        assert archive.stat().st_size > 2000
        assert "this registry accepts at most 2000" in refused(registry, monkeypatch, capsys, archive)
        # a client that does not announce its length is cut off while it sends
        answer = httpx.post(f"{registry.url}/api/v1/submissions", headers={
            "Authorization": f"Bearer {registry.tokens['submit']}"}, content=iter([archive.read_bytes()]))
        assert answer.status_code == 413 and "over 2000 bytes" in answer.json()["detail"]
        assert stored(registry) == [] and data_files(registry) == set()
    finally:
        server.stop()
        store.close()


def test_twenty_concurrent_submissions_are_each_stored_once(registry: Registry, tmp_path: Path) -> None:
    """20 archives, each sent twice at the same moment (40 requests): 20 stored, 20 answered
    as duplicates, 20 runs in the history."""
    archives = [pack(make_run(tmp_path / "reports", f"run-{i:02d}", f"2026-12-01T10:{i:02d}:00+00:00",
                              ttft_ms=10.0 + i), tmp_path / f"{i}.tgz") for i in range(20)]
    statuses: list[int] = []
    barrier = threading.Barrier(40)
    lock = threading.Lock()

    def send(archive: Path) -> None:
        body = archive.read_bytes()
        barrier.wait()
        answer = httpx.post(f"{registry.url}/api/v1/submissions", content=body, timeout=120,
                            headers={"Authorization": f"Bearer {registry.tokens['submit']}"})
        with lock:
            statuses.append(answer.status_code)

    threads = [threading.Thread(target=send, args=(a,)) for a in archives * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert sorted(statuses) == [201] * 20 + [409] * 20
    rows = stored(registry)
    assert len(rows) == 20 and len({r.run_key for r in rows}) == 20
    assert len(registry.service.store.runs()) == 20
    folders = {p.name for p in (registry.service.data_dir / "submissions").iterdir()}
    assert len(folders) == 20 and not any((registry.service.data_dir / "incoming").iterdir())


def test_what_a_submission_says_is_shown_as_text(registry: Registry, tmp_path: Path) -> None:
    """A description and a metric unit holding HTML come out escaped on the pages."""
    run_dir = make_run(tmp_path / "reports", "run-a", CREATED[0])
    document = json.loads((run_dir / "results.json").read_text())
    document["cases"][0]["metrics"]["ttft_p50"]["unit"] = "<img src=x onerror=alert(2)>"
    (run_dir / "results.json").write_text(json.dumps(document))
    token = registry.service.authenticate(registry.tokens["submit"])
    assert token is not None
    outcome = registry.service.submit(pack(run_dir, tmp_path / "a.tgz"), [], "<script>alert(1)</script>", token)
    pages = [read(registry, "/").text, read(registry, f"/runs/{outcome.run_id}").text,
             read(registry, "/trend", case="summarization.xsum-offline-hf-m", metric="ttft_p50").text]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    for page in pages:
        assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in pages[2]
