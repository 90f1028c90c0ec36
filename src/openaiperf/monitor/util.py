"""Small helpers the samplers share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openaiperf.errors import ConfigError


class SamplerUnavailable(RuntimeError):
    """A sampler's library or device is not there; the message says why and how to fix it."""


def integrate_power_j(points: Sequence[tuple[float, float]]) -> float:
    """Energy in J from (time s, power W) readings, by the trapezoid rule."""
    energy = 0.0
    for (t0, p0), (t1, p1) in zip(points, points[1:]):
        energy += (t1 - t0) * (p0 + p1) / 2.0
    return energy


def _gpu_indices(rows: Sequence[dict[str, Any]]) -> list[int]:
    indices = set()
    for row in rows:
        for key in row:
            head, _, field = key.partition("_")
            if head.startswith("gpu") and head[3:].isdigit() and field in ("energy_mj", "power_w"):
                indices.add(int(head[3:]))
    return sorted(indices)


def _clipped_power(points: Sequence[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    """The (t, W) readings within [start, end], with the power at both ends interpolated."""
    import numpy as np

    times = [t for t, _ in points]
    watts = [w for _, w in points]
    start, end = max(start, times[0]), min(end, times[-1])
    if end <= start:
        return []
    inside = [(t, w) for t, w in points if start < t < end]
    return [(start, float(np.interp(start, times, watts))), *inside, (end, float(np.interp(end, times, watts)))]


def window_energy_j(timelines: Sequence[Sequence[dict[str, Any]]],
                    windows: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """Energy (J) within ``windows`` from monitor timelines (rows with ``t`` on the same
    clock as the windows; one timeline per monitored round): per GPU the energy
    counter's growth between the window's ends, interpolated between readings, else
    the power readings integrated over the window (trapezoids, ends interpolated).
    Keys: ``gpu<i>_energy_j`` and ``gpu<i>_energy_source`` per GPU, ``energy_j`` (all
    GPUs), ``energy_window_s``; empty without energy or power readings."""
    import numpy as np

    out: dict[str, Any] = {}
    total, known = 0.0, False
    for index in sorted({i for rows in timelines for i in _gpu_indices(rows)}):
        energy, source = 0.0, None
        for rows in timelines:
            counter = [(r["t"], r[f"gpu{index}_energy_mj"]) for r in rows if f"gpu{index}_energy_mj" in r]
            power = [(r["t"], r[f"gpu{index}_power_w"]) for r in rows if f"gpu{index}_power_w" in r]
            for start, end in windows:
                if len(counter) >= 2 and counter[0][0] <= start and end <= counter[-1][0]:
                    times, values = [t for t, _ in counter], [v for _, v in counter]
                    energy += (float(np.interp(end, times, values)) - float(np.interp(start, times, values))) / 1000
                    source = "energy_counter"
                elif len(power) >= 2:
                    clipped = _clipped_power(power, start, end)
                    if clipped:
                        energy += integrate_power_j(clipped)
                        source = source or "power_integration"
        if source is not None:
            out[f"gpu{index}_energy_j"] = energy
            out[f"gpu{index}_energy_source"] = source
            total += energy
            known = True
    if known:
        out["energy_j"] = total
        out["energy_window_s"] = sum(end - start for start, end in windows)
    return out


def summarize_gpu_columns(rows: list[dict[str, float]], indices: Sequence[int], warnings: list[str]) -> dict[str, Any]:
    """Peaks, means and energy of ``gpu<i>_*`` columns (the same summary keys as NVML's)."""
    summary: dict[str, Any] = {}
    total, known = 0.0, False
    for index in indices:
        def column(field: str, index: int = index) -> list[tuple[float, float]]:
            key = f"gpu{index}_{field}"
            return [(r["t"], r[key]) for r in rows if key in r]

        util, memory, power, counter = (column(f) for f in ("util_percent", "memory_used_bytes", "power_w",
                                                            "energy_mj"))
        if util:
            summary[f"gpu{index}_mean_util_percent"] = sum(v for _, v in util) / len(util)
        if memory:
            summary[f"gpu{index}_peak_memory_used_bytes"] = max(v for _, v in memory)
        if power:
            summary[f"gpu{index}_mean_power_w"] = sum(v for _, v in power) / len(power)
        if power:
            summary[f"gpu{index}_peak_power_w"] = max(v for _, v in power)
        for field in ("sm_clock_mhz", "temperature_c"):
            values = column(field)
            if values:
                summary[f"gpu{index}_mean_{field}"] = sum(v for _, v in values) / len(values)
        throttle = column("throttle_reasons")
        if throttle:
            mask = 0
            for _, value in throttle:
                mask |= int(value)
            summary[f"gpu{index}_throttle_reasons_seen"] = mask
        if len(counter) >= 2:
            summary[f"gpu{index}_energy_j"] = (counter[-1][1] - counter[0][1]) / 1000.0
            summary[f"gpu{index}_energy_source"] = "energy_counter"
        elif len(power) >= 2:
            summary[f"gpu{index}_energy_j"] = integrate_power_j(power)
            summary[f"gpu{index}_energy_source"] = "power_integration"
        if f"gpu{index}_energy_j" in summary:
            total += summary[f"gpu{index}_energy_j"]
            known = True
    means = [v for k, v in summary.items() if k.endswith("_mean_util_percent")]
    if means:
        summary["mean_gpu_util_percent"] = sum(means) / len(means)
    peaks = [v for k, v in summary.items() if k.endswith("_peak_memory_used_bytes")]
    if peaks:
        summary["peak_gpu_memory_used_bytes"] = max(peaks)
    if known:
        summary["energy_j"] = total
    if warnings:
        summary["gpu_warnings"] = list(warnings)
    return summary


def parse_interval(text: str | float, source: str = "--interval") -> float:
    """``"100ms"``, ``"1s"``, ``"0.5"`` (seconds) -> seconds (> 0)."""
    raw = str(text).strip().lower()
    scale = 1.0
    if raw.endswith("ms"):
        raw, scale = raw[:-2], 1e-3
    elif raw.endswith("s"):
        raw = raw[:-1]
    try:
        seconds = float(raw) * scale
    except ValueError:
        raise ConfigError(f"expected a duration like 100ms, 1s or 0.5, got {text!r}", source=source) from None
    if seconds <= 0:
        raise ConfigError(f"must be positive, got {text!r}", source=source)
    return seconds
