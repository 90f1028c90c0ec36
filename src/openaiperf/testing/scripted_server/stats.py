"""What the scripted server saw (``GET /stats``), for a client-independent view of a
load test: request arrivals, its own TTFT per request, distinct client connections,
every request's messages or prompt and max_tokens, the faults it injected by kind,
queue waits and cancelled requests; times in ``time.perf_counter()`` seconds, which on
Linux is the same clock in every process."""

from __future__ import annotations

from typing import Any


class Stats:
    """What the server saw, for a client-independent view of a load test."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.arrivals: list[float] = []
        self.ttft_s: list[float] = []
        self.peers: set[Any] = set()
        self.received: list[dict[str, Any]] = []
        self.faults: dict[str, int] = {}
        self.queue_s: list[float] = []   # each request's wait for a slot (max_concurrency)
        self.cancelled: list[dict[str, Any]] = []  # requests whose client closed the stream before its end

    def to_json(self) -> dict[str, Any]:
        return {"requests": len(self.arrivals), "connections": len(self.peers), "arrivals": self.arrivals,
                "ttft_s": self.ttft_s, "received": self.received, "faults": self.faults, "queue_s": self.queue_s,
                "cancelled": self.cancelled}
