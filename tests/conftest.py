"""Shared by every test of the project.

Each test gets its own results-history store in a temporary folder
(``$OPENAIPERF_HISTORY``), so no test, nor any pytest run or ``ob`` command a test
starts (pytester, subprocess), ever writes into the real user data directory. What
runs before a test's own fixtures (session- and module-scoped fixtures, which pytest
sets up first, and collection) gets a store of the whole test session, set when the
session (or each xdist worker) is configured.

The quick subset runs on two xdist workers (``make test``, ``make quick``); a pytest
run a test starts must not believe it is one of them.

Only the tests marked ``timing`` measure rounds again when the client stalls
(``--stall-limit``, on by default for users): the others count requests, records
and engine calls, and on two busy workers the client stalls for milliseconds in
most rounds, so every pytest run they start gets ``--stall-limit=off``
(``$PYTEST_ADDOPTS``, which in-process and subprocess runs both read).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Import the history store's libraries once, here: pytester's in-process runs drop the
# modules first imported inside them, and would re-import SQLAlchemy at every run's end.
import openaiperf.history.store  # noqa: F401

pytest_plugins = ["pytester"]

_SESSION_STORE_DIR = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    folder = Path(tempfile.mkdtemp(prefix="openaiperf-tests-history-"))
    config.stash[_SESSION_STORE_DIR] = folder
    os.environ["OPENAIPERF_HISTORY"] = f"sqlite:///{folder / 'history.sqlite'}"


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_SESSION_STORE_DIR, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def temp_history_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's history store (a SQLite file that does not exist until a run is recorded)."""
    path = tmp_path_factory.mktemp("history") / "history.sqlite"
    monkeypatch.setenv("OPENAIPERF_HISTORY", f"sqlite:///{path}")
    return path


@pytest.fixture(autouse=True)
def not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide this xdist worker's variables from the pytest runs a test starts: pytest-benchmark
    turns itself off in a worker (``$PYTEST_XDIST_WORKER``), and a run under test is not one."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


def measure_rounds_once(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("timing") is None:
        monkeypatch.setenv("PYTEST_ADDOPTS", " ".join(filter(None, [os.environ.get("PYTEST_ADDOPTS"),
                                                                      "--stall-limit=off"])))


@pytest.fixture(autouse=True)
def metric_catalogue_restored() -> Iterator[None]:
    """The metric catalogue as it was before the test: a metric a test declares (directly, or by
    a module a pytester run imports in this process) would otherwise become a column of every
    later test's tables."""
    from openaiperf.metrics.catalogue import catalogue

    kept = dict(catalogue.declarations)
    yield
    catalogue.declarations.clear()
    catalogue.declarations.update(kept)


@pytest.fixture(autouse=True)
def rounds_measured_once(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--stall-limit=off`` for the pytest runs a test starts, unless it is marked ``timing``."""
    measure_rounds_once(request, monkeypatch)


@pytest.fixture
def pytester(pytester: pytest.Pytester, request: pytest.FixtureRequest,
             monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The built-in fixture, which clears ``$PYTEST_ADDOPTS`` when it starts: set again for its runs."""
    measure_rounds_once(request, monkeypatch)
    return pytester
