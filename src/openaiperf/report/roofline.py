"""The roofline of a run: each case's prefill and decode as points (arithmetic intensity
in FLOP/byte, achieved FLOP/s) under the machine's ceilings, and which one bounds each.

A phase of intensity I can reach at most min(peak FLOP/s, I × bandwidth): below the
ridge intensity (peak / bandwidth) it is memory-bound, above it compute-bound. Two sets
of ceilings: the datasheet's (the hardware profile's peak for the case's compute dtype
and its bandwidth, as MFU and MBU use them, every device the engine spans) and the
calibrated ones (the run's calibration: its GEMM and its memory copy, one device). The
points come from the metrics of :mod:`openaiperf.metrics.efficiency`
(``prefill_intensity``/``prefill_tflops``, ``decode_intensity``/``decode_tflops``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from openaiperf.result import CaseResult

PHASES = (("prefill", "prefill_intensity", "prefill_tflops"), ("decode", "decode_intensity", "decode_tflops"))


@dataclass(frozen=True)
class Ceilings:
    """A compute roof (FLOP/s) and a bandwidth slope (bytes/s), either possibly unknown."""

    label: str
    flops: float | None
    bandwidth: float | None

    @property
    def ridge(self) -> float | None:
        """The intensity (FLOP/byte) where the slope meets the roof."""
        return self.flops / self.bandwidth if self.flops and self.bandwidth else None

    def attainable(self, intensity: float) -> float | None:
        """The most a phase of this intensity reaches under these ceilings (FLOP/s)."""
        roofs = [r for r in (self.flops, intensity * self.bandwidth if self.bandwidth else None) if r]
        return min(roofs) if roofs else None

    def bound(self, intensity: float) -> Literal["memory", "compute"] | None:
        ridge = self.ridge
        if ridge is not None:
            return "memory" if intensity < ridge else "compute"
        return None


@dataclass(frozen=True)
class RooflinePoint:
    """One phase of one case: its number in the report's table, id, engine, phase,
    intensity (FLOP/byte) and achieved FLOP/s."""

    number: int
    case_id: str
    engine: str
    phase: Literal["prefill", "decode"]
    intensity: float
    flops: float


def roofline_points(numbered: Sequence[tuple[int, CaseResult]]) -> list[RooflinePoint]:
    """The prefill and decode point of every case that has them."""
    points = []
    for number, case in numbered:
        for phase, intensity_name, tflops_name in PHASES:
            intensity, tflops = case.value(intensity_name), case.value(tflops_name)
            if intensity and tflops and intensity > 0 and tflops > 0:
                points.append(RooflinePoint(number, case.id, case.engine, phase, intensity,  # type: ignore[arg-type]
                                            tflops * 1e12))
    return points


def run_ceilings(cases: Sequence[CaseResult]) -> list[Ceilings]:
    """The datasheet ceilings (from the first case that states them) and the calibrated
    ones (from the run's calibration), each where known."""
    out = []
    basis = next((c.settings.efficiency for c in cases
                  if c.settings.efficiency is not None and (c.settings.efficiency.peak_flops
                                                            or c.settings.efficiency.bandwidth_bytes_per_s)), None)
    if basis is not None:
        out.append(Ceilings(f"datasheet ({basis.compute_dtype})", basis.peak_flops, basis.bandwidth_bytes_per_s))
    calibration = next((c.calibration for c in cases if c.calibration), None)
    if calibration:
        gemm, copy = calibration.get("gemm_tflops"), calibration.get("copy_gbs")
        out.append(Ceilings(f"calibrated ({calibration.get('dtype', '?')} GEMM, memory copy)",
                            gemm * 1e12 if gemm else None, copy * 1e9 if copy else None))
    return out


def bound_of(point: RooflinePoint, ceilings: Sequence[Ceilings]) -> tuple[str, Ceilings | None]:
    """Which bound the point sits under ("memory" or "compute"), by the first ceilings
    that have both a roof and a slope (the calibrated ones first: what this machine
    reaches), with those ceilings; ("unknown", None) when none has both."""
    ordered = sorted(ceilings, key=lambda c: not c.label.startswith("calibrated"))
    for ceiling in ordered:
        bound = ceiling.bound(point.intensity)
        if bound is not None:
            return bound, ceiling
    return "unknown", None


def describe_ceilings(ceilings: Sequence[Ceilings]) -> str:
    """The ceilings in words: each set's roof, slope and ridge where known ("" when none is)."""
    return "; ".join(
        f"{c.label}: " + ", ".join(part for part in (
            f"{c.flops / 1e12:.3g} TFLOP/s" if c.flops else "", f"{c.bandwidth / 1e9:.3g} GB/s" if c.bandwidth
            else "", f"ridge {c.ridge:.3g} FLOP/byte" if c.ridge else "") if part)
        for c in ceilings if c.flops or c.bandwidth)


def markdown_lines(numbered: Sequence[tuple[int, CaseResult]]) -> list[str]:
    """The Markdown roofline table: each case's phases, their intensity and achieved
    FLOP/s, the bound they sit under and how close to its roof."""
    cases = [case for _, case in numbered]
    points = roofline_points(numbered)
    if not points:
        return []
    ceilings = run_ceilings(cases)
    lines = ["### Roofline", ""]
    described = describe_ceilings(ceilings)
    if described:
        lines += [f"Ceilings: {described}.", ""]
    lines += ["| case | phase | intensity (FLOP/byte) | achieved (TFLOP/s) | bound | of the attainable roof |",
              "|---|---|---:|---:|---|---:|"]
    for point in points:
        bound, ceiling = bound_of(point, ceilings)
        attainable = ceiling.attainable(point.intensity) if ceiling is not None else None
        share = f"{point.flops / attainable:.1%}" if attainable else "-"
        under = f"{bound} ({ceiling.label.split(' ')[0]})" if ceiling is not None else "unknown (no ceilings)"
        lines.append(f"| `{point.case_id}` | {point.phase} | {point.intensity:.3g} | {point.flops / 1e12:.4g} | "
                     f"{under} | {share} |")
    return lines
