"""Load from several client processes, or hosts, behind one exact global schedule.

One process sends about 2,400 requests/s at most (see ``docs/serving.md``);
``--loadgen-workers N`` (processes on this host) and ``--loadgen-cluster
ADDRESS`` (Ray actors, one per node: :mod:`openaiperf.loadgen.cluster`) send
more. Both go through :func:`run_workers`, the one driver; only the transport
(how a worker is started and talked to) differs; what a worker runs, whatever
carries it, is :mod:`openaiperf.loadgen.worker_core`.

1. The driver computes the global schedule exactly as one process would (the
   scenario's seeded Poisson, gamma or trace offsets), then gives each request to
   a worker by seeded independent thinning (:func:`assign_workers`; a multi-turn
   session goes whole to one worker): the union of the shards is the global
   schedule, and a shard of a Poisson process is itself Poisson.
2. Each worker builds its engine client (:meth:`~openaiperf.engines.Engine.from_worker_spec`),
   its requests and records, and opens connections (prepare phase).
3. The driver measures each worker's clock offset (:mod:`openaiperf.loadgen.clocks`)
   and gives every worker one start instant, in the worker's own clock.
4. Workers send with the same dispatcher as one process
   (:func:`~openaiperf.loadgen.dispatcher.dispatch_open`), return their records in
   batches as they complete, and measure their own load
   (:mod:`openaiperf.loadgen.client_load`).
5. The driver measures the offsets again, corrects every time into its own clock,
   and passes each record (naming its ``worker``) to the case's one records file.

What the scenario decides per request travels with the shard, decided once on the
global schedule: which requests the client cancels and after how long (the same
requests whatever the number of workers). Probe requests (``--probe-rate``) go to
one worker (the first), which sends them beside its shard and returns them apart.
A saturation stop is the driver's: every :data:`~openaiperf.loadgen.dispatcher.STOP_CHECK_S`
it asks ``stop`` with the merged view of the schedule so far (the records reported,
and each request due but not yet reported as in flight since its scheduled time) and,
when it says stop, tells every worker to send no more.

A worker that dies (process killed, node lost) is never replaced and its
requests are never sent again elsewhere (that would distort the schedule): the
requests it did not report are recorded as lost, their send state unknown, and
the case is INVALID saying how many. The driver waits no longer than the
schedule's span plus the engine's request timeout; every worker is stopped at
the end (no orphan process).

Test hooks (environment variables read by the driver; not options, they break a run on purpose):
``OPENAIPERF_LOADGEN_CLOCK_SKEW="W:SECONDS,..."`` shifts worker W's clock by SECONDS;
``OPENAIPERF_LOADGEN_KILL="W:SECONDS"`` kills worker W (SIGKILL) that long after the start;
``OPENAIPERF_LOADGEN_CLOCK_CORRECTION=off`` starts and reads every worker as if its clock were the driver's.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from openaiperf.errors import ConfigError
from openaiperf.loadgen.client_load import ClientLoad
from openaiperf.loadgen.clocks import CLOCK_TOLERANCE_MS, ClockLink, ClockOffset, measure_offset
from openaiperf.loadgen.cluster import RayTransport
from openaiperf.loadgen.dispatcher import STOP_CHECK_S, DispatchResult, _window
from openaiperf.loadgen.sessions import SessionDispatch
from openaiperf.loadgen.worker_core import (
    READY_TIMEOUT_S,
    Link,
    ShardPlan,
    Transport,
    WorkerCore,
    WorkerLost,
    apply_skew,
)
from openaiperf.records import Record, RecordSink, Request, Session

#: the driver's start instant is this far after the clocks were measured, s
START_LEAD_S = 0.1
#: waited beyond the schedule's span and the request timeout before a worker is given up, s
GRACE_S = 5.0

SKEW_ENV = "OPENAIPERF_LOADGEN_CLOCK_SKEW"
KILL_ENV = "OPENAIPERF_LOADGEN_KILL"
CORRECTION_ENV = "OPENAIPERF_LOADGEN_CLOCK_CORRECTION"


# -- the split ---------------------------------------------------------------------------------
def assign_workers(count: int, workers: int, seed: int) -> np.ndarray:
    """The worker of each of ``count`` requests (or sessions): independent, uniform, seeded
    (a stream of its own, so the schedule's draws are untouched)."""
    if workers < 1:
        raise ConfigError(f"must be >= 1, got {workers}", source="--loadgen-workers")
    rng = np.random.default_rng([int(seed), int(workers), 0x5EED])
    return rng.integers(0, workers, size=count)


def plan_shards(items: Sequence[Any], offsets: Sequence[float], workers: int, seed: int, *, warmup: int,
                round_index: int, engine: Any, hooks: TestHooks | None = None, extras: WorkerExtras | None = None
                ) -> list[ShardPlan]:
    """The shards of a schedule (workers that get nothing are left out); ``extras``: the
    cancellations of the global schedule (each shard gets its items') and the probes (the
    first shard sends them)."""
    spec = engine.worker_spec()
    if spec is None:
        raise ConfigError(f"engine {engine.name!r} cannot send from load generator workers (it does not run in "
                          "another process); only HTTP engines (openai) can: drop --loadgen-workers / "
                          "--loadgen-cluster", source="--loadgen-workers")
    hooks = hooks or TestHooks()
    owner = assign_workers(len(items), workers, seed)
    engine_class = f"{type(engine).__module__}:{type(engine).__qualname__}"
    plans = []
    for worker in range(workers):
        indexes = [int(i) for i in np.flatnonzero(owner == worker)]
        if not indexes:
            continue
        plans.append(ShardPlan(
            worker=worker, indexes=indexes, items=[items[i] for i in indexes],
            offsets=[float(offsets[i]) for i in indexes], warmup=sum(i < warmup for i in indexes),
            round_index=round_index, sessions=bool(items) and isinstance(items[0], Session),
            engine_class=engine_class, engine_spec=spec, skew_s=hooks.skew.get(worker, 0.0),
            kill_after_s=hooks.kill.get(worker)))
    if extras is not None and plans:
        if extras.cancel_after_s is not None:
            for plan in plans:
                plan.cancel_after_s = [extras.cancel_after_s[i] for i in plan.indexes]
        plans[0].probes, plans[0].probe_offsets = list(extras.probes), [float(v) for v in extras.probe_offsets]
    return plans


@dataclass
class WorkerExtras:
    """What a scenario adds to a schedule of requests sent from workers: the cancellation
    delay of each request of the global schedule (None: never), probe requests with their
    offsets from the shared start, and the saturation stop (asked with the merged records)."""

    cancel_after_s: Sequence[float | None] | None = None
    probes: Sequence[Request] = ()
    probe_offsets: Sequence[float] = ()
    stop: Callable[[Sequence[Record]], bool] | None = None


@dataclass
class TestHooks:
    """Faults injected on purpose (see the module's docstring)."""

    skew: dict[int, float] = field(default_factory=dict)
    kill: dict[int, float] = field(default_factory=dict)
    correction: bool = True

    @classmethod
    def from_environment(cls) -> TestHooks:
        def pairs(name: str) -> dict[int, float]:
            out = {}
            for part in filter(None, os.environ.get(name, "").split(",")):
                worker, _, seconds = part.partition(":")
                try:
                    out[int(worker)] = float(seconds)
                except ValueError:
                    raise ConfigError(f"expected WORKER:SECONDS[,...], got {part!r}", source=name) from None
            return out

        return cls(pairs(SKEW_ENV), pairs(KILL_ENV), os.environ.get(CORRECTION_ENV, "on").lower() != "off")


# -- worker processes on this host -------------------------------------------------------------
def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


async def run_flushing(core: WorkerCore, t0: float, send: Callable[[tuple[str, Any]], None],
                       parent: int | None = None, receive: Callable[[], Any] | None = None) -> dict[str, Any]:
    """:meth:`WorkerCore.run`, sending its records in batches as they complete; a worker
    whose parent process is gone stops (no orphan). ``receive`` (None when nothing came)
    brings the driver's word mid-run: ``("halt", None)`` sends no more."""

    async def flush() -> None:
        while True:
            await asyncio.sleep(core.plan.batch_s)
            if parent is not None and os.getppid() != parent:
                os._exit(1)
            while receive is not None and (message := receive()) is not None:
                if message[0] == "halt":
                    core.halt()
            batch = core.drain()
            if batch:
                send(("records", batch))

    flusher = asyncio.get_running_loop().create_task(flush())
    try:
        summary = await core.run(t0)
    finally:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
    batch = core.drain()
    if batch:
        send(("records", batch))
    return summary


def process_main(conn: Any, plan: ShardPlan, parent: int) -> None:
    """A worker process: prepare, answer clock pings, run when told, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    apply_skew(plan.skew_s)
    loop = new_event_loop()
    try:
        core = WorkerCore(plan)
        loop.run_until_complete(core.prepare())
        conn.send(("ready", None))
        while True:
            command, argument = conn.recv()
            if command == "clock":
                conn.send(("clock", time.perf_counter()))
            elif command == "start":
                summary = loop.run_until_complete(run_flushing(core, argument, conn.send, parent,
                                                               lambda: conn.recv() if conn.poll(0) else None))
                conn.send(("done", summary))
            elif command == "halt":
                continue  # a halt that came after the shard was sent
            else:
                break
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass
    except Exception as exc:
        traceback.print_exc()  # the whole story on the worker's stderr (the case's own)
        with contextlib.suppress(Exception):
            conn.send(("error", f"{type(exc).__name__}: {exc}"[:300]))
    finally:
        loop.close()


class ProcessLink:
    def __init__(self, context: Any, plan: ShardPlan) -> None:
        self.worker = plan.worker
        self.node: str | None = None
        self.conn, child = context.Pipe()
        self.process = context.Process(target=process_main, args=(child, plan, os.getpid()), daemon=True,
                                       name=f"openaiperf-loadgen-worker-{plan.worker}")
        self.process.start()
        child.close()

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.conn.poll(0.05):
                kind, value = self._recv()
                if kind == "ready":
                    return
                raise WorkerLost(f"worker {self.worker} failed to prepare: {value}")
            if not self.process.is_alive():
                raise WorkerLost(f"worker {self.worker} exited with code {self.process.exitcode} while preparing")
        raise WorkerLost(f"worker {self.worker} not ready within {READY_TIMEOUT_S:g} s")

    def _recv(self) -> tuple[str, Any]:
        try:
            message: tuple[str, Any] = self.conn.recv()
        except (EOFError, OSError):
            return "lost", f"worker {self.worker} process ended (exit code {self.process.exitcode})"
        return message

    def clock(self) -> float:
        try:
            self.conn.send(("clock", None))
        except OSError:
            raise WorkerLost(f"worker {self.worker} is gone") from None
        kind, value = self._recv()
        if kind != "clock":
            raise WorkerLost(str(value))
        return float(value)

    def start(self, t0: float) -> None:
        self.conn.send(("start", t0))

    def halt(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("halt", None))

    def poll(self) -> list[tuple[str, Any]]:
        out = []
        try:
            while self.conn.poll(0):
                message = self._recv()
                out.append(message)
                if message[0] in ("lost", "error"):
                    break
        except (EOFError, OSError):
            out.append(("lost", f"worker {self.worker} process ended"))
        return [("lost", m[1]) if m[0] == "error" else m for m in out]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("stop", None))
        self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)
        self.conn.close()


class ProcessTransport:
    """Worker processes on this host (multiprocessing, spawn: a fresh interpreter each,
    nothing inherited from the case's process but the plan)."""

    name = "processes"

    def worker_count(self, requested: int) -> int:
        return requested

    def open(self, plans: Sequence[ShardPlan]) -> list[Link]:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        links: list[ProcessLink] = []
        try:
            for plan in plans:
                links.append(ProcessLink(context, plan))
            deadline = time.monotonic() + READY_TIMEOUT_S
            for link in links:
                link.wait_ready(deadline)
        except BaseException:
            for link in links:
                link.close()
            raise
        return list(links)


# -- the driver --------------------------------------------------------------------------------
@dataclass
class WorkerState:
    link: Link
    plan: ShardPlan
    clock: ClockLink | None = None
    done: bool = False
    lost: str | None = None
    summary: dict[str, Any] | None = None
    reported: list[Record] = field(default_factory=list)


def lost_records(state: WorkerState, t0: float) -> list[Record]:
    """Records for what a dead worker never reported: send state unknown, never sent again."""
    plan = state.plan
    reason = f"lost: load generator worker {plan.worker} died ({state.lost}); send state unknown, not re-sent"
    reported = {r.request_id for r in state.reported}
    out = []
    for position, (item, offset) in enumerate(zip(plan.items, plan.offsets)):
        warmup = position < plan.warmup
        if isinstance(item, Session):
            turns = sorted((r for r in state.reported if r.session_id == item.id), key=lambda r: r.turn or 0)
            if turns and (not turns[-1].ok or len(turns) >= len(item.turns)):
                continue  # ended, or ended early on a failed turn
            turn = len(turns) + 1
            scheduled = t0 + offset if not turns else (turns[-1].done or t0 + offset)
            record = Record(request_id=item.request_id(turn), sample_id=item.sample_id, round=plan.round_index,
                            session_id=item.id, turn=turn, worker=plan.worker, warmup=warmup, scheduled=scheduled)
        else:
            if item.id in reported:
                continue
            record = Record(request_id=item.id, sample_id=item.sample_id, round=plan.round_index,
                            session_id=item.session_id, turn=item.turn, worker=plan.worker, warmup=warmup,
                            scheduled=t0 + offset)
        record.error, record.done = reason, None
        out.append(record)
    return out


def correct(record: Record, clock: ClockLink | None) -> Record:
    """``record``'s times from its worker's clock into the driver's."""
    if clock is None:
        return record
    shift = clock.offset_at(record.scheduled)
    record.scheduled -= shift
    for name in ("sent", "first_token", "done"):
        value = getattr(record, name)
        if value is not None:
            setattr(record, name, value - shift)
    record.chunk_times = [t - shift for t in record.chunk_times]
    return record


def measure_clock(link: Link) -> ClockOffset:
    return measure_offset(link.clock)


class MergedSchedule:
    """The global schedule as the driver sees it during a run (for a saturation stop): the
    shards' requests in schedule order, sorted once."""

    def __init__(self, plans: Sequence[ShardPlan]) -> None:
        entries = sorted(((offset, plan, position) for plan in plans for position, offset in enumerate(plan.offsets)),
                         key=lambda entry: entry[0])
        self.offsets = [entry[0] for entry in entries]
        self.entries = [(plan, position) for _, plan, position in entries]

    def so_far(self, reported: dict[str, Record], t0: float, now: float) -> list[Record]:
        """The requests due by ``now`` (driver's clock), in schedule order: each one's reported
        record, or one in flight since its scheduled time (sent, not done), so that a saturation
        test sees the requests in flight as one process would."""
        view = []
        for offset, (plan, position) in zip(self.offsets[:bisect.bisect_right(self.offsets, now - t0)], self.entries):
            item = plan.items[position]
            record = reported.get(item.id)
            if record is None:
                record = Record(request_id=item.id, sample_id=item.sample_id, round=plan.round_index,
                                warmup=position < plan.warmup, scheduled=t0 + offset)
            view.append(record)
        return view


def run_workers(transport: Transport, plans: Sequence[ShardPlan], items: Sequence[Any], sink: RecordSink, *,
                request_timeout_s: float, tolerance_ms: float = CLOCK_TOLERANCE_MS,
                hooks: TestHooks | None = None,
                stop: Callable[[Sequence[Record]], bool] | None = None) -> tuple[DispatchResult, dict[str, Any]]:
    """Send ``items`` (requests or sessions, in global order) from the workers of ``plans``;
    each completed record (in the driver's clock) goes to ``sink``. Returns the dispatch
    (records aligned with ``items`` for requests; the requests never sent after a stop left
    out) and the load generator's report. ``stop`` (requests only) is asked every
    :data:`~openaiperf.loadgen.dispatcher.STOP_CHECK_S` with :meth:`MergedSchedule.so_far`: True
    halts every worker."""
    import psutil

    hooks = hooks or TestHooks()
    sessions = bool(items) and isinstance(items[0], Session)

    me = psutil.Process()
    links = transport.open(plans)
    states = [WorkerState(link, plan) for link, plan in zip(links, plans)]
    span = max((max(plan.offsets) for plan in plans if plan.offsets), default=0.0)
    t0 = time.perf_counter()
    driver = ClientLoad(0.0, 0.0)
    try:
        for state in states:
            state.clock = ClockLink(measure_clock(state.link))
        t0 = time.perf_counter() + START_LEAD_S
        cpu0 = sum(me.cpu_times()[:2])  # the driver's own load from the start to the last record
        for state in states:
            offset = state.clock.before.offset_s if state.clock and hooks.correction else 0.0
            state.link.start(t0 + offset)
        deadline = t0 + span + request_timeout_s + GRACE_S
        watching = stop is not None and not sessions
        reported: dict[str, Record] = {}
        merged = MergedSchedule(plans) if watching else None
        checked, halted_at = t0, None
        while not all(s.done or s.lost for s in states):
            idle = True
            if watching and halted_at is None and (now := time.perf_counter()) - checked >= STOP_CHECK_S:
                checked = now
                if stop is not None and merged is not None and stop(merged.so_far(reported, t0, now)):
                    halted_at = now
                    for state in states:
                        state.link.halt()
            for state in states:
                if state.done or state.lost:
                    continue
                for kind, value in state.link.poll():
                    idle = False
                    if kind == "records":
                        for record in value:
                            correct(record, state.clock if hooks.correction else None)
                            state.reported.append(record)
                            reported[record.request_id] = record
                            sink(record)
                    elif kind == "done":
                        state.done, state.summary = True, value
                        for record in value.get("probes", []):
                            correct(record, state.clock if hooks.correction else None)
                    elif kind == "lost":
                        state.lost = str(value)
            if time.perf_counter() > deadline:
                for state in states:
                    if not (state.done or state.lost):
                        state.lost = (f"no answer within the schedule's span plus the request timeout "
                                      f"({span + request_timeout_s + GRACE_S:.1f} s)")
                break
            if idle:
                time.sleep(0.002)
        driver = ClientLoad(sum(me.cpu_times()[:2]) - cpu0, time.perf_counter() - t0)
        for state in states:
            if state.done and state.clock is not None:
                try:
                    state.clock = ClockLink(state.clock.before, measure_clock(state.link))
                except WorkerLost as exc:
                    state.lost = str(exc)
    finally:
        for state in states:
            state.link.close()
    # records of the dead workers' unreported requests, corrected like the rest (their schedule)
    for state in states:
        if state.lost:
            for record in lost_records(state, t0):
                state.reported.append(record)
                sink(record)
    records = [r for s in states for r in s.reported]
    if not sessions:
        by_id = {r.request_id: r for r in records}
        records = [by_id[item.id] for item in items if item.id in by_id]
    loads = [s.summary["client"] for s in states if s.summary]
    start, end = _window(records, t0)
    result: DispatchResult
    if sessions:
        sent = [q for s in states if s.summary for q in s.summary["requests"]]
        ended = sum(s.summary["ended_early"] for s in states if s.summary)
        result = SessionDispatch(records, start, end, requests=sent, ended_early=ended)
    else:
        result = DispatchResult(records, start, end)
    result.client = [driver, *loads]
    result.probes = [r for s in states if s.summary for r in s.summary.get("probes", [])]
    lost = sum(1 for r in records if (r.error or "").startswith("lost:"))
    errors = [s.clock.error_s * 1000 for s in states if s.clock is not None and s.clock.after is not None]
    report = {
        "transport": transport.name, "workers": len(plans), "clock_correction": hooks.correction,
        "clock_tolerance_ms": tolerance_ms,
        "clock_error_ms": round(max(errors), 4) if errors else None,
        "lost_requests": lost, "dead_workers": [s.plan.worker for s in states if s.lost],
        **({"halted_after_s": round(halted_at - t0, 3)} if halted_at is not None else {}),
        "per_worker": [{"worker": s.plan.worker, "node": s.link.node, "assigned": len(s.plan.items),
                        "reported": sum(not (r.error or "").startswith("lost:") for r in s.reported),
                        "lost": s.lost, "clock": s.clock.to_json() if s.clock else None} for s in states],
    }
    return result, report


def loadgen_constraints(report: dict[str, Any]) -> tuple[dict[str, bool], list[str]]:
    """The load generator's constraints (clock agreement, no lost request) and notes."""
    notes = []
    tolerance = float(report["clock_tolerance_ms"])
    error = report.get("clock_error_ms")
    unmeasured = [w["worker"] for w in report["per_worker"] if not (w.get("clock") or {}).get("after")]
    alive_unmeasured = [w for w in unmeasured if w not in report["dead_workers"]]
    clock_ok = report["clock_correction"] and error is not None and error <= tolerance and not alive_unmeasured
    if not report["clock_correction"]:
        notes.append("load generator clocks: correction off (test hook); worker times read as the driver's")
    elif error is not None:
        notes.append(f"load generator clocks: worker offsets known within {error:.3f} ms (uncertainty + drift; "
                     f"limit {tolerance:g} ms, --clock-tolerance-ms)")
    lost = int(report["lost_requests"])
    if lost:
        notes.append(f"{lost} request(s) lost: load generator worker(s) {report['dead_workers']} died mid-run; "
                     "their send state is unknown and they were not sent again")
    elif report["dead_workers"]:
        notes.append(f"load generator worker(s) {report['dead_workers']} died after sending everything")
    return {"clock_sync": bool(clock_ok), "loadgen_workers_alive": not report["dead_workers"]}, notes


def transport_for(cluster: str | None) -> Transport:
    """Worker processes on this host, or Ray actors on the cluster at ``cluster``."""
    if not cluster:
        return ProcessTransport()
    transport: Transport = RayTransport(cluster)
    return transport


def dispatch_with_workers(engine: Any, items: Sequence[Any], offsets: Sequence[float], sink: RecordSink, *,
                          warmup: int, round_index: int, seed: int, workers: int, cluster: str | None,
                          tolerance_ms: float, extras: WorkerExtras | None = None
                          ) -> tuple[DispatchResult, dict[str, Any]]:
    """The global schedule ``offsets`` of ``items`` sent from ``workers`` workers (processes
    here, or actors on the Ray cluster ``cluster``), with the scenario's ``extras``
    (cancellations, probes, the saturation stop): the dispatch and the load generator's report."""
    hooks = TestHooks.from_environment()
    transport = transport_for(cluster)
    count = transport.worker_count(workers)
    plans = plan_shards(items, offsets, count, seed, warmup=warmup, round_index=round_index, engine=engine,
                        hooks=hooks, extras=extras)
    timeout = float(getattr(engine.options, "request_timeout_s", 600.0))
    result, report = run_workers(transport, plans, items, sink, request_timeout_s=timeout,
                                 tolerance_ms=tolerance_ms, hooks=hooks, stop=extras.stop if extras else None)
    report["split_seed"] = seed
    return result, report
