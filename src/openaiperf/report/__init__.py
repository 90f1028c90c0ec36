"""Reports: what a run leaves behind in ``reports/<run-id>/``.

- ``results.json``: schema-versioned; the system probe, the run's config, one
  case result per case (:mod:`openaiperf.report.results`);
- ``records/<case-id>.jsonl``: every request of every case, written as it completes;
- a console table at the end of the session (:mod:`openaiperf.report.console`).
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path


def new_run_id(hardware: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9_.-]', '_', hardware)}"


def make_run_dir(base: Path, hardware: str) -> Path:
    run_id = new_run_id(hardware)
    path = base / run_id
    suffix = 1
    while path.exists():
        suffix += 1
        path = base / f"{run_id}-{suffix}"
    path.mkdir(parents=True)
    return path
