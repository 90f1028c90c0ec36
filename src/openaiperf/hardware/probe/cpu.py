"""The CPU: model, counts, ISA flags, the maximum clock (an upper bound for the peak)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from openaiperf.hardware.probe.common import SMI_TIMEOUT_S

# Flags that decide the CPU peak estimate (see openaiperf.hardware); always reported.
_ISA_FLAGS = (
    "amx_bf16", "amx_fp16", "amx_int8", "amx_tile", "avx512f", "avx512_bf16", "avx512_fp16",
    "avx512_vnni", "avx_vnni", "avx2", "fma", "avx", "sse4_2", "asimd", "sve",
)




def _read_cpuinfo() -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per processor block; [] where it does not exist."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    blocks: list[dict[str, str]] = [{}]
    for line in text.splitlines():
        if not line.strip():
            blocks.append({})
            continue
        key, _, value = line.partition(":")
        blocks[-1][key.strip()] = value.strip()
    return [b for b in blocks if b]


def _cpu_isa(flags: set[str]) -> str:
    """The widest vector ISA, which is what the peak estimate keys on."""
    for isa, flag in (("amx", "amx_tile"), ("avx512", "avx512f"), ("avx2", "avx2"), ("avx", "avx"),
                      ("sse4_2", "sse4_2"), ("sve", "sve"), ("neon", "asimd")):
        if flag in flags:
            return isa
    return "unknown"


def probe_cpu(detailed: bool) -> dict[str, Any]:
    blocks = _read_cpuinfo()
    first = blocks[0] if blocks else {}
    model = first.get("model name") or first.get("Model") or first.get("Hardware") or platform.processor() or None
    # x86 says "flags", ARM "Features".
    flags = set((first.get("flags") or first.get("Features") or "").split())
    threads, cores = _cpu_counts()
    frequency, frequency_source, frequency_is_max = _cpu_frequency(blocks)
    cpu: dict[str, Any] = {
        "model": model,
        "cores": cores,
        "threads": threads,
        "frequency_ghz": frequency,
        "frequency_source": frequency_source,
        "frequency_is_max": frequency_is_max,
        "arch": platform.machine() or None,
        "isa": _cpu_isa(flags),
        "isa_extensions": sorted(f for f in _ISA_FLAGS if f in flags),
    }
    sockets = {b.get("physical id") for b in blocks if "physical id" in b}
    if sockets:
        cpu["sockets"] = len(sockets)
    if detailed:
        cpu["flags"] = sorted(flags)
    return cpu


def _cpu_counts() -> tuple[int, int]:
    """(logical threads, physical cores), falling back to os.cpu_count()."""
    threads = os.cpu_count() or 1
    cores = None
    try:
        import psutil

        threads = psutil.cpu_count(logical=True) or threads
        cores = psutil.cpu_count(logical=False)
    except Exception:  # psutil missing or unable to read this platform
        pass
    return threads, cores or threads


#: (vendor_id, cpu family, model) -> (highest maximum boost clock of any part of that line in GHz, the
#: line and the part with that clock). For machines that hide their own maximum clock (cloud VMs have no
#: cpufreq): the line's highest boost is still an upper bound for the part inside, as a peak must be.
#: AMD: family 1Ah model 02h is Zen 5 "Turin" (EPYC 9005); family 19h model 01h is Zen 3 "Milan" (EPYC 7003),
#: 11h Zen 4 "Genoa" (EPYC 9004); family 17h model
#: 31h Zen 2 "Rome" (EPYC 7002) and "Castle Peak" (Threadripper 3000). Intel family 6: model 85 (55h)
#: Skylake/Cascade Lake SP/W/X, 106 (6Ah) Ice Lake SP/W, 143 (8Fh) Sapphire Rapids SP/W. Sources: the
#: vendors' product pages of the parts named (amd.com/en/products/cpu/amd-epyc-72f3, .../amd-epyc-9174f,
#: .../amd-epyc-9575f,
#: .../amd-ryzen-threadripper-3970x; ark.intel.com: Core i9-10980XE, Xeon W-3375, Xeon w9-3495X).
MAX_BOOST_BY_CPU_MODEL: dict[tuple[str, int, int], tuple[float, str]] = {
    ("AuthenticAMD", 25, 1): (4.1, "AMD Zen 3 EPYC 7003 'Milan' line (EPYC 72F3: 4.1 GHz boost)"),
    ("AuthenticAMD", 25, 17): (4.4, "AMD Zen 4 EPYC 9004 'Genoa' line (EPYC 9174F: 4.4 GHz boost)"),
    ("AuthenticAMD", 26, 2): (5.0, "AMD Zen 5 EPYC 9005 'Turin' line (EPYC 9575F: 5.0 GHz boost)"),
    ("AuthenticAMD", 23, 49): (4.5, ("AMD Zen 2 EPYC 7002 'Rome' / Threadripper 3000 line "
                                     "(Threadripper 3970X: 4.5 GHz boost)")),
    ("GenuineIntel", 6, 85): (4.8, ("Intel Skylake/Cascade Lake SP, W and X line (Core i9-10980XE: 4.8 GHz "
                                    "Turbo Boost Max 3.0)")),
    ("GenuineIntel", 6, 106): (4.0, "Intel Ice Lake SP/W line (Xeon W-3375: 4.0 GHz max turbo)"),
    ("GenuineIntel", 6, 143): (4.8, "Intel Sapphire Rapids SP/W line (Xeon w9-3495X: 4.8 GHz max turbo)"),
}


SYSFS_CPU = Path("/sys/devices/system/cpu")


def _sysfs_max_mhz(root: Path = SYSFS_CPU) -> float | None:
    """The highest ``cpuinfo_max_freq`` (kHz) of any CPU: the part's maximum (boost) clock."""
    values = []
    for path in root.glob("cpu[0-9]*/cpufreq/cpuinfo_max_freq"):
        try:
            values.append(int(path.read_text().strip()) / 1000)
        except (OSError, ValueError):
            continue
    return max(values) if values else None


