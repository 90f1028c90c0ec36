"""Hardware profiles: peak FLOP/s, memory size and bandwidth of one accelerator (or the CPU).

A profile is ``hardware_profiles/<name>.yaml``; it is what MFU and MBU are computed
against, so every figure in the shipped files names the datasheet it comes from.
The generic ``cpu`` profile leaves memory and peak FLOP/s to the machine probe
(:mod:`openaiperf.hardware.probe`) and estimates them at run time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, field_validator, model_validator

from openaiperf.errors import ConfigError, UnknownNameError
from openaiperf.result import SystemInfo
from openaiperf.specs import Spec, load_yaml_spec

__all__ = [
    "DTYPES",
    "HardwareProfile",
    "canonical_dtype",
    "estimate_cpu_flops_per_cycle",
    "list_profiles",
    "load_profile",
    "profile_dirs",
]

#: The dtype keys a profile's ``peak_tflops`` may use.
DTYPES: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8")
DtypeKey = Literal["fp32", "tf32", "bf16", "fp16", "fp8", "int8"]

# torch-style and other common spellings -> profile key.
_DTYPE_ALIASES: dict[str, str] = {
    "fp32": "fp32", "float32": "fp32", "float": "fp32", "f32": "fp32",
    "tf32": "tf32", "tensorfloat32": "tf32",
    "bf16": "bf16", "bfloat16": "bf16",
    "fp16": "fp16", "float16": "fp16", "half": "fp16", "f16": "fp16",
    "fp8": "fp8", "float8": "fp8", "float8_e4m3fn": "fp8", "float8_e5m2": "fp8",
    "float8_e4m3fnuz": "fp8", "float8_e5m2fnuz": "fp8", "e4m3": "fp8", "e5m2": "fp8",
    "int8": "int8", "i8": "int8",
}

_ENV_VAR = "OPENAIPERF_HARDWARE_PROFILES"
_GIB = 2**30


def canonical_dtype(dtype: str) -> str | None:
    """Map ``"bfloat16"``, ``"torch.float16"``, ``"fp8"``... to a profile key, or None."""
    key = str(dtype).strip().lower().removeprefix("torch.")
    return _DTYPE_ALIASES.get(key)


class HardwareProfile(Spec):
    """One accelerator (or the CPU), as loaded from ``hardware_profiles/<name>.yaml``."""

    name: str = Field(min_length=1)
    vendor: Literal["nvidia", "amd", "hygon", "generic"]
    # torch device type; ROCm and Hygon DTK builds of torch also say "cuda".
    device: Literal["cuda", "cpu"]
    backend: Literal["cuda", "rocm", "dtk", "cpu"]
    # null on the cpu profile: taken from the probe at run time.
    memory_gib: PositiveFloat | None = None
    memory_bandwidth_gbs: PositiveFloat | None = None
    # Dense peak per dtype in TFLOP/s (TOPS for int8), no sparsity.
    peak_tflops: dict[DtypeKey, PositiveFloat] = Field(default_factory=dict)
    # cpu only: estimate missing peaks from the probed cores x GHz x ISA.
    estimate_peak: bool = False
    tdp_w: PositiveFloat | None = None
    default_dtype: Literal["bfloat16", "float16", "float32"]
    match: list[str] = Field(default_factory=list)
    max_model_params_b: PositiveFloat | None = None

    @field_validator("match")
    @classmethod
    def _regexes_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HardwareProfile:
        if (self.device == "cpu") != (self.backend == "cpu"):
            raise ValueError(f"device {self.device!r} does not go with backend {self.backend!r}")
        if self.estimate_peak and self.device != "cpu":
            raise ValueError("estimate_peak is only supported for device 'cpu'")
        if not self.peak_tflops and not self.estimate_peak:
            raise ValueError("peak_tflops is empty; give figures or set estimate_peak: true (cpu)")
        if self.device == "cuda" and (self.memory_gib is None or self.memory_bandwidth_gbs is None):
            # An accelerator's memory cannot be probed reliably for MBU; it must be stated.
            raise ValueError("GPU profiles need memory_gib and memory_bandwidth_gbs")
        return self

    def matches(self, accelerator_name: str) -> bool:
        """Whether a probed accelerator name matches one of this profile's ``match`` regexes."""
        return any(re.search(p, accelerator_name, re.IGNORECASE) for p in self.match)

    def peak_flops(self, dtype: str, system: SystemInfo | None = None) -> float | None:
        """Dense peak FLOP/s (OP/s for int8) for ``dtype``, or None when unknown.

        Accepts profile keys and torch names ("bfloat16", "torch.float16"). With
        ``estimate_peak`` a missing figure is estimated from ``system`` (the probe).
        """
        return self.peak(dtype, system)[0]

    def peak(self, dtype: str, system: SystemInfo | None = None) -> tuple[float | None, str]:
        """(dense peak FLOP/s for ``dtype`` or None, where the figure comes from)."""
        key = canonical_dtype(dtype)
        if key is None:
            return None, f"dtype {dtype!r} has no peak key (known: {', '.join(DTYPES)})"
        if key in self.peak_tflops:
            return self.peak_tflops[key] * 1e12, f"hardware profile {self.name!r}: datasheet peak_tflops.{key}"
        if self.estimate_peak and system is not None:
            estimate = _estimate_cpu_peak(key, system)
            if estimate is not None:
                return estimate
            clock = system.hardware.cpu.frequency_source or "no clock found"
            return None, (f"no {key} peak: no upper bound is known (the CPU's maximum clock: {clock}; or no known "
                          "vector ISA for it): MFU is reported against the measured calibration only")
        return None, f"hardware profile {self.name!r} states no {key} peak"

    def memory_bytes(self, system: SystemInfo | None = None) -> float | None:
        """Device memory in bytes: the profile's figure, else (cpu) total RAM from the probe."""
        if self.memory_gib is not None:
            return self.memory_gib * _GIB
        memory = system.hardware.memory if system is not None else None
        if memory is not None and memory.total_bytes:
            return float(memory.total_bytes)
        if memory is not None and memory.total_gb:
            return float(memory.total_gb) * _GIB
        return None

    def bandwidth_bytes_per_s(self, system: SystemInfo | None = None) -> float | None:
        """Memory bandwidth in bytes/s: the profile's figure, else the probe's if it has one."""
        if self.memory_bandwidth_gbs is not None:
            return self.memory_bandwidth_gbs * 1e9
        memory = system.hardware.memory if system is not None else None
        return memory.bandwidth_gbs * 1e9 if memory is not None and memory.bandwidth_gbs else None


