"""``multi_stream``: ``stream_count`` closed-loop streams (``--stream-count N``);
each sends its next request as soon as its previous one completes. The first
``stream_count`` requests (at least the concurrency) warm up and are not measured.

Multi-turn sessions: ``stream_count`` concurrent sessions; each stream starts its
next session when its previous one has ended, and within a session each turn is
sent when the one before has been answered and the user has thought. The first
``stream_count`` sessions warm up (their first turn only)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from openaiperf.engines import Engine
from openaiperf.loadgen.dispatcher import dispatch_closed, engine_sender, run_dispatch
from openaiperf.loadgen.sessions import dispatch_sessions_closed
from openaiperf.records import RecordSink, Workload, is_sessions
from openaiperf.registry import Options, option_field
from openaiperf.scenarios import Scenario, ScenarioConfig, ScenarioRun, new_records
from openaiperf.scenarios.online import finish_run, with_warmup, with_warmup_sessions


class MultiStreamOptions(Options):
    stream_count: int = option_field(4, ge=1, flag="--stream-count", metavar="N",
                                     help="closed-loop concurrent streams")
    #: unmeasured requests sent first (default: stream_count); sessions: warmup sessions of one turn
    warmup_requests: int | None = Field(default=None, ge=0)
    batch_invariance: bool = option_field(
        False, flag="--batch-invariance",
        help="online greedy cases: also run every measured request alone (concurrency 1) after the "
             "measured rounds and report the fraction whose output is identical")


class MultiStreamScenario(Scenario):
    name: ClassVar[str] = "multi_stream"
    overlapping: ClassVar[bool] = True
    sessions: ClassVar[bool] = True
    Options: ClassVar[type[Options]] = MultiStreamOptions
    options: MultiStreamOptions

    def __init__(self, config: ScenarioConfig) -> None:
        super().__init__(config)
        self.streams = self.options.stream_count
        warmup = self.options.warmup_requests
        self.warmup = self.streams if warmup is None else warmup

    def run(self, engine: Engine, requests: Workload, sink: RecordSink, round_index: int = 0) -> ScenarioRun:
        send = engine_sender(engine)
        settings: dict[str, Any] = {"stream_count": self.streams, "warmup_requests": self.warmup, "loop": "closed"}
        if is_sessions(requests):
            sessions = with_warmup_sessions(requests, self.warmup, self.config.min_queries)
            result = run_dispatch(engine, lambda: dispatch_sessions_closed(
                sessions, self.streams, send, sink, warmup=self.warmup, round_index=round_index))
            settings["sessions"] = len(sessions) - self.warmup
            return finish_run(result, self.config, settings, engine)
        all_requests = with_warmup(requests, self.warmup, self.config.min_queries)
        records = new_records(all_requests, round_index)
        result = run_dispatch(engine, lambda: dispatch_closed(all_requests, records, self.streams, send, sink,
                                                              warmup=self.warmup))
        return finish_run(result, self.config, settings, engine, all_requests)
