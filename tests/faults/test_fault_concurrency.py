"""Runs started together: with the same ``--report-dir`` each gets its own run folder,
and processes that create a new SQLite history at the same moment all succeed
(the folder is created atomically; the schema is migrated by one process at a time).
The races are forced: processes wait on a barrier, then act at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import alembic.command  # noqa: F401 - imported once here, not in each forked process

TOGETHER = 6
ROUNDS = 8
HISTORY_ROUNDS = 3


def _make_run_dir(barrier, base: str, out) -> None:
    import openaiperf.report as report

    report.new_run_id = lambda hardware: "20260101-000000-cpu"  # every process: the same second
    barrier.wait()
    try:
        out.put(str(report.make_run_dir(Path(base), "cpu")))
    except Exception as exc:  # noqa: BLE001 - the failure is the result
        out.put(f"{type(exc).__name__}: {exc}")


def _open_history(barrier, url: str, out) -> None:
    from openaiperf.history.store import HistoryStore

    barrier.wait()
    try:
        with HistoryStore(url) as store:
            out.put(f"ok {store.revision()}")
    except Exception as exc:  # noqa: BLE001
        out.put(f"{type(exc).__name__}: {exc}")


def together(target, *args) -> list[str]:
    context = multiprocessing.get_context("fork")
    barrier, out = context.Barrier(TOGETHER), context.Queue()
    processes = [context.Process(target=target, args=(barrier, *args, out)) for _ in range(TOGETHER)]
    for process in processes:
        process.start()
    results = [out.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    return results


def test_runs_started_in_the_same_second_each_get_their_own_folder(tmp_path):
    for index in range(ROUNDS):
        base = tmp_path / str(index)
        made = together(_make_run_dir, str(base))
        assert all(m.startswith(str(base)) for m in made), made
        assert len(set(made)) == TOGETHER and sorted(p.name for p in base.iterdir()) == sorted(
            Path(m).name for m in made)


def test_processes_creating_a_new_history_at_once_all_succeed(tmp_path):
    for index in range(HISTORY_ROUNDS):
        results = together(_open_history, f"sqlite:///{tmp_path / f'history-{index}.sqlite'}")
        assert len(set(results)) == 1 and results[0].startswith("ok "), results
