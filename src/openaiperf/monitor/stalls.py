"""Stalls of the measuring client during a measured round.

A request's times are read by the client. When the machine stops the client for
a while (a virtual machine whose CPUs the hypervisor takes away, a host that
swaps), every request in flight reads that pause as latency of the engine: seen
here as a round whose TTFT read 193 ms against a server scripted to answer in
30 ms, with all of its tokens arriving in one burst afterwards. A gate that
compares rounds then calls such a round a regression.

:class:`StallWatch` runs a thread that asks to wake up every ``tick_s`` and
notes how late it woke: the longest lateness is how long the client could not
have read a clock. It also reads the CPU time the hypervisor stole from each CPU
(Linux ``steal``, through psutil) over the round, to report beside it. The
runner measures a round again when its longest stall reaches the limit
(``--stall-limit``, and a tenth of the round's median TTFT or decoding time:
:func:`stall_limit_ms`).

The thread wakes 200 times a second and holds the interpreter for microseconds
each time; the stall it reports includes the wait for the interpreter lock,
which a busy client releases every 5 ms (``sys.getswitchinterval()``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

import psutil

#: how often the watch thread asks to wake up
TICK_S = 0.005
#: the default ``--stall-limit``, ms: the least stall that measures a round again. Above the
#: interpreter's switch interval (5 ms): an engine in the client's process (hf) holds the lock
#: that long between switches, and the main job's tiny models read 5-9 ms in routine rounds
STALL_LIMIT_MS = 10.0
#: ... and only when it is this fraction of the median request's TTFT or of its decoding time
#: (whichever is shorter): a stall that short of the latencies it lands in moves them less than
#: the gate's tolerances, while a saturated CPU host (its engine's threads starving the client
#: for 20-100 ms, measured on a 2-core VM serving vLLM) would otherwise measure every round again
STALL_FRACTION = 0.1
#: how many times a round is measured again at most (``--stall-retries``)
STALL_RETRIES = 2
#: the pause before measuring again, times the attempt: stalls come in bursts (three attempts
#: of 0.2 s in a row stalled on this project's VM)
STALL_PAUSE_S = 0.5


@dataclass(frozen=True)
class Stalls:
    """What a watch saw over one measured attempt."""

    #: the longest time the client's watch thread woke up late, milliseconds
    longest_ms: float
    #: CPU time taken by the hypervisor during the attempt, the most of any CPU, ms (None: not reported)
    steal_ms: float | None
    #: the attempt's length, seconds
    seconds: float


def stall_limit_ms(floor_ms: float, ttft_s: Sequence[float], decode_s: Sequence[float]) -> float:
    """The stall (ms) that makes an attempt measured again: ``floor_ms``, or
    :data:`STALL_FRACTION` of the shorter of the median TTFT and the median decoding
    time (E2E - TTFT) of the attempt's requests, whichever is longer."""
    import numpy as np

    phases = [float(np.median(times)) for times in (ttft_s, decode_s) if len(times)]
    return max(floor_ms, 1000 * STALL_FRACTION * min(phases)) if phases else floor_ms


def steal_seconds() -> list[float] | None:
    """Each CPU's stolen time so far (None where the system does not report it)."""
    times = psutil.cpu_times(percpu=True)
    if not times or not hasattr(times[0], "steal"):
        return None
    return [float(t.steal) for t in times]


class StallWatch:
    """A context manager: watches the client from ``__enter__`` to ``__exit__``;
    :attr:`stalls` holds what it saw."""

    def __init__(self, tick_s: float = TICK_S) -> None:
        self.tick_s = tick_s
        self._stop = threading.Event()
        self._longest = 0.0
        self._thread = threading.Thread(target=self._watch, name="openaiperf-stall-watch", daemon=True)
        self._steal_before: list[float] | None = None
        self._start = 0.0
        self.stalls: Stalls | None = None

    def _watch(self) -> None:
        tick = self.tick_s
        while True:
            asked = time.perf_counter()
            if self._stop.wait(tick):
                return
            self._longest = max(self._longest, time.perf_counter() - asked - tick)

    def __enter__(self) -> StallWatch:
        self._steal_before = steal_seconds()
        self._start = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        seconds = time.perf_counter() - self._start
        after = steal_seconds()
        steal = None
        if self._steal_before is not None and after is not None and len(after) == len(self._steal_before):
            steal = 1000 * max(b - a for a, b in zip(self._steal_before, after))
        self.stalls = Stalls(longest_ms=1000 * self._longest, steal_ms=steal, seconds=seconds)
