"""Resource monitoring around a measured phase.

A :class:`Monitor` runs samplers on a background thread at a fixed interval and
summarises them. Samplers are :class:`Sampler` classes registered by name in
:data:`monitors`, one module each: ``process`` (psutil: CPU, RSS, system
memory; always runs), ``nvml`` (NVIDIA, nvidia-ml-py) and ``rocm`` (AMD/Hygon,
amdsmi or rocm-smi), which join when their library and a device are there, and
``prometheus`` (a serving engine's ``/metrics``: running and waiting requests,
started by a case whose engine exposes one); any other with
``@monitors.register("name")`` or an ``openaiperf.monitors`` entry point. A
sampler declares the ``--metrics`` group that starts it (``cpu``, ``gpu``...). A
sampler that cannot start, or that raises while sampling, is dropped with one
warning: monitoring never fails a case.
"""

from __future__ import annotations

import csv
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openaiperf.errors import ConfigError
from openaiperf.monitor.process import ProcessSampler  # re-exported
from openaiperf.monitor.sampler import Sampler
from openaiperf.monitor.util import SamplerUnavailable
from openaiperf.registry import Registry, add_registry

log = logging.getLogger("openaiperf.monitor")



__all__ = ["METRIC_GROUPS", "Monitor", "ProcessSampler", "Sampler", "SamplerUnavailable", "combine_summaries",
           "create_samplers", "monitors", "write_timeline"]

#: the sampler registry
monitors: Registry[type[Sampler]] = add_registry(Registry(
    "monitor", "openaiperf.monitors",
    builtins={
        "process": "openaiperf.monitor.process:ProcessSampler",
        "nvml": "openaiperf.monitor.nvml:NvmlSampler",
        "rocm": "openaiperf.monitor.rocm:AmdSmiSampler",
        "prometheus": "openaiperf.monitor.prometheus:PrometheusSampler",
    },
    base=Sampler, required=("sample", "summarize")))

#: the built-in ``--metrics`` groups (a registered sampler may bring another)
METRIC_GROUPS = ("cpu", "gpu")


def metric_groups() -> list[str]:
    return list(dict.fromkeys([*METRIC_GROUPS, *(cls.group for cls in monitors.classes().values())]))


def create_samplers(metrics: Iterable[str] = METRIC_GROUPS) -> tuple[list[Sampler], list[str]]:
    """The samplers of the ``metrics`` groups ("cpu", "gpu") that can run here, and
    why the groups that got none could not."""
    wanted = list(dict.fromkeys(metrics))
    known = metric_groups()
    unknown = [group for group in wanted if group not in known]
    if unknown:
        raise ConfigError(f"unknown metric group(s) {sorted(unknown)}; known: {', '.join(known)}",
                          source="--metrics")
    samplers: list[Sampler] = []
    missing: list[str] = []
    for group in (g for g in known if g in wanted):
        reasons: list[str] = []
        started = 0
        for name in monitors.names():
            try:
                cls = monitors.get(name)
            except ImportError as exc:
                reasons.append(f"{name}: {exc}")
                continue
            if cls.group != group:
                continue
            try:
                samplers.append(cls.create())
                started += 1
            except SamplerUnavailable as exc:
                reasons.append(str(exc))
        if not started:
            missing.append(f"no {group.upper() if group in METRIC_GROUPS else group} monitor: " + "; ".join(reasons))
    return samplers, missing


class Monitor:
    """Samples every ``interval_s`` between :meth:`start` and :meth:`stop`."""

    def __init__(self, samplers: Sequence[Sampler] | None = None, interval_s: float = 0.1) -> None:
        self.samplers: list[Sampler] = list(samplers) if samplers is not None else [ProcessSampler()]
        self.interval_s = interval_s
        self.rows: list[dict[str, float]] = []
        self.warnings: list[str] = []
        self.t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> None:
        row: dict[str, float] = {"t": time.perf_counter() - self.t0}
        for sampler in list(self.samplers):
            try:
                row.update(sampler.sample())
            except Exception as exc:  # a sampler's failure must not end the measurement
                message = f"monitor: {sampler.name} sampler failed ({type(exc).__name__}: {exc}); dropped"
                self.warnings.append(message)
                log.warning(message)
                self.samplers.remove(sampler)
        self.rows.append(row)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._read()

    def start(self) -> Monitor:
        self.t0 = time.perf_counter()
        self._read()
        self._thread = threading.Thread(target=self._loop, name="openaiperf-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._read()
        return self.summary()

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {"samples": len(self.rows), "interval_s": self.interval_s,
                                   "duration_s": self.rows[-1]["t"] - self.rows[0]["t"] if self.rows else 0.0}
        for sampler in self.samplers:
            summary.update(sampler.summarize(self.rows))
        if self.warnings:
            summary["monitor_warnings"] = list(self.warnings)
        return summary

    def close(self) -> None:
        for sampler in self.samplers:
            sampler.close()

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.summary_ = self.stop()


def combine_summaries(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One summary for several measured rounds: peaks -> max, energy and samples -> sum,
    other numbers -> mean; lists (warnings) are joined, strings keep the first."""
    combined: dict[str, Any] = {}
    keys = dict.fromkeys(k for s in summaries for k in s)
    for key in keys:
        values = [s[key] for s in summaries if key in s]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(values):
            if "peak" in key or key.endswith("throttle_reasons_seen"):
                combined[key] = max(numbers)
            elif key.endswith("energy_j") or key in ("samples", "duration_s"):
                combined[key] = sum(numbers)
            else:
                combined[key] = sum(numbers) / len(numbers)
        elif all(isinstance(v, list) for v in values):
            combined[key] = list(dict.fromkeys(item for v in values for item in v))
        else:
            combined[key] = values[0]
    return combined


def write_timeline(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """The readings as CSV: one row per sample, the union of columns (blank where a
    sampler had nothing, e.g. after a GPU disappeared)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path
