"""The stall-retry policy: a round whose client stalled past its limit is measured again, the
attempt's records kept on disk, marked discarded."""

from __future__ import annotations

import time

from openaiperf.metrics.latency import e2e_s, ttft_s
from openaiperf.monitor.stalls import STALL_PAUSE_S, stall_limit_ms
from openaiperf.records import RecordWriter, measured
from openaiperf.result import RoundStalls
from openaiperf.runner.rounds import RoundAttempts
from openaiperf.scenarios import ScenarioRun


class StallRetry(RoundAttempts):
    """A round in which the client stalled is measured again: the policy of :meth:`measure_round`."""

    def measure_round(self, round_index: int) -> ScenarioRun:
        """One measured pass of the scenario over every request; records go to the
        JSONL file as they complete. An attempt in which the client stalled for
        ``stall_limit_ms`` or more is measured again (``stall_retries`` times at most):
        its records stay in the file, marked ``discarded``, and the case's ``stalls``
        list every attempt."""
        floor, retries = self.settings.stall_limit_ms, self.settings.stall_retries
        with RecordWriter(self.records_path, time.perf_counter()) as writer:
            attempt = 0
            while True:
                requests = self.task.for_round(self.requests, self.round_tag(round_index, attempt))
                run, stalls = self.measure_attempt(round_index, attempt, requests, writer)
                limit = None if floor is None else self.stall_limit(floor, run)
                over = limit is not None and stalls.longest_ms >= limit
                again = over and attempt < retries
                self.result.stalls.append(RoundStalls(
                    round=round_index, attempt=attempt, longest_ms=round(stalls.longest_ms, 3),
                    limit_ms=None if limit is None else round(limit, 3),
                    steal_ms=None if stalls.steal_ms is None else round(stalls.steal_ms, 3),
                    seconds=round(stalls.seconds, 6), over_limit=over, kept=not again))
                if not again:
                    break
                self.result.notes.append(f"round {round_index + 1}: measured again, the client stalled "
                                         f"{stalls.longest_ms:.0f} ms (limit {limit:.0f} ms)")
                self.discard_attempt(run, writer)
                attempt += 1
                time.sleep(STALL_PAUSE_S * attempt)  # a burst of stalls lasts a while: let it pass
        if over:
            self.result.notes.append(
                f"round {round_index + 1}: the client stalled {stalls.longest_ms:.0f} ms (limit {limit:.0f} ms) in "
                f"each of {attempt + 1} attempt(s): the last one is kept, and the baseline gate does not judge it")
        self.round_requests.append(requests)
        self.runs.append(run)
        return run

    @staticmethod
    def stall_limit(floor_ms: float, run: ScenarioRun) -> float:
        """The stall that measures this attempt again, from its requests' latencies."""
        ok = [r for r in measured(run.records) if r.ok]
        ttft = [t for r in ok if (t := ttft_s(r)) is not None]
        decode = [e - t for r in ok if (t := ttft_s(r)) is not None and (e := e2e_s(r)) is not None]
        if not ttft:  # no token times: the whole request
            decode = [e for r in ok if (e := e2e_s(r)) is not None]
        return stall_limit_ms(floor_ms, ttft, decode)

    def discard_attempt(self, run: ScenarioRun, writer: RecordWriter) -> None:
        """An attempt that is measured again: its records marked discarded (on disk
        too), its resource readings and server-metric deltas dropped."""
        for record in run.records:
            record.discarded = True
        writer.rewrite()
        self.monitor.discard_round()
        if self.server_metrics is not None:
            self.server_metrics.discard_round()
