"""The AMD / Hygon sampler: ``amdsmi`` (the ROCm SMI Python library) when it is
importable, else the ``rocm-smi`` command; skipped (with the reason) when neither
is there.

Per GPU: utilisation, VRAM used, power, energy counter (amdsmi), GFX clock and
edge temperature. As with NVML, a refused reading is dropped after one warning.
Calling ``rocm-smi`` costs a process start per sample, so with that fallback
use an interval of a second or more.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from openaiperf.monitor.sampler import Sampler
from openaiperf.monitor.util import SamplerUnavailable, summarize_gpu_columns

log = logging.getLogger("openaiperf.monitor")


class AmdSmiSampler(Sampler):
    """Through the ``amdsmi`` library; registered as ``rocm``, it falls back to the
    ``rocm-smi`` command (:meth:`create`)."""

    name = "amdsmi"
    group = "gpu"

    @classmethod
    def create(cls) -> Sampler:
        return create_rocm_sampler()

    def __init__(self, amdsmi: Any | None = None) -> None:
        if amdsmi is None:
            try:
                import amdsmi as module
            except ImportError as exc:
                raise SamplerUnavailable(f"amdsmi is not importable ({exc}); it ships with ROCm") from None
            amdsmi = module
        self.smi = amdsmi
        try:
            amdsmi.amdsmi_init()
            self.handles = list(amdsmi.amdsmi_get_processor_handles())
        except Exception as exc:  # amdsmi raises its own AmdSmiException types
            raise SamplerUnavailable(f"amdsmi could not start: {exc}") from None
        if not self.handles:
            raise SamplerUnavailable("amdsmi found no GPU")
        self.refused: set[tuple[int, str]] = set()
        self.warnings: list[str] = []

    def _readers(self, handle: Any) -> dict[str, Callable[[], float]]:
        smi = self.smi

        def energy_mj() -> float:
            info = smi.amdsmi_get_energy_count(handle)
            count = info.get("energy_accumulator", info.get("power"))
            return float(count) * float(info["counter_resolution"]) / 1000.0  # µJ -> mJ

        def power_w() -> float:
            info = smi.amdsmi_get_power_info(handle)
            value = info.get("current_socket_power")
            if value in (None, "N/A"):
                value = info.get("average_socket_power")
            return float(value)

        return {
            "util_percent": lambda: float(smi.amdsmi_get_gpu_activity(handle)["gfx_activity"]),
            "memory_used_bytes": lambda: float(smi.amdsmi_get_gpu_vram_usage(handle)["vram_used"]) * 2**20,
            "power_w": power_w,
            "energy_mj": energy_mj,
            "sm_clock_mhz": lambda: float(smi.amdsmi_get_clock_info(handle, smi.AmdSmiClkType.GFX)["clk"]),
            "temperature_c": lambda: float(smi.amdsmi_get_temp_metric(
                handle, smi.AmdSmiTemperatureType.EDGE, smi.AmdSmiTemperatureMetric.CURRENT)),
        }

    def sample(self) -> dict[str, float]:
        row: dict[str, float] = {}
        for index, handle in enumerate(self.handles):
            for field, read in self._readers(handle).items():
                if (index, field) in self.refused:
                    continue
                try:
                    row[f"gpu{index}_{field}"] = read()
                except Exception as exc:
                    self.refused.add((index, field))
                    message = f"GPU {index}: amdsmi refused {field} ({exc}); not recorded"
                    self.warnings.append(message)
                    log.warning(message)
        return row

    def summarize(self, rows: list[dict[str, float]]) -> dict[str, Any]:
        return summarize_gpu_columns(rows, range(len(self.handles)), self.warnings)

    def close(self) -> None:
        try:
            self.smi.amdsmi_shut_down()
        except Exception:
            pass


class RocmSmiSampler(Sampler):
    """Fallback through the ``rocm-smi --json`` command (no energy counter: power is integrated)."""

    name = "rocm-smi"
    group = "gpu"

    def __init__(self, executable: str | None = None) -> None:
        self.executable: str = executable or shutil.which("rocm-smi") or ""
        if not self.executable:
            raise SamplerUnavailable("neither amdsmi nor rocm-smi is available (install ROCm)")
        self.count = len(self._query())
        if not self.count:
            raise SamplerUnavailable("rocm-smi found no GPU")
        self.warnings: list[str] = []

    def _query(self) -> dict[str, dict[str, Any]]:
        out = subprocess.run([self.executable, "--showuse", "--showmemuse", "--showpower", "--showtemp", "--json"],
                             capture_output=True, text=True, timeout=10)
        data = json.loads(out.stdout or "{}")
        return {k: v for k, v in data.items() if k.startswith("card")}

    def sample(self) -> dict[str, float]:
        row: dict[str, float] = {}
        try:
            cards = self._query()
        except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
            message = f"rocm-smi failed ({exc}); GPU readings stop here"
            if message not in self.warnings:
                self.warnings.append(message)
                log.warning(message)
            return row
        for index, (_, card) in enumerate(sorted(cards.items())):
            for key, value in card.items():
                name = key.lower()
                field = ("util_percent" if "gpu use" in name else "power_w" if "power" in name
                         else "temperature_c" if "edge" in name else None)
                if field is not None:
                    try:
                        row[f"gpu{index}_{field}"] = float(value)
                    except (TypeError, ValueError):
                        pass
        return row

    def summarize(self, rows: list[dict[str, float]]) -> dict[str, Any]:
        return summarize_gpu_columns(rows, range(self.count), self.warnings)

    def close(self) -> None:
        pass


def create_rocm_sampler() -> AmdSmiSampler | RocmSmiSampler:
    try:
        return AmdSmiSampler()
    except SamplerUnavailable as first:
        try:
            return RocmSmiSampler()
        except SamplerUnavailable as second:
            raise SamplerUnavailable(f"{first}; {second}") from None
