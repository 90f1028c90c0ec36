"""The end of a benchmark run: record it in the history store and read its cases'
trends, without ever blocking or failing the run.

Whatever goes wrong (a store that is down, a driver that is not installed, a
schema from a newer version, a store that stops answering) becomes one warning
line and a note in the run folder (``history-not-written.txt``) that says how to
load the run later: ``ob history import RUN_DIR``. The whole exchange with the
store runs in a daemon thread with a deadline, on top of the connect timeout.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openaiperf.history.location import ENV_VAR, display_url, resolve_url
from openaiperf.history.runmeta import collect_run_meta, write_run_meta
from openaiperf.history.store import HistoryStore
from openaiperf.history.trends import DEFAULT_LAST_N, HistoryTrends, case_trends
from openaiperf.redact import redact_text
from openaiperf.report.results import read_results

if TYPE_CHECKING:
    from openaiperf.result import RunResult

#: the most a run waits for the store, all steps together
DEADLINE_S = 60.0
NOTE_FILE = "history-not-written.txt"


@dataclass
class HistoryOutcome:
    store: str | None  # URL, password hidden; None: history off
    run_id: int | None = None
    created: bool = False
    trends: HistoryTrends | None = None
    error: str | None = None
    run_dir: Path | None = None

    def summary_line(self) -> str | None:
        if self.store is None:
            return None
        if self.error:
            return f"history not written: {self.error}; load it later with `{self.import_command()}`"
        if not self.created:
            return f"history: run already in {self.store} (run {self.run_id})"
        return f"history: recorded as run {self.run_id} in {self.store}"

    def import_command(self, run_dir: str | None = None) -> str:
        """The command that loads the run later, into the same store (its URL, password hidden)."""
        store = f" --history {self.store}" if self.store and not self.store.startswith("$") else ""
        return f"ob history import{store} {run_dir or self._shown_dir()}"

    def _shown_dir(self) -> str:
        if self.run_dir is None:
            return "RUN_DIR"
        try:
            return os.path.relpath(self.run_dir)
        except ValueError:
            return str(self.run_dir)


def _exchange(url: str, document: RunResult, run_dir: Path, meta: dict[str, Any], limit: int,
              result: dict[str, Any]) -> None:

    store = HistoryStore(url)
    try:
        result["record"] = store.record_run(document, run_dir, meta)
        try:
            result["trends"] = case_trends(store, document, run_dir.name, limit=limit)
        except Exception as exc:  # noqa: BLE001 - recorded, but the trends could not be read
            result["trends_error"] = exc
    except BaseException as exc:  # noqa: BLE001 - handed to the caller, which reports it
        result["error"] = exc
    finally:
        store.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact_text(text[0] if text else type(exc).__name__)


def record_session_run(run_dir: Path, root: Path, *, history: str | None = None, disabled: bool = False,
                       limit: int = DEFAULT_LAST_N, deadline_s: float = DEADLINE_S) -> HistoryOutcome:
    """Record the run folder ``run_dir`` (its results.json) in the store that
    ``--history``/``$OPENAIPERF_HISTORY`` name (``disabled``: ``--no-history``) and read
    the trends of its cases. ``root``: the repository under test (for its git commit).
    Never raises."""
    try:
        meta = collect_run_meta(root)
        write_run_meta(run_dir, meta)
    except Exception:  # noqa: BLE001 - metadata is a nicety: the run is recorded without it
        meta = {}
    try:
        url = resolve_url(history, disabled=disabled)
    except Exception as exc:  # noqa: BLE001 - a bad $OPENAIPERF_HISTORY must not fail the run either
        outcome = HistoryOutcome(store=f"${ENV_VAR}", run_dir=run_dir, error=_reason(exc))
        _write_note(outcome)
        return outcome
    if url is None:
        return HistoryOutcome(store=None, run_dir=run_dir)
    outcome = HistoryOutcome(store=display_url(url), run_dir=run_dir)
    try:
        document = read_results(run_dir / "results.json")
        result: dict[str, Any] = {}
        worker = threading.Thread(target=_exchange, args=(url, document, run_dir, meta, limit, result),
                                  name="openaiperf-history", daemon=True)
        worker.start()
        worker.join(deadline_s)
        if worker.is_alive():
            raise TimeoutError(f"history store {outcome.store} did not answer within {deadline_s:g} s")
        if "error" in result:
            raise result["error"]
        outcome.run_id, outcome.created = result["record"].run_id, result["record"].created
        if "trends_error" in result:
            outcome.trends = HistoryTrends(store=outcome.store, limit=limit, error=_reason(result["trends_error"]))
        else:
            outcome.trends = result["trends"]
    except BaseException as exc:  # nothing here may fail the run (KeyboardInterrupt excepted)
        if isinstance(exc, KeyboardInterrupt):
            raise
        outcome.error = _reason(exc)
        outcome.trends = HistoryTrends(store=outcome.store, limit=limit, error=outcome.error)
        _write_note(outcome)
    return outcome


def _write_note(outcome: HistoryOutcome) -> None:
    if outcome.run_dir is None:
        return
    try:
        (outcome.run_dir / NOTE_FILE).write_text(
            f"history not written: {outcome.error}\n"
            f"load it later with: {outcome.import_command(str(outcome.run_dir.resolve()))}\n", encoding="utf-8")
    except OSError:
        pass


def read_trends(run_dir: Path, document: RunResult, *, history: str | None = None, disabled: bool = False,
                limit: int = DEFAULT_LAST_N, deadline_s: float = DEADLINE_S) -> HistoryTrends | None:
    """The trends of a run already written (``ob report``): None when the history is
    off, a :class:`HistoryTrends` with ``error`` set when the store cannot be read."""
    try:
        url = resolve_url(history, disabled=disabled)
    except Exception as exc:  # noqa: BLE001 - a report without trends, not a failed command
        return HistoryTrends(store=f"${ENV_VAR}", limit=limit, error=_reason(exc))
    if url is None:
        return None
    shown = display_url(url)
    result: dict[str, Any] = {}

    def read() -> None:

        store = HistoryStore(url)
        try:
            result["trends"] = case_trends(store, document, run_dir.name, limit=limit)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            result["error"] = exc
        finally:
            store.close()

    worker = threading.Thread(target=read, name="openaiperf-history-read", daemon=True)
    worker.start()
    worker.join(deadline_s)
    if worker.is_alive():
        return HistoryTrends(store=shown, limit=limit, error=f"no answer within {deadline_s:g} s")
    if "error" in result:
        return HistoryTrends(store=shown, limit=limit, error=_reason(result["error"]))
    trends: HistoryTrends = result["trends"]
    return trends
