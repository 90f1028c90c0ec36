"""The client checks itself: was it the client, not the server, that set the limit?

An open-loop client that cannot keep up sends late (send lag) because its event
loop is busy (event-loop lag) and its process uses a whole core (CPU). A server
that cannot keep up makes requests slow, never late to leave. So a case is
``client-bound`` when a client process is busy (:data:`BUSY_CPU` of a core or
more) and its sends or its event loop run late by more than
:data:`LAG_LIMIT_MS` at the 99th percentile: the rate it reports is then the
client's, and the case is INVALID unless ``--allow-client-bound``. A stall of
the machine (the client stopped, its CPU idle) is the stall watch's business
(:mod:`openaiperf.monitor.stalls`), not a client limit.

Each client process (the case's own, or each load generator worker) measures
itself over a dispatch (:class:`ClientProbe`): CPU seconds of the process, the
event loop's lateness sampled every :data:`TICK_S`, and the token events
(chunks) it handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from openaiperf.records import Record

#: how often the event-loop probe asks to wake up, s
TICK_S = 0.01
#: p99 send lag or event-loop lag above this (ms), with a busy process, is a client limit
LAG_LIMIT_MS = 5.0
#: a client process using this fraction of one core or more is busy
BUSY_CPU = 0.8


@dataclass
class ClientLoad:
    """What one client process measured about itself over one dispatch."""

    cpu_s: float
    wall_s: float
    loop_lag_ms: list[float] = field(default_factory=list)
    worker: int | None = None

    @property
    def cpu_fraction(self) -> float:
        """CPU use as a fraction of one core."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


#: the name of the probe's own task in the loop it measures (alive from start to stop, by design)
PROBE_TASK = "openaiperf-client-probe"


class ClientProbe:
    """Measures the client process it runs in, from :meth:`start` to :meth:`stop`
    (both called on the event loop that sends)."""

    def __init__(self, worker: int | None = None) -> None:
        self.worker = worker
        self._process = psutil.Process()
        self._lags: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._cpu0 = 0.0
        self._wall0 = 0.0

    def _cpu(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    async def _tick(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(TICK_S)
            self._lags.append(max(0.0, (time.perf_counter() - asked - TICK_S) * 1000))

    def start(self) -> None:
        self._cpu0, self._wall0 = self._cpu(), time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._tick(), name=PROBE_TASK)

    async def stop(self) -> ClientLoad:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return ClientLoad(cpu_s=self._cpu() - self._cpu0, wall_s=time.perf_counter() - self._wall0,
                          loop_lag_ms=self._lags, worker=self.worker)


def _p99(values: Sequence[float]) -> float | None:
    import numpy as np

    return float(np.percentile(values, 99)) if len(values) else None


def client_summary(loads: Sequence[ClientLoad], records: Sequence[Record], *, judged: bool) -> dict[str, Any]:
    """The client's own load over a round (``records``: every record sent, warmup ones too:
    CPU in cores summed over the client processes, token events (chunks) handled per
    second of the round) and whether it set the limit; ``judged``: False when the engine runs inside the client's
    process (its compute is the client's CPU, so the client cannot be told from the engine)."""
    lags = [1000 * (r.sent - r.scheduled) for r in records if r.sent is not None and not r.warmup]
    loop_lags = [lag for load in loads for lag in load.loop_lag_ms]
    events = sum(len(r.chunk_times) for r in records)
    done = [r.done for r in records if r.done is not None]
    window = max(done) - min(r.scheduled for r in records) if done else 0.0
    busiest = max((load.cpu_fraction for load in loads), default=0.0)
    send_p99, loop_p99 = _p99(lags), _p99(loop_lags)
    late = max(send_p99 or 0.0, loop_p99 or 0.0)
    bound = judged and busiest >= BUSY_CPU and late > LAG_LIMIT_MS
    summary: dict[str, Any] = {
        "processes": len(loads),
        "send_lag_p99_ms": None if send_p99 is None else round(send_p99, 3),
        "loop_lag_p99_ms": None if loop_p99 is None else round(loop_p99, 3),
        "loop_lag_max_ms": round(max(loop_lags), 3) if loop_lags else None,
        "cpu_cores": round(sum(load.cpu_fraction for load in loads), 3),
        "busiest_process_cpu": round(busiest, 3),
        "token_events_per_s": round(events / window, 1) if window > 0 else None,
        "judged": judged,
        "client_bound": bound,
    }
    if bound:
        summary["reason"] = (f"a client process used {busiest:.0%} of a core and its sends / event loop ran "
                             f"{late:.1f} ms late at p99 (limit {LAG_LIMIT_MS:g} ms)")
    return summary
