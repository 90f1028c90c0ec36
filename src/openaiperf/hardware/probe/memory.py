"""The machine's memory."""

from __future__ import annotations

import os
from typing import Any

from openaiperf.hardware.probe.common import GIB


def probe_memory() -> dict[str, Any]:
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
        "total_gb": round(total / GIB, 2) if total else None,
        "total_bytes": total,
        "type": None,
    }
