"""``ob monitor --live``: the resource monitor on its own.

    ob monitor --live --metrics cpu,gpu --interval 1s --duration 30 --output run.csv

Prints one row per reading (rich), for ``--duration`` seconds (default 60; 0
runs until Ctrl-C), then the summary; ``--output`` also writes the timeline CSV.
GPU metrics that cannot be read here are named once, with the reason, and the
rest is recorded.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from openaiperf.matrix import parse_list
from openaiperf.monitor import Monitor, create_samplers, write_timeline
from openaiperf.monitor.util import parse_interval

#: column -> (header, scale, format) for the live table; GPU columns are matched by suffix
LIVE_COLUMNS = {
    "cpu_percent": ("CPU %", 1.0, "{:.0f}"),
    "process_rss_bytes": ("RSS MiB", 2**-20, "{:.0f}"),
    "system_memory_used_bytes": ("sys mem GiB", 2**-30, "{:.1f}"),
    "util_percent": ("util %", 1.0, "{:.0f}"),
    "memory_used_bytes": ("mem GiB", 2**-30, "{:.1f}"),
    "power_w": ("W", 1.0, "{:.0f}"),
    "sm_clock_mhz": ("SM MHz", 1.0, "{:.0f}"),
    "temperature_c": ("°C", 1.0, "{:.0f}"),
}


def format_row(row: dict[str, float]) -> dict[str, str]:
    """Readable cells for a reading: ``gpu0 util %`` -> "87"."""
    cells = {"t (s)": f"{row['t']:.1f}"}
    for key, value in row.items():
        base, _, gpu_field = key.partition("_") if key.startswith("gpu") else ("", "", key)
        spec = LIVE_COLUMNS.get(gpu_field)
        if spec is None:
            continue
        header, scale, fmt = spec
        cells[f"{base} {header}".strip()] = fmt.format(value * scale)
    return cells


def run_live(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console()
    metrics = parse_list(args.metrics) or ["cpu", "gpu"]
    interval = parse_interval(args.interval)
    samplers, missing = create_samplers(metrics)
    for reason in missing:
        console.print(f"[yellow]warning:[/] {reason}")
    monitor = Monitor(samplers, interval_s=interval)
    printed = 0
    header: list[str] | None = None
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    monitor.start()
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(min(interval, 0.2) if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))
            for row in monitor.rows[printed:]:
                cells = format_row(row)
                if header is None:
                    header = list(cells)
                    console.print("  ".join(f"{h:>12}" for h in header), style="bold")
                console.print("  ".join(f"{cells.get(h, '-'):>12}" for h in header))
            printed = len(monitor.rows)
    except KeyboardInterrupt:
        pass
    summary = monitor.stop()
    monitor.close()
    console.print(_summary_text(summary))
    if args.output:
        path = write_timeline(Path(args.output), monitor.rows)
        console.print(f"wrote {path} ({len(monitor.rows)} rows)")
    return 0


def _summary_text(summary: dict[str, Any]) -> str:
    parts = [f"{summary['samples']} samples over {summary['duration_s']:.1f} s"]
    if "peak_process_rss_bytes" in summary:
        parts.append(f"mean CPU {summary['mean_cpu_percent']:.0f}%")
    if "mean_gpu_util_percent" in summary:
        parts.append(f"mean GPU util {summary['mean_gpu_util_percent']:.0f}%")
    if "peak_gpu_memory_used_bytes" in summary:
        parts.append(f"peak GPU memory {summary['peak_gpu_memory_used_bytes'] / 2**30:.1f} GiB")
    if "energy_j" in summary:
        parts.append(f"energy {summary['energy_j']:.1f} J")
    return "summary: " + ", ".join(parts)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("monitor", help="run the resource monitor on its own (CPU, memory, GPUs)")
    parser.add_argument("--live", action="store_true", help="print readings as they come (the default mode)")
    parser.add_argument("--metrics", default="cpu,gpu", metavar="cpu,gpu", help="what to sample (default cpu,gpu)")
    parser.add_argument("--interval", default="1s", metavar="DURATION", help="e.g. 1s, 250ms (default 1s)")
    parser.add_argument("--duration", type=float, default=60.0, metavar="S",
                        help="stop after S seconds (default 60; 0: until Ctrl-C)")
    parser.add_argument("--output", default=None, metavar="FILE.csv", help="also write the timeline CSV")
    parser.set_defaults(func=run_live)
