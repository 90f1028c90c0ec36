"""AMD and Hygon (DCU) accelerators through amdsmi, else rocm-smi."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openaiperf.hardware.probe.common import GIB, SMI_TIMEOUT_S


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


def probe_amd(detailed: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
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
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=SMI_TIMEOUT_S, check=False)
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
            "memory_gb": round(int(total) / GIB, 2) if total else None,
            "driver": None,
        })
    return devices
