"""The monitor of one benchmark case: one sampler set for all its measured rounds,
one timeline file (``monitor/<case-id>.csv`` in the run folder, a ``round`` column
telling the rounds apart) and one summary for the case result."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from openaiperf.monitor import Monitor, combine_summaries, create_samplers, write_timeline

log = logging.getLogger("openaiperf.monitor")


class CaseMonitor:
    def __init__(self, case_id: str, run_dir: Path, *, enabled: bool = True, interval_s: float = 0.1,
                 metrics: Sequence[str] = ("cpu", "gpu")) -> None:
        self.case_id = case_id
        self.run_dir = run_dir
        self.enabled = enabled
        self.interval_s = interval_s
        self.metrics = tuple(metrics)
        self.samplers: list[Any] | None = None
        self.missing: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.summaries: list[dict[str, Any]] = []
        self._current: Monitor | None = None
        self._round = 0

    def start_round(self, round_index: int) -> None:
        if not self.enabled:
            return
        if self.samplers is None:
            self.samplers, self.missing = create_samplers(self.metrics)
        self._round = round_index
        self._current = Monitor(self.samplers, interval_s=self.interval_s).start()

    def stop_round(self) -> dict[str, Any]:
        if self._current is None:
            return {}
        monitor, self._current = self._current, None
        summary = monitor.stop()
        # Samplers that failed mid-round are not asked again in later rounds.
        self.samplers = monitor.samplers
        self.rows += [{"round": self._round, **row} for row in monitor.rows]
        self.summaries.append(summary)
        return summary

    def finish(self) -> dict[str, Any]:
        """The case's summary (rounds combined), with the timeline written out."""
        if not self.enabled:
            return {"monitor": "off (--no-monitor)"}
        summary = combine_summaries(self.summaries)
        summary["rounds"] = len(self.summaries)
        if self.missing:
            summary["monitor_notes"] = list(self.missing)
        if self.rows:
            path = write_timeline(self.run_dir / "monitor" / f"{self.case_id}.csv", self.rows)
            summary["timeline_file"] = str(path.relative_to(self.run_dir))
        for sampler in self.samplers or ():
            close = getattr(sampler, "close", None)
            if close is not None:
                close()
        return summary
