"""Probe the machine: CPU, accelerators, memory and software, in the ``system.json`` shape.

Everything is best effort: a missing library, tool or file, or a failing call,
leaves its part empty or null; :func:`probe_system` never raises. torch is not
imported (it takes seconds and may grab a GPU); versions come from package metadata.

One module per part: :mod:`.cpu`, :mod:`.memory`, :mod:`.packages`,
:mod:`.accelerators` (:mod:`.nvidia`, :mod:`.amd`); :func:`match_profile` picks the
hardware profile of a probed machine.
"""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Sequence
from pathlib import Path

from openaiperf.errors import ConfigError
from openaiperf.hardware import list_profiles, load_profile
from openaiperf.hardware.probe.accelerators import probe_accelerators
from openaiperf.hardware.probe.cpu import probe_cpu
from openaiperf.hardware.probe.memory import probe_memory
from openaiperf.hardware.probe.packages import package_versions
from openaiperf.result import SystemInfo

__all__ = ["match_profile", "probe_system"]


def probe_system(detailed: bool = False) -> SystemInfo:
    """Describe this machine; ``detailed`` adds CPU flags and per-GPU entries."""
    accelerators, gpu_software = probe_accelerators(detailed)
    return SystemInfo.model_validate({
        "hardware": {
            "cpu": probe_cpu(detailed),
            "accelerators": accelerators,
            "memory": probe_memory(),
        },
        "software": {
            "os": platform.platform(),
            "python": platform.python_version(),
            "driver": gpu_software.get("driver"),
            "compute_backend": gpu_software.get("compute_backend") or {"type": "cpu", "version": None},
            "packages": package_versions(),
        },
        "probed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })




# --- profile matching -----------------------------------------------------------------


def match_profile(system: SystemInfo, dirs: Sequence[str | Path] | None = None) -> str:
    """The profile for a probed system: the first whose ``match`` fits an accelerator name.

    "cpu" when there is no accelerator; ConfigError when there is one that no
    profile knows (guessing would make every MFU figure wrong).
    """
    accelerators = system.hardware.accelerators
    if not accelerators:
        return "cpu"
    names = list_profiles(dirs)
    profiles = [load_profile(name, dirs) for name in names]
    for acc in accelerators:
        for profile in profiles:
            if profile.matches(acc.name or ""):
                return profile.name
    gpu = accelerators[0].name or "?"
    raise ConfigError(
        f"no hardware profile matches GPU '{gpu}'; known: {', '.join(names)} "
        "(add hardware_profiles/<name>.yaml with a matching 'match' regex, or pass --hw <name>)",
        source="--hw auto",
    )
