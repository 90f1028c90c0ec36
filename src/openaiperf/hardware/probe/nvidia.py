"""NVIDIA GPUs through NVML (pynvml)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openaiperf.hardware.probe.common import GIB, c_text


def probe_nvidia(detailed: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import pynvml  # the nvidia-ml-py distribution

    pynvml.nvmlInit()
    try:
        driver = c_text(pynvml.nvmlSystemGetDriverVersion())
        cuda = None
        try:
            raw = pynvml.nvmlSystemGetCudaDriverVersion()  # e.g. 12040 -> "12.4"
            cuda = f"{raw // 1000}.{raw % 1000 // 10}"
        except Exception:
            pass
        devices = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            dev: dict[str, Any] = {
                "vendor": "nvidia",
                "name": c_text(pynvml.nvmlDeviceGetName(handle)),
                "memory_gb": round(pynvml.nvmlDeviceGetMemoryInfo(handle).total / GIB, 2),
                "driver": driver,
                "power_limit_w": _nvidia_power_cap_w(pynvml, handle),
            }
            if detailed:
                dev.update(_nvidia_details(pynvml, handle, index))
            devices.append(dev)
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
    return devices, {"driver": driver, "compute_backend": {"type": "cuda", "version": cuda}}


def _nvidia_power_cap_w(pynvml: Any, handle: Any) -> float | None:
    """The power cap set on the device (NVML's power management limit, W): a capped
    GPU is a different machine for a performance baseline. None where unsupported."""
    try:
        return round(float(pynvml.nvmlDeviceGetPowerManagementLimit(handle)) / 1000, 1)  # mW
    except Exception:
        return None


def _nvidia_details(pynvml: Any, handle: Any, index: int) -> dict[str, Any]:
    """uuid, PCI bus, power limit, NVLink; each optional (not every part supports each)."""
    details: dict[str, Any] = {"index": index}
    calls: dict[str, Callable[[], Any]] = {
        "uuid": lambda: c_text(pynvml.nvmlDeviceGetUUID(handle)),
        "pci_bus_id": lambda: c_text(pynvml.nvmlDeviceGetPciInfo(handle).busId),
        "power_limit_w": lambda: pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000,
        "memory_gb": lambda: round(pynvml.nvmlDeviceGetMemoryInfo(handle).total / GIB, 2),
    }
    for key, call in calls.items():
        try:
            details[key] = call()
        except Exception:
            details[key] = None
    try:
        active = pynvml.nvmlDeviceGetNvLinkState(handle, 0) == pynvml.NVML_FEATURE_ENABLED
        details["interconnect"] = "nvlink" if active else "pcie"
    except Exception:  # no NVLink on this part
        details["interconnect"] = "pcie"
    return details
