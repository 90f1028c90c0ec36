"""The NVIDIA sampler (nvidia-ml-py, imported as ``pynvml``).

Per GPU: utilisation (SM and memory), memory used, power, the driver's total
energy counter, SM and memory clocks, temperature and the clock-event (throttle)
reason bitmask. Energy comes from ``nvmlDeviceGetTotalEnergyConsumption`` (mJ
since driver load, Volta and newer); where that is not supported it is the
integral of the power readings over time.

Nothing here fails a measurement: a reading the driver refuses (no permission,
not supported) is dropped after one warning; a GPU that stops answering (lost,
unplugged) is dropped after one warning, and what was read before is kept.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from openaiperf.monitor.sampler import Sampler
from openaiperf.monitor.util import SamplerUnavailable, summarize_gpu_columns
from openaiperf.registry import requirement

log = logging.getLogger("openaiperf.monitor")


def _visible_indices(count: int) -> list[int]:
    """The GPUs this process may use: CUDA_VISIBLE_DEVICES when it lists indices, else all."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None or not visible.strip():
        return list(range(count))
    indices = []
    for item in visible.split(","):
        item = item.strip()
        if not item.isdigit():  # UUIDs or MIG ids: sample every device rather than guess
            return list(range(count))
        if int(item) < count:
            indices.append(int(item))
    return indices


class NvmlSampler(Sampler):
    """One reading per GPU per sample; columns are ``gpu<i>_<field>``."""

    name = "nvml"
    group = "gpu"
    requires = (requirement("nvidia-ml-py>=12", module="pynvml"),)

    def __init__(self, pynvml: Any | None = None) -> None:
        if pynvml is None:
            try:
                import pynvml as module  # the nvidia-ml-py distribution
            except ImportError as exc:
                raise SamplerUnavailable(f"nvidia-ml-py is not installed ({exc}); pip install nvidia-ml-py") from None
            pynvml = module
        self.nvml = pynvml
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
        except pynvml.NVMLError as exc:
            raise SamplerUnavailable(f"NVML could not start: {exc}") from None
        if count == 0:
            pynvml.nvmlShutdown()
            raise SamplerUnavailable("NVML found no GPU")
        self.handles: dict[int, Any] = {}
        for index in _visible_indices(count):
            self.handles[index] = pynvml.nvmlDeviceGetHandleByIndex(index)
        #: (gpu, field) pairs the driver refused; not asked again
        self.refused: set[tuple[int, str]] = set()
        self.lost: set[int] = set()
        self.warnings: list[str] = []

    def _readers(self, handle: Any) -> dict[str, Callable[[], float]]:
        nvml = self.nvml
        throttle = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            nvml.nvmlDeviceGetCurrentClocksThrottleReasons
        return {
            "util_percent": lambda: float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
            "mem_util_percent": lambda: float(nvml.nvmlDeviceGetUtilizationRates(handle).memory),
            "memory_used_bytes": lambda: float(nvml.nvmlDeviceGetMemoryInfo(handle).used),
            "power_w": lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0,
            "energy_mj": lambda: float(nvml.nvmlDeviceGetTotalEnergyConsumption(handle)),
            "sm_clock_mhz": lambda: float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)),
            "mem_clock_mhz": lambda: float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM)),
            "temperature_c": lambda: float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
            "throttle_reasons": lambda: float(throttle(handle)),
        }

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning(message)

    def sample(self) -> dict[str, float]:
        nvml = self.nvml
        row: dict[str, float] = {}
        gone = (nvml.NVML_ERROR_GPU_IS_LOST, getattr(nvml, "NVML_ERROR_UNINITIALIZED", -1))
        for index, handle in self.handles.items():
            if index in self.lost:
                continue
            for field, read in self._readers(handle).items():
                if (index, field) in self.refused:
                    continue
                try:
                    row[f"gpu{index}_{field}"] = read()
                except nvml.NVMLError as exc:
                    if getattr(exc, "value", None) in gone:
                        self.lost.add(index)
                        self._warn(f"GPU {index} stopped answering NVML ({exc}); its readings end here")
                        break
                    self.refused.add((index, field))
                    self._warn(f"GPU {index}: NVML refused {field} ({exc}); not recorded")
        return row

    def summarize(self, rows: list[dict[str, float]]) -> dict[str, Any]:
        return summarize_gpu_columns(rows, list(self.handles), self.warnings)

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except self.nvml.NVMLError:
            pass