#: ISA -> (fp32 FLOPs per cycle per core, why): the most any part with that ISA does, so the estimate
#: is an upper bound (a part with fewer or narrower FMA units, or lower all-core clocks, does less)
_FP32_PER_CYCLE: tuple[tuple[str, int, str], ...] = (
    ("avx512f", 64, "AVX-512: 16 fp32 lanes x 2 (FMA) x 2 FMA units"),
    ("avx2+fma", 32, "AVX2+FMA: 8 fp32 lanes x 2 (FMA) x 2 FMA units"),
    ("avx", 16, "AVX without FMA: an 8-lane add and an 8-lane multiply per cycle"),
    ("sse4_2", 8, "SSE: a 4-lane add and a 4-lane multiply per cycle"),
    ("sve", 64, "SVE: up to 512-bit vectors x 2 (FMA) x 2 pipes (A64FX)"),
    ("asimd", 32, "NEON: 4 fp32 lanes x 2 (FMA) x up to 4 pipes (Neoverse V2, Apple M)"),
)


def _fp32_per_cycle(features: set[str]) -> tuple[int, str] | None:
    for isa, flops, why in _FP32_PER_CYCLE:
        needed = isa.split("+")
        if all(flag in features for flag in needed):
            return flops, why
    return None


def estimate_cpu_flops_per_cycle(dtype: str, features: set[str]) -> int | None:
    """FLOPs per cycle per core for ``dtype`` given the CPU's ISA feature flags: the
    most any part with those flags does (an upper bound, see :data:`_FP32_PER_CYCLE`).

    fp32: AVX-512 64, AVX2+FMA 32, AVX 16, SSE 8; SVE 64, NEON 32. bf16: AMX-BF16 1024
    (Intel's per-core tile rate), AVX512_BF16 128 (a dot product of bf16 pairs doubles
    the fp32 rate), else as fp32. fp16 likewise with AMX-FP16 / AVX512_FP16. Other
    dtypes, or no known ISA: None (not estimated).
    """
    found = _flops_per_cycle(dtype, features)
    return found[0] if found else None


