"""Sending requests to an engine at scheduled times, without lying about it.

Open loop (:func:`dispatch_open`): request *i* is scheduled at ``t0 + offset[i]``
whatever happened before; its record keeps the scheduled time and the actual
send time, and latency is measured from the scheduled time, so a client or
server that falls behind shows up as latency (no coordinated omission) and as
send lag. Closed loop (:func:`dispatch_closed`): N streams each send their next
request when their previous one completes (the next request is scheduled at that
moment).

The first ``warmup`` requests are sent like the others but flagged as warmup,
so the system is in its steady state when measurement begins; they are never
measured. Engines that serve one request at a time (``concurrent = False``)
still get every request at its scheduled time: the requests queue in front of
the engine, and that queueing is counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from openaiperf.engines import Engine
from openaiperf.loadgen.client_load import ClientLoad, ClientProbe
from openaiperf.records import Record, RecordSink, Request

T = TypeVar("T")

SendFn = Callable[[Request, Record], Awaitable[None]]


@dataclass
class DispatchResult:
    records: list[Record]
    start: float  # perf_counter at the first measured scheduled send
    end: float    # perf_counter when the last measured request completed
    #: what each client process measured about itself (see :mod:`openaiperf.loadgen.client_load`)
    client: list[ClientLoad] = field(default_factory=list)
    #: probe requests sent beside the load (``--probe-rate``) by a load generator worker, measured apart
    probes: list[Record] = field(default_factory=list)


def engine_sender(engine: Engine) -> SendFn:
    async def send(request: Request, record: Record) -> None:
        try:
            await engine.stream(request, record)
        except Exception as exc:  # an engine bug must not stop the other requests
            record.fail(f"{type(exc).__name__}: {exc}")
        if record.done is None:
            record.done = time.perf_counter()

    return send


async def close_engine_session(engine: Engine) -> None:
    await engine.aclose()


def _window(records: Sequence[Record], fallback: float) -> tuple[float, float]:
    measured = [r for r in records if not r.warmup]
    if not measured:
        return fallback, time.perf_counter()
    start = min(r.scheduled for r in measured)
    end = max((r.done for r in measured if r.done is not None), default=time.perf_counter())
    return start, end


#: how often (s) an open-loop dispatch asks its ``stop`` whether to send on
STOP_CHECK_S = 0.5


async def send_or_cancel(send: SendFn, request: Request, record: Record, cancel_after_s: float | None) -> None:
    """Send; with ``cancel_after_s``, the client gives up that long after the send if the
    response has not ended (as a user who abandons): the stream is closed and the
    record is cancelled, neither answered nor failed."""
    if cancel_after_s is None:
        await send(request, record)
        return
    try:
        await asyncio.wait_for(send(request, record), cancel_after_s)
    except asyncio.TimeoutError:
        record.cancel()


async def dispatch_open(requests: Sequence[Request], records: Sequence[Record],
                        offsets: Sequence[float] | np.ndarray[Any, Any], send: SendFn, sink: RecordSink, *,
                        warmup: int = 0, t0: float | None = None,
                        stop: Callable[[Sequence[Record]], bool] | None = None,
                        cancel_after_s: Sequence[float | None] | None = None,
                        halted: Callable[[], bool] | None = None) -> DispatchResult:
    """Send request i at ``t0 + offsets[i]``; the first ``warmup`` are not measured. ``t0``
    (perf_counter): the start a driver gave a worker process; default a moment from now.
    ``stop`` is asked every :data:`STOP_CHECK_S` with the records sent so far: True sends
    no more (an over-saturated ramp), and the result holds the records sent only.
    ``halted`` (cheap, asked before every send) does the same when a driver that watches
    the merged records of several workers has decided to stop.
    ``cancel_after_s[i]`` (None: never) cancels request i that long after its send."""
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []

    async def one(request: Request, record: Record, cancel_s: float | None) -> None:
        # The send happens when this task runs, not when it was created: a busy
        # client loop shows up as lag here.
        record.sent = time.perf_counter()
        await send_or_cancel(send, request, record, cancel_s)
        sink(record)

    if t0 is None:
        t0 = time.perf_counter() + 0.01  # a little slack so request 0 is not late by construction
    checked = t0
    sent = 0
    for index, (request, record, offset) in enumerate(zip(requests, records, offsets)):
        if stop is not None and time.perf_counter() - checked >= STOP_CHECK_S:
            checked = time.perf_counter()
            if stop(records[:sent]):
                break
        record.warmup = index < warmup
        record.scheduled = t0 + float(offset)
        while (delay := record.scheduled - time.perf_counter()) > 0:
            # One timer wait: spinning on sleep(0) up to the exact instant cost about
            # 0.7 ms of CPU per request, which is what limits the rates a client can
            # hold; a timer that wakes late shows up honestly as send lag. uvloop's
            # timers count whole milliseconds and may wake a little early: then the
            # rest is waited for, so that no request is sent before its time.
            await asyncio.sleep(delay)
        if halted is not None and halted():
            break
        tasks.append(loop.create_task(one(request, record, cancel_after_s[index] if cancel_after_s else None)))
        sent += 1
    if tasks:
        await asyncio.gather(*tasks)
    start, end = _window(records[:sent], t0)
    return DispatchResult(list(records[:sent]), start, end)


async def run_closed_loop(count: int, streams: int, job: Callable[[int], Awaitable[None]]) -> None:
    """``streams`` closed-loop workers share the jobs ``0 .. count - 1`` in order; each
    starts its next job as soon as its previous one has ended."""
    pending = iter(range(count))  # shared: each index goes to exactly one worker

    async def worker() -> None:
        for index in pending:
            await job(index)

    await asyncio.gather(*(worker() for _ in range(max(1, streams))))


async def dispatch_closed(requests: Sequence[Request], records: Sequence[Record], streams: int, send: SendFn,
                          sink: RecordSink, *, warmup: int = 0) -> DispatchResult:
    """``streams`` closed-loop streams share the requests in order; each sends its
    next request as soon as its previous one completes."""
    t0 = time.perf_counter()

    async def send_one(index: int) -> None:
        record = records[index]
        record.warmup = index < warmup
        record.scheduled = time.perf_counter()
        record.sent = record.scheduled
        await send(requests[index], record)
        sink(record)

    await run_closed_loop(len(requests), streams, send_one)
    start, end = _window(records, t0)
    return DispatchResult(list(records), start, end)


def run_dispatch(engine: Engine, coroutine_factory: Callable[[], Awaitable[DispatchResult]]) -> DispatchResult:
    """Run a dispatch in a fresh event loop and close the engine's session of that loop."""

    async def main() -> DispatchResult:
        probe = ClientProbe()
        probe.start()
        try:
            result = await coroutine_factory()
        finally:
            await close_engine_session(engine)
            load = await probe.stop()
        result.client.append(load)
        return result

    return run_loop(main())


def run_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed (it comes with vLLM's server stack): the
    client's own overhead per request is what limits the rates it can hold."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    result: T = uvloop.run(coroutine)
    return result
