"""A load generator worker, whatever carries it (a process here, a Ray actor on a
cluster): what it is told to send (:class:`ShardPlan`), what it runs on its own event
loop (:class:`WorkerCore`), and the driver's handle on it (:class:`Link`, made by a
:class:`Transport`). The driver and the transports are in
:mod:`openaiperf.loadgen.workers` (processes) and :mod:`openaiperf.loadgen.cluster`
(Ray); both build on this module.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from openaiperf.loadgen.client_load import ClientProbe
from openaiperf.loadgen.dispatcher import close_engine_session, dispatch_open, engine_sender
from openaiperf.loadgen.sessions import dispatch_sessions_open
from openaiperf.records import Record, Request
from openaiperf.registry import load_target

#: how often a worker sends the records completed since its last batch, s
BATCH_S = 0.05
#: connections a worker opens before the start, at most
PREPARE_CONNECTIONS = 32
#: how long a worker may take to start and prepare, s
READY_TIMEOUT_S = 120.0


class WorkerLost(Exception):
    """A worker died or stopped answering."""


@dataclass
class ShardPlan:
    """What one worker sends: its requests (or sessions) with their global indexes and
    schedule offsets, and how to build its engine client."""

    worker: int
    indexes: list[int]
    items: list[Any]
    offsets: list[float]
    #: how many of the shard's first items are warmup (the global warmup items are a prefix)
    warmup: int
    round_index: int
    sessions: bool
    engine_class: str
    engine_spec: dict[str, Any]
    skew_s: float = 0.0
    kill_after_s: float | None = None
    batch_s: float = BATCH_S
    connections: int = PREPARE_CONNECTIONS
    #: per item, how long after its send the client cancels it (None: never), from the global decision
    cancel_after_s: list[float | None] | None = None
    #: probe requests this worker sends beside its shard, and their offsets (from the shared start)
    probes: list[Request] = field(default_factory=list)
    probe_offsets: list[float] = field(default_factory=list)


def apply_skew(skew_s: float) -> None:
    """Shift this process's ``perf_counter`` (a test hook: a host whose clock is off)."""
    if skew_s:
        real = time.perf_counter
        time.perf_counter = lambda: real() + skew_s


def load_engine_class(target: str) -> Any:
    return load_target(target, source="load generator worker")


class WorkerCore:
    """A worker's part, on its own event loop: prepare, then :meth:`run` from a start
    instant given in this process's clock; :meth:`drain` hands over the records completed
    since it was last called."""

    def __init__(self, plan: ShardPlan) -> None:
        self.plan = plan
        self.engine: Any = None
        self.records: list[Record] = []
        self.pending: list[Record] = []
        #: the driver said to send no more (a saturation stop): the requests not yet sent are left out
        self.halted = False

    def halt(self) -> None:
        self.halted = True

    async def prepare(self) -> None:
        plan = self.plan
        self.engine = load_engine_class(plan.engine_class).from_worker_spec(plan.engine_spec)
        if not plan.sessions:
            self.records = [Record(request_id=r.id, sample_id=r.sample_id, round=plan.round_index,
                                   session_id=r.session_id, turn=r.turn, worker=plan.worker) for r in plan.items]
        await self.engine.open_connections(min(plan.connections, len(plan.items)))

    def sink(self, record: Record) -> None:
        record.worker = self.plan.worker
        self.pending.append(record)

    def drain(self) -> list[Record]:
        out, self.pending = self.pending, []
        return out

    async def run(self, t0: float) -> dict[str, Any]:
        """Send the shard from ``t0`` (this process's perf_counter); the summary at the end."""
        plan = self.plan
        loop = asyncio.get_running_loop()
        if plan.kill_after_s is not None:
            loop.call_later(max(0.0, t0 - time.perf_counter()) + plan.kill_after_s, os.kill, os.getpid(),
                            signal.SIGKILL)
        probe = ClientProbe(plan.worker)
        probe.start()
        send = engine_sender(self.engine)
        requests: list[Request] = []
        ended_early = 0
        probe_records = [Record(request_id=r.id, sample_id=r.sample_id, round=plan.round_index) for r in plan.probes]
        try:
            if plan.sessions:
                result = await dispatch_sessions_open(plan.items, plan.offsets, send, self.sink, warmup=plan.warmup,
                                                      round_index=plan.round_index, t0=t0)
                requests, ended_early = result.requests, result.ended_early
            else:
                main = dispatch_open(plan.items, self.records, plan.offsets, send, self.sink, warmup=plan.warmup,
                                     t0=t0, cancel_after_s=plan.cancel_after_s, halted=lambda: self.halted)
                if plan.probes:
                    # beside the shard, into no sink: returned apart with the summary
                    for record in probe_records:
                        record.worker = plan.worker
                    await asyncio.gather(main, dispatch_open(plan.probes, probe_records, plan.probe_offsets, send,
                                                             lambda r: None, t0=t0))
                else:
                    await main
        finally:
            await close_engine_session(self.engine)
        load = await probe.stop()
        return {"client": load, "requests": requests, "ended_early": ended_early, "probes": probe_records}


class Link(Protocol):
    """The driver's handle on one started, prepared worker."""

    worker: int
    node: str | None

    def clock(self) -> float:
        """The worker's perf_counter now (one round trip)."""
        ...

    def start(self, t0: float) -> None: ...

    def halt(self) -> None:
        """Tell the worker to send no more of its shard (what it sent still completes)."""
        ...

    def poll(self) -> list[tuple[str, Any]]:
        """What the worker sent since the last call: ("records", [...]), ("done", summary),
        ("lost", reason)."""
        ...

    def close(self) -> None:
        """Stop the worker (killed if it does not stop at once)."""
        ...


class Transport(Protocol):
    name: str

    def worker_count(self, requested: int) -> int:
        """How many workers to start for ``requested`` (a cluster: at least one per node)."""
        ...

    def open(self, plans: Sequence[ShardPlan]) -> list[Link]:
        """Start a worker per plan and return once each has prepared (or raise)."""
        ...
