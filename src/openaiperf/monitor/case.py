"""The monitor of one benchmark case: one sampler process (:mod:`.worker`) for all
its measured rounds, started with the case (before warmup, so its start-up is
never measured), one timeline file (``monitor/<case-id>.csv`` in the run folder, a ``round`` column
telling the rounds apart) and one summary for the case result.

A monitored round covers more than what is reported: an online scenario's warmup
requests, every find-peak trial. :meth:`CaseMonitor.window_energy` therefore
integrates the readings over the reported windows only (each the measured
requests' first scheduled send to last completion), so energy per token and mean
power cover exactly the time and the tokens they are divided by."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openaiperf.monitor import Monitor, Sampler, combine_summaries, create_samplers, write_timeline
from openaiperf.monitor.prometheus import PrometheusSampler
from openaiperf.monitor.util import window_energy_j
from openaiperf.monitor.worker import MonitorProcess
from openaiperf.paths import name_in

log = logging.getLogger("openaiperf.monitor")


class CaseMonitor:
    def __init__(self, case_id: str, run_dir: Path, *, enabled: bool = True, interval_s: float = 0.1,
                 metrics: Sequence[str] = ("cpu", "gpu"), in_process: bool = False,
                 prometheus: tuple[str, dict[str, str]] | None = None, prometheus_interval_s: float = 1.0) -> None:
        self.case_id = case_id
        self.run_dir = run_dir
        self.enabled = enabled
        self.interval_s = interval_s
        self.metrics = tuple(metrics)
        #: a server's /metrics (URL, headers) scraped on an interval too (at most every prometheus_interval_s)
        self.prometheus = prometheus
        self.prometheus_interval_s = max(interval_s, prometheus_interval_s)
        self.missing: list[str] = []
        self.warnings: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.summaries: list[dict[str, Any]] = []
        self._round = 0
        #: rows and summary (added or not) of the last round stopped
        self._last_round: tuple[int, bool] = (0, False)
        #: round -> its start on time.perf_counter (the rows' ``t`` counts from there)
        self.round_t0: dict[int, float] = {}
        self._samplers: list[Sampler] | None = None  # in-process mode
        self._thread_monitor: Monitor | None = None
        self._worker: MonitorProcess | None = None
        self._running = False
        if enabled and not in_process:
            try:
                self._worker = MonitorProcess(interval_s, self.metrics, prometheus=prometheus,
                                              prometheus_interval_s=self.prometheus_interval_s)
                self.missing = self._worker.missing
            except Exception as exc:  # never fail a case over monitoring: fall back to a thread
                self._warn(f"monitor process did not start ({exc}); sampling on a thread instead")

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning(message)

    def start_round(self, round_index: int) -> None:
        if not self.enabled:
            return
        self._round = round_index
        self._running = True
        if self._worker is not None:
            try:
                self._worker.start()
                return
            except Exception as exc:
                self._warn(f"monitor process failed ({exc}); sampling on a thread instead")
                self._worker = None
        if self._samplers is None:
            self._samplers, self.missing = create_samplers(self.metrics)
            if self.prometheus is not None:
                self._samplers.append(PrometheusSampler(*self.prometheus, min_interval_s=self.prometheus_interval_s))
        self._thread_monitor = Monitor(self._samplers, interval_s=self.interval_s).start()

    def stop_round(self) -> dict[str, Any]:
        if not self._running:
            return {}
        self._running = False
        rows: list[dict[str, Any]] = []
        summary: dict[str, Any] = {}
        if self._thread_monitor is not None:
            monitor, self._thread_monitor = self._thread_monitor, None
            summary = monitor.stop()
            self._samplers = monitor.samplers  # samplers that failed are not asked again
            rows = monitor.rows
            self.round_t0[self._round] = monitor.t0
        elif self._worker is not None:
            try:
                rows, summary = self._worker.stop()
                if self._worker.last_t0 is not None:
                    self.round_t0[self._round] = self._worker.last_t0
            except Exception as exc:
                self._warn(f"monitor process failed ({exc}); this round has no readings")
                self._worker = None
        self.rows += [{"round": self._round, **row} for row in rows]
        self._last_round = (len(rows), bool(summary))
        if summary:
            self.summaries.append(summary)
        return summary

    def discard_round(self) -> None:
        """Forget the readings of the round that just stopped (an attempt measured again)."""
        rows, summarized = self._last_round
        del self.rows[len(self.rows) - rows:]
        if summarized:
            self.summaries.pop()
        self._last_round = (0, False)

    def finish(self) -> dict[str, Any]:
        """The case's summary (rounds combined), with the timeline written out."""
        if not self.enabled:
            return {"monitor": "off (--no-monitor)"}
        summary = combine_summaries(self.summaries)
        summary["rounds"] = len(self.summaries)
        if self.missing:
            summary["monitor_notes"] = list(self.missing)
        if self.warnings:
            summary["monitor_warnings"] = list(dict.fromkeys([*summary.get("monitor_warnings", []), *self.warnings]))
        summary["sampled_in"] = "thread" if self._worker is None else "process"
        if self.rows:
            path = write_timeline(name_in(self.run_dir / "monitor", self.case_id, field="case id", suffix=".csv"),
                                  self.rows)
            summary["timeline_file"] = str(path.relative_to(self.run_dir))
        self.close()
        return summary

    def window_energy(self, windows: Sequence[tuple[float, float]]) -> dict[str, Any]:
        """Energy over ``windows`` (start, end on time.perf_counter) only, per GPU and in
        total: ``gpu<i>_energy_j``, ``energy_j``, ``energy_window_s``; empty without
        energy readings."""
        timelines: dict[int, list[dict[str, Any]]] = {}
        for row in self.rows:
            round_index = row.get("round", 0)
            if round_index in self.round_t0:
                timelines.setdefault(round_index, []).append(
                    {**row, "t": self.round_t0[round_index] + float(row["t"])})
        return window_energy_j(list(timelines.values()), windows)

    def close(self) -> None:
        """Stops the worker (idempotent: finish() and fail() may both call it)."""
        if self._worker is not None:
            self._worker.close()
        for sampler in self._samplers or ():
            sampler.close()
        self._samplers = []
