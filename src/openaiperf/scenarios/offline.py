"""``offline``: every sample is sent at once and the engine batches them
(MLPerf Offline: maximum throughput; latency is not a constraint)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from openaiperf.records import RecordSink, Request
from openaiperf.scenarios import Scenario, ScenarioRun, check_minimums, new_records


class OfflineScenario(Scenario):
    name: ClassVar[str] = "offline"

    def run(self, engine: Any, requests: Sequence[Request], sink: RecordSink, round_index: int = 0) -> ScenarioRun:
        records = new_records(requests, round_index)
        start = time.perf_counter()
        for record in records:
            record.scheduled = start
        engine.run(requests, records, sink)
        run = ScenarioRun(records=records, start=start, end=time.perf_counter(), settings={"batching": "engine"})
        check_minimums(run, self.config)
        return run
