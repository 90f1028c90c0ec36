"""The archive's path rules, one member name at a time, and the leaderboard's rule that
only valid, passed cases are ranked."""

from __future__ import annotations

import pytest

from tests.registry.conftest import MISSING_EXTRA

if MISSING_EXTRA:
    pytest.skip(MISSING_EXTRA, allow_module_level=True)

from pathlib import Path

from fixtures.results import measured_case
from openaiperf.history.store import HistoryStore
from openaiperf.registry_service.archive import ArchiveRefused, inside, member_parts
from openaiperf.registry_service.service import RegistryService
from openaiperf.report.results import read_results, write_results
from tests.registry.conftest import make_run, pack


@pytest.mark.parametrize(("name", "parts"), [("run/results.json", ("run", "results.json")),
                                             ("./run/records/a.jsonl", ("run", "records", "a.jsonl")),
                                             ("run//x", ("run", "x"))])
def test_member_names_inside_the_run_folder(name: str, parts: tuple[str, ...]) -> None:
    assert member_parts(name) == parts


@pytest.mark.parametrize(("name", "reason"), [("/etc/passwd", "absolute"), ("run/../../x", "'..'"),
                                              ("..", "'..'"), ("C:/x", "absolute"), ("run\\..\\x", "absolute"),
                                              ("\\\\host\\share", "absolute"), ("", "empty")])
def test_member_names_that_leave_the_folder_are_refused(name: str, reason: str) -> None:
    with pytest.raises(ArchiveRefused, match=reason):
        member_parts(name)


def test_a_path_through_a_link_on_disk_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "sneaky").symlink_to(tmp_path)
    with pytest.raises(ArchiveRefused, match="outside its folder"):
        inside(root, ("sneaky", "x"))
    assert inside(root, ("run", "x")) == root / "run" / "x"


def test_the_leaderboard_ranks_only_valid_passed_cases(tmp_path: Path) -> None:
    """The fastest hf value is INVALID in one run and failed in another: the board shows
    hf's best valid one; vllm's only case is INVALID, so vllm is not on the board."""
    store = HistoryStore(f"sqlite:///{tmp_path / 'h.sqlite'}").open()
    try:
        service = RegistryService(store, tmp_path / "data")
        token = service.create_token("t", ["submit"], None)[0]
        for index, (ttft, validity, status) in enumerate(((30.0, True, "passed"), (10.0, False, "passed"),
                                                          (12.0, True, "failed"), (25.0, True, "passed"))):
            run_dir = make_run(tmp_path / "reports", f"run-{index}", f"2026-12-0{index + 1}T00:00:00+00:00")
            run = read_results(run_dir / "results.json")
            run.cases = [measured_case(run_dir, "summarization.xsum-offline-hf-m", ttft_ms=ttft, rounds=2,
                                       validity={"min_queries": validity}, status=status),
                         measured_case(run_dir, "summarization.xsum-offline-vllm-m", ttft_ms=5.0, rounds=2,
                                       validity={"min_queries": False})]
            write_results(run_dir / "results.json", run)
            assert not service.submit(pack(run_dir, tmp_path / f"{index}.tgz"), [], None, token).duplicate
        ranked, better = service.leaderboard("summarization.xsum", "offline", "cpu", "ttft_p50")
        assert better == "lower"
        assert [(r.engine, r.run_name, r.entries) for r in ranked] == [("hf", "run-3", 2)]
        assert ranked[0].value == pytest.approx(min(p.value for p in store.case_points(
            "summarization.xsum-offline-hf-m", "ttft_p50") if p.usable and p.value is not None))
    finally:
        store.close()


def test_a_folder_left_by_a_stopped_service_does_not_block_its_archive(tmp_path: Path) -> None:
    import hashlib
    import os

    store = HistoryStore(f"sqlite:///{tmp_path / 'h.sqlite'}").open()
    try:
        service = RegistryService(store, tmp_path / "data")
        token = service.create_token("t", ["submit"], None)[0]
        archive = pack(make_run(tmp_path / "reports", "run-a", "2026-12-01T00:00:00+00:00"), tmp_path / "a.tgz")
        left = service.data_dir / "submissions" / hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
        left.mkdir()
        with pytest.raises(Exception, match="being stored by another request"):  # a fresh one: in progress
            service.submit(archive, [], None, token)
        os.utime(left, (0, 0))  # long ago: left behind
        outcome = service.submit(archive, [], None, token)
        assert not outcome.duplicate and (left / "run-a" / "results.json").is_file()
    finally:
        store.close()


def test_a_store_that_fails_is_a_503_naming_it_without_its_password(tmp_path: Path) -> None:
    import httpx

    from openaiperf.history.store import HistoryError
    from tests.registry.conftest import serve

    store = HistoryStore(f"sqlite:///{tmp_path / 'h.sqlite'}").open()
    service = RegistryService(store, tmp_path / "data")
    read = service.create_token("t", ["read"], None)[1]

    def down(*_args: object, **_kwargs: object) -> None:
        raise HistoryError("cannot read history store postgresql+psycopg://perf:***@db/perf: connection refused")

    url, server = serve(service)
    try:
        service.runs = down  # type: ignore[method-assign]
        answer = httpx.get(f"{url}/api/v1/runs", headers={"Authorization": f"Bearer {read}"})
        assert answer.status_code == 503
        assert answer.json()["detail"] == ("the results history is not available: cannot read history store "
                                           "postgresql+psycopg://perf:***@db/perf: connection refused")
    finally:
        server.stop()
        store.close()
