"""Resource monitoring around a measured phase.

A :class:`Monitor` runs samplers on a background thread at a fixed interval and
summarises them. Samplers implement :class:`Sampler`; the process sampler
(psutil) always runs, device samplers join when their library is present.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

import psutil


class Sampler(Protocol):
    name: str

    def sample(self) -> dict[str, float]:
        """One reading: column name -> value."""

    def summarize(self, rows: list[dict[str, float]]) -> dict[str, Any]:
        """Summary of the readings (peaks, means, energy)."""


class ProcessSampler:
    """This process (and its children): RSS; the machine: CPU utilisation, memory used."""

    name = "process"

    def __init__(self) -> None:
        self.process = psutil.Process()
        psutil.cpu_percent(None)  # prime: the first call has no interval to measure over

    def _rss(self) -> int:
        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def sample(self) -> dict[str, float]:
        memory = psutil.virtual_memory()
        return {
            "process_rss_bytes": float(self._rss()),
            "cpu_percent": psutil.cpu_percent(None),
            "system_memory_used_bytes": float(memory.total - memory.available),
        }

    def summarize(self, rows: list[dict[str, float]]) -> dict[str, Any]:
        if not rows:
            return {}
        return {
            "peak_process_rss_bytes": max(r["process_rss_bytes"] for r in rows),
            "mean_cpu_percent": sum(r["cpu_percent"] for r in rows) / len(rows),
            "peak_system_memory_used_bytes": max(r["system_memory_used_bytes"] for r in rows),
        }


class Monitor:
    """Samples every ``interval_s`` between :meth:`start` and :meth:`stop`."""

    def __init__(self, samplers: list[Sampler] | None = None, interval_s: float = 0.1) -> None:
        self.samplers = samplers if samplers is not None else [ProcessSampler()]
        self.interval_s = interval_s
        self.rows: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> None:
        row: dict[str, float] = {"t": time.perf_counter()}
        for sampler in self.samplers:
            row.update(sampler.sample())
        self.rows.append(row)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._read()

    def start(self) -> Monitor:
        self._read()
        self._thread = threading.Thread(target=self._loop, name="openaiperf-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._read()
        summary: dict[str, Any] = {"samples": len(self.rows), "interval_s": self.interval_s}
        for sampler in self.samplers:
            summary.update(sampler.summarize(self.rows))
        return summary

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.summary = self.stop()
