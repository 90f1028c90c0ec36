"""``single_stream``: one request at a time; the next is sent when the previous
completes (MLPerf SingleStream: the headline is p90 latency). Multi-turn sessions
run one at a time, turn by turn, with their think times."""

from __future__ import annotations

import time
from typing import ClassVar

from openaiperf.engines import Engine
from openaiperf.loadgen.dispatcher import engine_sender, run_dispatch
from openaiperf.loadgen.sessions import dispatch_sessions_closed
from openaiperf.records import RecordSink, Workload, is_sessions
from openaiperf.scenarios import Scenario, ScenarioRun, check_minimums, new_records


class SingleStreamScenario(Scenario):
    name: ClassVar[str] = "single_stream"
    sessions: ClassVar[bool] = True

    def run(self, engine: Engine, requests: Workload, sink: RecordSink, round_index: int = 0) -> ScenarioRun:
        if is_sessions(requests):
            send = engine_sender(engine)
            result = run_dispatch(engine, lambda: dispatch_sessions_closed(requests, 1, send, sink,
                                                                           round_index=round_index))
            run = ScenarioRun(records=result.records, start=result.start, end=result.end,
                              requests=result.requests,  # type: ignore[attr-defined]
                              settings={"concurrency": 1, "sessions": len(requests),
                                        "sessions_ended_early": result.ended_early})  # type: ignore[attr-defined]
            check_minimums(run, self.config)
            return run
        records = new_records(requests, round_index)
        start = time.perf_counter()
        for request, record in zip(requests, records, strict=True):
            record.scheduled = time.perf_counter()
            engine.run([request], [record], sink)
        run = ScenarioRun(records=records, start=start, end=time.perf_counter(), settings={"concurrency": 1},
                          requests=list(requests))
        check_minimums(run, self.config)
        return run