def _flops_per_cycle(dtype: str, features: set[str]) -> tuple[int, str] | None:
    key = canonical_dtype(dtype)
    fp32 = _fp32_per_cycle(features)
    if fp32 is None or key not in ("fp32", "bf16", "fp16"):
        return None
    if key == "bf16" and "amx_bf16" in features:
        return 1024, "AMX-BF16 tile multiply: 1024 bf16 FLOP/cycle"
    if key == "bf16" and "avx512_bf16" in features:
        return 128, "AVX512_BF16 dot products: twice the fp32 rate"
    if key == "fp16" and "amx_fp16" in features:
        return 1024, "AMX-FP16 tile multiply: 1024 fp16 FLOP/cycle"
    if key == "fp16" and "avx512_fp16" in features:
        return 128, "AVX512_FP16: 32 fp16 lanes x 2 (FMA) x 2 FMA units"
    return fp32[0], fp32[1] + ("" if key == "fp32" else f" ({key} computed at the fp32 rate)")


def _estimate_cpu_peak(key: str, system: SystemInfo) -> tuple[float, str] | None:
    """(peak FLOP/s, how it was estimated) from the probe, or None."""
    cpu = system.hardware.cpu
    cores, ghz = cpu.cores, cpu.frequency_ghz
    if not cores or not ghz or cpu.frequency_is_max is False:
        return None  # no maximum clock known (a current clock is no upper bound)
    # The probe always carries the short list of relevant extensions; full flags
    # only with --detailed. Either is enough.
    features = {f.lower() for f in [*cpu.isa_extensions, *cpu.flags]}
    per_cycle = _flops_per_cycle(key, features)
    if per_cycle is None:
        return None
    clock = cpu.frequency_source or "probed clock"
    source = (f"estimated: {cores} physical core(s) x {float(ghz):g} GHz ({clock}) x {per_cycle[0]} "
              f"FLOP/cycle ({per_cycle[1]})")
    return float(cores) * float(ghz) * 1e9 * per_cycle[0], source


# --- finding and loading profile files ---------------------------------------------


def profile_dirs(extra: Sequence[str | Path] = ()) -> list[Path]:
    """Directories searched for profiles, first match wins.

    ``extra``, then ``$OPENAIPERF_HARDWARE_PROFILES`` (os.pathsep-separated), then
    ``./hardware_profiles``, then the profiles shipped in the installed package, then
    the repository's own (a source checkout or an editable install, where the
    package's copy is not built). Only existing directories, without duplicates.
    """
    candidates: list[Path] = [Path(p) for p in extra]
    env = os.environ.get(_ENV_VAR, "")
    candidates += [Path(p) for p in env.split(os.pathsep) if p]
    candidates.append(Path.cwd() / "hardware_profiles")
    package = Path(__file__).resolve().parents[1]
    candidates.append(package / "hardware_profiles")
    candidates.append(package.parents[1] / "hardware_profiles")
    seen: set[Path] = set()
    dirs: list[Path] = []
    for path in candidates:
        resolved = path.resolve()
        if resolved.is_dir() and resolved not in seen:
            seen.add(resolved)
            dirs.append(resolved)
    return dirs


def _profile_files(dirs: Sequence[str | Path] | None) -> dict[str, Path]:
    """name -> file, the first directory holding a name winning."""
    search = profile_dirs() if dirs is None else profile_dirs(dirs)
    files: dict[str, Path] = {}
    for directory in search:
        for path in sorted(directory.glob("*.yaml")):
            files.setdefault(path.stem, path)
    return files


def list_profiles(dirs: Sequence[str | Path] | None = None) -> list[str]:
    """Names of all profiles found (``dirs`` are searched before the defaults)."""
    return sorted(_profile_files(dirs))


def load_profile(name: str, dirs: Sequence[str | Path] | None = None) -> HardwareProfile:
    """Load and validate the profile ``name``; errors name the file and field."""
    files = _profile_files(dirs)
    if name not in files:
        raise UnknownNameError("hardware profile", name, list(files), source="--hw")
    path = files[name]
    profile = load_yaml_spec(HardwareProfile, path)
    if profile.name != path.stem:
        # The name is what reports and baselines are keyed by; it must be the one --hw takes.
        raise ConfigError(
            f"name {profile.name!r} differs from the file name {path.stem!r}", source=str(path), field="name"
        )
    return profile
