"""``multi_stream``: ``stream_count`` closed-loop streams (``--stream-count N``);
each sends its next request as soon as its previous one completes. The first
``stream_count`` requests (at least the concurrency) warm up and are not measured."""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

from openaiperf.loadgen.dispatcher import dispatch_closed, engine_sender, run_dispatch
from openaiperf.records import RecordSink, Request
from openaiperf.scenarios import ScenarioConfig, ScenarioRun
from openaiperf.scenarios.online import finish_run, fresh_records, number_option, with_warmup

DEFAULT_STREAMS = 4


class MultiStreamScenario:
    name: ClassVar[str] = "multi_stream"
    headline: ClassVar[str] = "e2e_p99"

    def __init__(self, config: ScenarioConfig) -> None:
        self.config = config
        options = config.options
        self.streams = number_option(options, "stream_count", DEFAULT_STREAMS, minimum=1, integer=True)
        self.warmup = number_option(options, "warmup_requests", self.streams, minimum=0, integer=True)

    def run(self, engine: Any, requests: Sequence[Request], sink: RecordSink, round_index: int = 0) -> ScenarioRun:
        all_requests = with_warmup(requests, self.warmup, self.config.min_queries)
        records = fresh_records(all_requests, round_index)
        send = engine_sender(engine)
        result = run_dispatch(engine, lambda: dispatch_closed(all_requests, records, self.streams, send, sink,
                                                              warmup=self.warmup))
        return finish_run(result, self.config, {"stream_count": self.streams, "warmup_requests": self.warmup,
                                                "loop": "closed"}, engine)
