"""Driving multi-turn sessions: the next request depends on the previous answer.

A :class:`~openaiperf.records.Session` is replayed as a chat client would: turn
k is scheduled when turn k - 1 has been answered plus the user's think time, and
carries the conversation so far (see :meth:`Session.request`). Its latency counts
from that scheduled time, as every request's does. A turn that fails ends its
session (a real client could not go on without the answer): the turns after it
are not sent, and the run says how many sessions ended early.

- :func:`dispatch_sessions_closed`: ``streams`` concurrent sessions; each stream
  starts its next session as soon as its previous one has ended (multi_stream;
  single_stream is one stream);
- :func:`dispatch_sessions_open`: session *i* starts at ``t0 + offsets[i]``
  whatever happened before (server, interactive: sessions arrive at a rate);
- :func:`run_waves`: every session's turn 1 as one batch, then every turn 2 with
  the answers of the first batch, ... (offline: the engine batches each wave).

The first ``warmup`` sessions are sent like the others and flagged as warmup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from openaiperf.engines import Engine
from openaiperf.loadgen.dispatcher import DispatchResult, SendFn, _window, run_closed_loop
from openaiperf.records import Record, RecordSink, Request, Session


@dataclass
class SessionDispatch(DispatchResult):
    """A dispatch of sessions: the records of every turn sent, the requests in the
    order they were sent, and the sessions a failed turn ended early."""

    requests: list[Request] = field(default_factory=list)
    ended_early: int = 0




async def _wait_until(when: float) -> None:
    while (delay := when - time.perf_counter()) > 0:
        # uvloop's timers count whole milliseconds and may wake a little early: wait the rest.
        await asyncio.sleep(delay)


class SessionRunner:
    """Runs sessions turn by turn, collecting their records and requests in send order."""

    def __init__(self, send: SendFn, sink: RecordSink, round_index: int) -> None:
        self.send = send
        self.sink = sink
        self.round_index = round_index
        self.records: list[Record] = []
        self.requests: list[Request] = []
        self.ended_early = 0

    def new_record(self, session: Session, request: Request, warmup: bool) -> Record:
        return Record(request_id=request.id, sample_id=session.sample_id, round=self.round_index, warmup=warmup,
                      session_id=session.id, turn=request.turn, salt=request.salt)

    async def run(self, session: Session, start: float, *, warmup: bool, think: bool = True) -> None:
        """Every turn of ``session``, the first scheduled at ``start`` (perf_counter)."""
        answers: list[str] = []
        pauses = session.think_times() if think else [0.0] * (len(session.turns) - 1)
        scheduled = start
        for turn in range(1, len(session.turns) + 1):
            request = session.request(turn, answers)
            record = self.new_record(session, request, warmup)
            record.scheduled = scheduled
            await _wait_until(scheduled)
            record.sent = time.perf_counter()
            self.records.append(record)
            self.requests.append(request)
            await self.send(request, record)
            self.sink(record)
            if not record.ok:
                if turn < len(session.turns):
                    self.ended_early += 1
                return
            answers.append(session.answer(turn, record))
            if turn < len(session.turns):
                scheduled = (record.done or time.perf_counter()) + pauses[turn - 1]

    def result(self, fallback_start: float) -> SessionDispatch:
        start, end = _window(self.records, fallback_start)
        return SessionDispatch(list(self.records), start, end, requests=list(self.requests),
                               ended_early=self.ended_early)


async def dispatch_sessions_closed(sessions: Sequence[Session], streams: int, send: SendFn, sink: RecordSink, *,
                                   warmup: int = 0, round_index: int = 0, think: bool = True) -> SessionDispatch:
    """``streams`` closed-loop streams share the sessions in order; each starts its next
    session as soon as its previous one has ended."""
    runner = SessionRunner(send, sink, round_index)
    t0 = time.perf_counter()

    async def run_session(index: int) -> None:
        await runner.run(sessions[index], time.perf_counter(), warmup=index < warmup, think=think)

    await run_closed_loop(len(sessions), streams, run_session)
    return runner.result(t0)


async def dispatch_sessions_open(sessions: Sequence[Session], offsets: Sequence[float], send: SendFn,
                                 sink: RecordSink, *, warmup: int = 0, round_index: int = 0,
                                 t0: float | None = None) -> SessionDispatch:
    """Session i starts at ``t0 + offsets[i]``, whatever happened before (open loop); ``t0``
    (perf_counter) defaults to a moment from now."""
    runner = SessionRunner(send, sink, round_index)
    if t0 is None:
        t0 = time.perf_counter() + 0.01  # a little slack so session 0 is not late by construction
    tasks = [asyncio.get_running_loop().create_task(
        runner.run(session, t0 + float(offset), warmup=index < warmup))
        for index, (session, offset) in enumerate(zip(sessions, offsets))]
    if tasks:
        await asyncio.gather(*tasks)
    return runner.result(t0)


def run_waves(engine: Engine, sessions: Sequence[Session], sink: RecordSink, round_index: int = 0) -> SessionDispatch:
    """Offline: turn 1 of every session as one batch (``engine.run``), then turn 2 of
    the sessions still going with the answers of the first wave, and so on. Think
    times do not apply: a batch is sent at once."""
    runner = SessionRunner(send=None, sink=sink, round_index=round_index)  # type: ignore[arg-type]
    answers: dict[str, list[str]] = {s.id: [] for s in sessions}
    alive = list(sessions)
    t0 = time.perf_counter()
    for turn in range(1, max((len(s.turns) for s in sessions), default=0) + 1):
        wave = [s for s in alive if len(s.turns) >= turn]
        if not wave:
            break
        requests = [s.request(turn, answers[s.id]) for s in wave]
        records = [runner.new_record(s, r, False) for s, r in zip(wave, requests)]
        now = time.perf_counter()
        for record in records:
            record.scheduled = now
        runner.records += records
        runner.requests += requests
        engine.run(requests, records, sink)
        alive = []
        for session, record in zip(wave, records):
            if record.ok:
                answers[session.id].append(session.answer(turn, record))
                alive.append(session)
            elif turn < len(session.turns):
                runner.ended_early += 1
    return runner.result(t0)
