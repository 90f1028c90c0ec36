"""``single_stream``: one request at a time; the next is sent when the previous
completes (MLPerf SingleStream: the headline is p90 latency)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from openaiperf.records import RecordSink, Request
from openaiperf.scenarios import Scenario, ScenarioRun, check_minimums, new_records


class SingleStreamScenario(Scenario):
    name: ClassVar[str] = "single_stream"

    def run(self, engine: Any, requests: Sequence[Request], sink: RecordSink, round_index: int = 0) -> ScenarioRun:
        records = new_records(requests, round_index)
        start = time.perf_counter()
        for request, record in zip(requests, records, strict=True):
            record.scheduled = time.perf_counter()
            engine.run([request], [record], sink)
        run = ScenarioRun(records=records, start=start, end=time.perf_counter(), settings={"concurrency": 1})
        check_minimums(run, self.config)
        return run
