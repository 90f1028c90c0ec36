"""The process sampler (psutil): machine CPU utilisation, this process's RSS
including its children (engine workers, servers), and system memory in use."""

from __future__ import annotations

import os
from typing import Any

import psutil

from openaiperf.monitor.sampler import Sampler

#: Children are re-listed every this many samples: walking /proc for the process
#: tree is the costliest part of a sample, and workers start or stop rarely.
CHILDREN_REFRESH_SAMPLES = 10


class ProcessSampler(Sampler):
    """This process (and its children): RSS; the machine: CPU utilisation, memory used."""

    name = "process"
    group = "cpu"

    def __init__(self, pid: int | None = None) -> None:
        self.process = psutil.Process(pid)
        self._children: list[psutil.Process] = []
        self._count = 0
        self._own_pid = os.getpid()
        psutil.cpu_percent(None)  # prime: the first call has no interval to measure over

    def _rss(self) -> int:
        if self._count % CHILDREN_REFRESH_SAMPLES == 0:
            try:
                # not the sampler's own process (the monitor worker is a child of the measured one)
                self._children = [c for c in self.process.children(recursive=True) if c.pid != self._own_pid]
            except psutil.Error:
                self._children = []
        self._count += 1
        total = int(self.process.memory_info().rss)
        for child in self._children:
            try:
                total += child.memory_info().rss
            except psutil.Error:  # the child exited since the last listing
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
        rss = [r["process_rss_bytes"] for r in rows if "process_rss_bytes" in r]
        if not rss:
            return {}
        cpu = [r["cpu_percent"] for r in rows if "cpu_percent" in r]
        return {
            "peak_process_rss_bytes": max(rss),
            "mean_cpu_percent": sum(cpu) / len(cpu),
            "peak_system_memory_used_bytes": max(r["system_memory_used_bytes"] for r in rows
                                                 if "system_memory_used_bytes" in r),
        }

    def close(self) -> None:
        pass
