"""``offline``: every sample is sent at once and the engine batches them
(MLPerf Offline: maximum throughput; latency is not a constraint).

Multi-turn sessions go in waves: turn 1 of every session as one batch, then
turn 2 of every session with the answers of the first, and so on (think times
do not apply to a batch)."""

from __future__ import annotations

import time
from typing import ClassVar

from openaiperf.engines import Engine
from openaiperf.loadgen.sessions import run_waves
from openaiperf.records import RecordSink, Workload, is_sessions
from openaiperf.scenarios import Scenario, ScenarioRun, check_minimums, new_records


class OfflineScenario(Scenario):
    name: ClassVar[str] = "offline"
    sessions: ClassVar[bool] = True

    def run(self, engine: Engine, requests: Workload, sink: RecordSink, round_index: int = 0) -> ScenarioRun:
        if is_sessions(requests):
            waves = run_waves(engine, requests, sink, round_index)
            run = ScenarioRun(records=waves.records, start=waves.start, end=waves.end, requests=waves.requests,
                              settings={"batching": "engine, one wave per turn", "sessions": len(requests),
                                        "sessions_ended_early": waves.ended_early})
            run.notes.append("offline multi-turn: each turn is one batch of every session's next turn; "
                             "think times do not apply")
            check_minimums(run, self.config)
            return run
        records = new_records(requests, round_index)
        start = time.perf_counter()
        for record in records:
            record.scheduled = start
        engine.run(requests, records, sink)
        run = ScenarioRun(records=records, start=start, end=time.perf_counter(), settings={"batching": "engine"},
                          requests=list(requests))
        check_minimums(run, self.config)
        return run
