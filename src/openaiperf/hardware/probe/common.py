"""What the probe's parts share: units, the time a tool may take, text from a C library."""

from __future__ import annotations

from typing import Any

GIB = 2**30
#: how long an external tool (nvidia-smi, rocm-smi, lscpu) may take
SMI_TIMEOUT_S = 5


def c_text(value: Any) -> str:
    """nvml returns bytes in old versions, str in new ones."""
    return value.decode() if isinstance(value, bytes) else str(value)