def _lscpu_max_mhz() -> float | None:
    if shutil.which("lscpu") is None:
        return None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=SMI_TIMEOUT_S, check=False,
                             env={**os.environ, "LC_ALL": "C"}).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "CPU max MHz":
            try:
                return float(value.strip()) or None
            except ValueError:
                return None
    return None


def _current_mhz(blocks: list[dict[str, str]]) -> float | None:
    mhz = 0.0
    try:
        import psutil

        freq = psutil.cpu_freq()
        if freq is not None:
            mhz = freq.max or freq.current or 0.0  # VMs often report max = 0
    except Exception:
        pass
    if not mhz:
        values = []
        for block in blocks:
            try:
                values.append(float(block.get("cpu MHz", "")))
            except ValueError:
                continue
        mhz = max(values, default=0.0)
    return mhz or None


def _cpu_model_key(blocks: list[dict[str, str]]) -> tuple[str, int, int] | None:
    first = blocks[0] if blocks else {}
    try:
        return first.get("vendor_id", ""), int(first.get("cpu family", "")), int(first.get("model", ""))
    except ValueError:
        return None


def _cpu_frequency(blocks: list[dict[str, str]], sysfs: Path = SYSFS_CPU) -> tuple[float | None, str, bool]:
    """The CPU's maximum (boost) clock in GHz, where it came from, and whether one is
    known (what a peak FLOP/s estimate needs: an upper bound): sysfs ``cpuinfo_max_freq``,
    else the highest boost of the CPU's line (:data:`MAX_BOOST_BY_CPU_MODEL`, by vendor,
    family and model), else lscpu's "CPU max MHz". Never the current clock: the part may
    boost above it, and a peak from it is no upper bound (None, and the source says so)."""
    mhz = _sysfs_max_mhz(sysfs)
    if mhz:
        return round(mhz / 1000, 3), "sysfs cpuinfo_max_freq (the maximum boost clock)", True
    key = _cpu_model_key(blocks)
    if key in MAX_BOOST_BY_CPU_MODEL:
        ghz, line = MAX_BOOST_BY_CPU_MODEL[key]
        return ghz, (f"highest boost clock of the {line}; this machine does not state its own maximum "
                     f"(cpu family {key[1]}, model {key[2]})"), True
    mhz = _lscpu_max_mhz()
    if mhz:
        return round(mhz / 1000, 3), "lscpu 'CPU max MHz' (the maximum boost clock)", True
    current = _current_mhz(blocks)
    seen = f" (the current clock, {current / 1000:.3f} GHz, is no upper bound)" if current else ""
    return None, f"unknown: the machine states no maximum clock and its CPU model is not in the table{seen}", False
