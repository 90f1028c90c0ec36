"""Measured rounds: one pass of the scenario, its tag, its windows rebuilt from records, and the
garbage collector held still around it."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from openaiperf.monitor.prometheus import interval_peaks
from openaiperf.monitor.stalls import Stalls, StallWatch
from openaiperf.records import Record, RecordWriter, Workload
from openaiperf.runner.state import RunnerState
from openaiperf.scenarios import ScenarioRun


@contextmanager
def collector_held_still() -> Iterator[None]:
    """Collect the client's garbage before a measured round and freeze what is left, so
    that a full collection during the round scans only the round's own objects.

    A full collection of this process's heap (torch, transformers, pytest: ~300k
    objects) stops it for 50-150 ms on a small CPU, and one falling inside a round
    adds that pause to whichever request is waiting: seen as rare 40-120 ms TTFTs
    against a server that answers in 30 ms. Freezing (what vLLM does after start-up)
    keeps the collector running, so cyclic garbage of a long round is still freed;
    the heap is unfrozen after the round.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def rounds_of(records: Sequence[Record]) -> list[ScenarioRun]:
    """Measured windows rebuilt from records alone (one per round: first scheduled
    send to last completion), for a case whose scenario did not return its runs."""
    by_round: dict[int, list[Record]] = {}
    for record in records:
        by_round.setdefault(record.round, []).append(record)
    runs = []
    for index in sorted(by_round):
        members = by_round[index]
        done = [r.done for r in members if r.done is not None]
        start = min(r.scheduled for r in members)
        runs.append(ScenarioRun(records=members, start=start, end=max(done, default=start)))
    return runs


class RoundAttempts(RunnerState):
    """One measured pass of the scenario over a round's requests."""

    def measure_attempt(self, round_index: int, attempt: int, requests: Workload,
                        writer: RecordWriter) -> tuple[ScenarioRun, Stalls]:
        """One pass of the scenario over ``requests``, watched for stalls of the client."""
        again = " (measured again: the client stalled)" if attempt else ""
        of = (f"/{self.settings.repeats}" if round_index < self.settings.repeats
              else " (confirming a regression: --baseline-confirm)")
        self.progress.begin(f"round {round_index + 1}{of}{again}", len(requests))

        def completed(record: Record) -> None:
            writer.write(record)
            self.progress.advance()

        with collector_held_still():  # collected before the round's windows open
            self.monitor.start_round(round_index)
            if self.server_metrics is not None:
                self.server_metrics.begin()
            run: ScenarioRun | None = None
            try:
                with self.profiler.round(round_index), StallWatch() as watch:
                    run = self.scenario.run(self.engine, requests, completed, round_index)
            finally:
                summary = self.monitor.stop_round()
                if self.server_metrics is not None:
                    # the server counts the round's warmup requests too: they were sent inside it
                    self.server_metrics.end(round_index, sum(r.ok for r in run.records) if run else None,
                                            interval_peaks(summary))
        if self.complete_records(run.records):
            writer.rewrite()  # the lines appended at completion, now with the final token counts
        assert watch.stalls is not None
        return run, watch.stalls
