"""A measured round runs with the client's heap frozen: a full garbage collection that
falls inside the round (50-150 ms on this machine's pytest process) would otherwise
add its pause to a request's TTFT. The collector keeps running for the round's own
objects, and the heap is unfrozen afterwards."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Sequence
from typing import Any

from fixtures.engines import ScriptedEngine, xsum_case_runner
from openaiperf.matrix import Case
from openaiperf.records import Record, RecordSink, Request
from openaiperf.runner import RunSettings


class Node:
    def __init__(self) -> None:
        self.other: Any = self


class CollectorWatchingEngine(ScriptedEngine):
    """Notes, while it serves a round, how many objects the collector holds frozen and
    whether a reference cycle made during the round is still collected."""

    def __init__(self) -> None:
        super().__init__(tokens=2, token_s=0.0)
        self.frozen_during: list[int] = []
        self.cycle_collected: list[bool] = []

    def run(self, requests: Sequence[Request], records: Sequence[Record], on_done: RecordSink) -> None:
        self.frozen_during.append(gc.get_freeze_count())
        cycle = weakref.ref(Node())  # unreachable at once, but only the collector can free a cycle
        gc.collect()
        self.cycle_collected.append(cycle() is None)
        super().run(requests, records, on_done)


def test_a_measured_round_runs_with_the_heap_frozen_and_the_collector_on(tmp_path):
    case = Case("summarization.xsum", "offline", "scripted", "m", engine_options={}, scenario_options={})
    engine = CollectorWatchingEngine()
    runner = xsum_case_runner(tmp_path, case, engine=engine,
                              settings=RunSettings(max_samples=2, warmup_samples=1, repeats=2, monitor=False,
                                                   stall_limit_ms=None))  # its own collection stalls the client
    before = gc.get_freeze_count()
    runner.prepare()
    runner.warmup(runner.requests[:1])
    unmeasured = len(engine.frozen_during)
    for index in range(2):
        runner.measure_round(index)
    # warmup ran with nothing frozen; each round froze the heap the test process had built
    assert unmeasured >= 1 and engine.frozen_during[:unmeasured] == [before] * unmeasured
    rounds = engine.frozen_during[unmeasured:]
    assert len(rounds) == 2 and all(count > before + 1000 for count in rounds)
    assert all(engine.cycle_collected)
    assert gc.get_freeze_count() == before
