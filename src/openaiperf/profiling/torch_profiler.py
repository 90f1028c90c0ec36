"""``--profile torch``: the PyTorch profiler around a case's first measured round.

Writes ``profiles/<case-id>.trace.json`` (Chrome trace format: open it in
chrome://tracing or https://ui.perfetto.dev) and puts the top operators/kernels
by self time into the case result (and ``profiles/<case-id>.top.csv``). On a GPU
the table is sorted by device (kernel) time, on a CPU by CPU time.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openaiperf.paths import name_in

TOP_N = 15


def top_ops(key_averages: Any, device: bool, limit: int = TOP_N) -> list[dict[str, Any]]:
    """The ``limit`` events with the most self time, times in ms."""
    def self_device_us(event: Any) -> float:
        return float(getattr(event, "self_device_time_total", None) or getattr(event, "self_cuda_time_total", 0) or 0)

    events = list(key_averages)
    total_cpu = sum(float(e.self_cpu_time_total) for e in events) or 1.0
    total_device = sum(self_device_us(e) for e in events) or 1.0
    sort = self_device_us if device else (lambda e: float(e.self_cpu_time_total))
    rows = []
    for event in sorted(events, key=sort, reverse=True)[:limit]:
        rows.append({
            "name": event.key,
            "calls": int(event.count),
            "self_cpu_ms": float(event.self_cpu_time_total) / 1000.0,
            "self_cpu_percent": 100.0 * float(event.self_cpu_time_total) / total_cpu,
            "self_device_ms": self_device_us(event) / 1000.0,
            "self_device_percent": 100.0 * self_device_us(event) / total_device if device else 0.0,
        })
    return rows


class TorchCaseProfiler:
    def __init__(self, case_id: str, run_dir: Path) -> None:
        self.case_id = case_id
        self.run_dir = run_dir
        self.result: dict[str, Any] = {}
        self.notes: list[str] = []

    @contextlib.contextmanager
    def round(self, round_index: int) -> Iterator[None]:
        if round_index != 0:  # one round is enough for a trace, and keeps the file small
            yield
            return
        import torch
        from torch.profiler import ProfilerActivity, profile

        device = torch.cuda.is_available()
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device else [])
        with profile(activities=activities) as prof:
            yield
        folder = self.run_dir / "profiles"
        folder.mkdir(parents=True, exist_ok=True)
        trace = name_in(folder, self.case_id, field="case id", suffix=".trace.json")
        prof.export_chrome_trace(str(trace))
        rows = top_ops(prof.key_averages(), device)
        table = name_in(folder, self.case_id, field="case id", suffix=".top.csv")
        with table.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["name"])
            writer.writeheader()
            writer.writerows(rows)
        self.result = {
            "tool": "torch", "round": round_index, "sorted_by": "self_device_ms" if device else "self_cpu_ms",
            "trace_file": str(trace.relative_to(self.run_dir)), "table_file": str(table.relative_to(self.run_dir)),
            "top_ops": rows,
        }
        self.notes.append("profiled with --profile torch: the first round's timings include the profiler's overhead")

    def finish(self) -> dict[str, Any]:
        return self.result
