"""One clock for times read in several processes or on several hosts.

Each load generator worker reads its own monotonic clock (``perf_counter``).
The driver measures the offset of a worker's clock from its own by ping-pong
(NTP's rule): it notes its time ``a``, asks the worker for its time ``w``, and
notes its time ``b`` when the answer is back; ``w - (a + b) / 2`` is the offset,
uncertain by at most half the round trip ``(b - a) / 2`` (the worker read its
clock somewhere inside the round trip). Of :data:`PINGS` exchanges the one with
the shortest round trip is kept: the least queueing, the tightest bound.

The offset is measured before the start and again at the end; a worker's times
are corrected into the driver's frame with the offset interpolated linearly
between the two (a clock that drifts is followed). The figure a case is judged
by is the larger uncertainty of the two plus the drift between them: over
``--clock-tolerance-ms`` the times of different workers cannot be compared to
that precision, and the case is INVALID with the figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

#: ping-pong exchanges per measurement
PINGS = 25
#: the default ``--clock-tolerance-ms``
CLOCK_TOLERANCE_MS = 1.0


@dataclass(frozen=True)
class ClockOffset:
    """A worker's clock minus the driver's, measured at driver time ``at``."""

    offset_s: float
    uncertainty_s: float
    at: float

    def to_json(self) -> dict[str, float]:
        return {"offset_ms": round(self.offset_s * 1000, 4), "uncertainty_ms": round(self.uncertainty_s * 1000, 4)}


def measure_offset(ask: Callable[[], float], pings: int = PINGS,
                   clock: Callable[[], float] = time.perf_counter) -> ClockOffset:
    """The offset of the clock ``ask()`` reads (a round trip to the worker) from ``clock``."""
    best: ClockOffset | None = None
    for _ in range(max(1, pings)):
        before = clock()
        remote = ask()
        after = clock()
        half = (after - before) / 2
        sample = ClockOffset(remote - (before + after) / 2, half, (before + after) / 2)
        if best is None or sample.uncertainty_s < best.uncertainty_s:
            best = sample
    assert best is not None
    return best


@dataclass(frozen=True)
class ClockLink:
    """A worker's clock against the driver's: the offsets before and after a run."""

    before: ClockOffset
    after: ClockOffset | None = None

    @property
    def drift_s(self) -> float:
        return 0.0 if self.after is None else self.after.offset_s - self.before.offset_s

    @property
    def error_s(self) -> float:
        """The figure a case is judged by: the larger uncertainty plus the drift."""
        uncertainty = max(self.before.uncertainty_s, self.after.uncertainty_s if self.after else 0.0)
        return uncertainty + abs(self.drift_s)

    def offset_at(self, worker_time: float) -> float:
        """The offset at a worker time (interpolated between the two measurements)."""
        after = self.after
        if after is None or after.at == self.before.at:
            return self.before.offset_s
        driver_time = worker_time - self.before.offset_s
        share = (driver_time - self.before.at) / (after.at - self.before.at)
        return self.before.offset_s + share * (after.offset_s - self.before.offset_s)

    def to_driver(self, worker_time: float | None) -> float | None:
        return None if worker_time is None else worker_time - self.offset_at(worker_time)

    def to_json(self) -> dict[str, object]:
        return {"before": self.before.to_json(), "after": self.after.to_json() if self.after else None,
                "drift_ms": round(self.drift_s * 1000, 4), "error_ms": round(self.error_s * 1000, 4)}
