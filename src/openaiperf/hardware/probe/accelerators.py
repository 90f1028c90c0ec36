"""Accelerators: NVIDIA first, then AMD/Hygon, grouped by model as system.json has them."""

from __future__ import annotations

from typing import Any

from openaiperf.hardware.probe.amd import probe_amd
from openaiperf.hardware.probe.nvidia import probe_nvidia


def probe_accelerators(detailed: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(accelerators, {driver, compute_backend}); NVIDIA first, then AMD/Hygon."""
    for probe in (probe_nvidia, probe_amd):
        try:
            devices, software = probe(detailed)
        except Exception:  # any failure of an optional probe means "none found here"
            continue
        if devices:
            return _group(devices, detailed), software
    return [], {}


def _group(devices: list[dict[str, Any]], detailed: bool) -> list[dict[str, Any]]:
    """One entry per distinct model with its count, as system.json has it."""
    groups: dict[str, dict[str, Any]] = {}
    for dev in devices:
        entry = groups.setdefault(dev["name"], {
            "type": "gpu",
            "vendor": dev["vendor"],
            "name": dev["name"],
            "count": 0,
            "memory_gb": dev.get("memory_gb"),
            "driver": dev.get("driver"),
        })
        entry["count"] += 1
        if dev.get("power_limit_w") is not None:  # the power cap of each device of this model
            entry.setdefault("power_limits_w", []).append(dev["power_limit_w"])
        if detailed:
            entry.setdefault("devices", []).append(
                {k: v for k, v in dev.items() if k not in ("vendor", "name", "driver")}
            )
            if dev.get("interconnect"):
                entry["interconnect"] = dev["interconnect"]
    return list(groups.values())
