"""What the machine actually reaches, against its hardware profile's datasheet numbers.

Two measurements, each the best of several timed batches after a warm-up:

- a square GEMM in the profile's dtype (bf16 on the GPUs, fp32 on the generic
  CPU profile): 2·n³ FLOPs per multiply -> TFLOP/s;
- a device memory copy (``dst.copy_(src)``): every byte is read once and written
  once, so 2 × size bytes per copy -> GB/s.

The fractions (measured / profile) tell users when a profile or a machine is off:
a GEMM well below ~0.6 of the datasheet on a GPU, or a copy far from the stated
bandwidth, means clocks, power limits, a wrong profile or a busy machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openaiperf.hardware import HardwareProfile
    from openaiperf.result import SystemInfo


@dataclass(frozen=True)
class CalibrationPlan:
    device: str
    dtype: str  # torch dtype name
    gemm_n: int
    copy_bytes: int
    budget_s: float  # per measurement

    @classmethod
    def for_profile(cls, profile: Any) -> CalibrationPlan:
        if profile.device == "cpu":
            # Small enough to stay well under 20 s on two busy cores, big enough to leave the caches.
            return cls("cpu", profile.default_dtype, gemm_n=1024, copy_bytes=256 * 2**20, budget_s=2.0)
        return cls("cuda", profile.default_dtype, gemm_n=8192, copy_bytes=2 * 2**30, budget_s=2.0)


def _best_rate(step: Callable[[], None], work: float, sync: Callable[[], None], budget_s: float) -> float:
    """Highest ``work`` per second over batches of ``step`` calls within ``budget_s``."""
    step()
    sync()  # warm-up: allocation, kernel selection, page faults
    start = time.perf_counter()
    sync()
    t = time.perf_counter()
    step()
    sync()
    once = max(time.perf_counter() - t, 1e-6)
    per_batch = max(1, int(0.2 / once))  # batches of ~0.2 s
    best = work / once
    while time.perf_counter() - start < budget_s:
        t = time.perf_counter()
        for _ in range(per_batch):
            step()
        sync()
        best = max(best, work * per_batch / (time.perf_counter() - t))
    return best


def _gemm_rate(plan: CalibrationPlan, dtype: Any, device: Any, sync: Any) -> float:
    import torch

    n = plan.gemm_n
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    return _best_rate(lambda: torch.matmul(a, b, out=out), 2.0 * n**3, sync, plan.budget_s)


def measure(plan: CalibrationPlan) -> dict[str, float]:
    import torch

    dtype = getattr(torch, plan.dtype)
    device = torch.device(plan.device)
    sync = torch.cuda.synchronize if plan.device == "cuda" else (lambda: None)
    flops = _gemm_rate(plan, dtype, device, sync)  # its matrices are freed before the copy buffers exist
    src = torch.empty(plan.copy_bytes // 4, device=device, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    copy = _best_rate(lambda: dst.copy_(src), 2.0 * plan.copy_bytes, sync, plan.budget_s)
    return {"gemm_tflops": flops / 1e12, "copy_gbs": copy / 1e9}


def calibrate(profile: HardwareProfile, system: SystemInfo | None,
              plan: CalibrationPlan | None = None) -> dict[str, Any]:
    """Measured numbers, the profile's, and their ratio (None where the profile has no figure)."""
    plan = plan or CalibrationPlan.for_profile(profile)
    measured = measure(plan)
    peak, peak_source = profile.peak(plan.dtype, system)
    bandwidth = profile.bandwidth_bytes_per_s(system)
    return {
        "device": plan.device, "dtype": plan.dtype, "gemm_n": plan.gemm_n, "copy_bytes": plan.copy_bytes,
        "gemm_tflops": measured["gemm_tflops"],
        "profile_tflops": peak / 1e12 if peak else None,
        "profile_peak_source": peak_source,
        "gemm_fraction": measured["gemm_tflops"] * 1e12 / peak if peak else None,
        "copy_gbs": measured["copy_gbs"],
        "profile_bandwidth_gbs": bandwidth / 1e9 if bandwidth else None,
        "copy_fraction": measured["copy_gbs"] * 1e9 / bandwidth if bandwidth else None,
    }


def describe(calibration: dict[str, Any], profile_name: str) -> str:
    def fraction(value: float | None, reference: float | None, unit: str) -> str:
        if value is None:
            return f"(the {profile_name!r} profile states no {unit} figure)"
        return f"= {value:.1%} of the profile's {reference:,.4g} {unit}"

    source = calibration.get("profile_peak_source")
    return (f"calibration on {calibration['device']} ({calibration['dtype']}):\n"
            f"  GEMM {calibration['gemm_n']}^3: {calibration['gemm_tflops']:.3f} TFLOP/s "
            f"{fraction(calibration['gemm_fraction'], calibration['profile_tflops'], 'TFLOP/s')}\n"
            + (f"  peak: {source}\n" if source else "") +
            f"  copy {calibration['copy_bytes'] / 2**20:.0f} MiB: {calibration['copy_gbs']:.1f} GB/s "
            f"{fraction(calibration['copy_fraction'], calibration['profile_bandwidth_gbs'], 'GB/s')}")
