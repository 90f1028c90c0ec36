"""Dataset checks before any model loads, for the tasks of the selected cases:
files exist and match their sha256, and hold at least --max-samples rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from openaiperf.errors import OpenAIPerfError
from openaiperf.plugin.collection import case_of
from openaiperf.plugin.session import get_session
from openaiperf.tasks.datasets import preflight


def pytest_collection_finish(session: pytest.Session) -> None:
    bench_session = get_session(session.config)
    names = sorted({case.task for item in session.items if (case := case_of(item)) is not None})
    for name in names:
        spec = bench_session.tasks[name]
        try:
            preflight(spec, max_samples=bench_session.run.max_samples,
                      source_override=bench_session.run.dataset_source,
                      base_dir=spec.source_dir or Path(session.config.rootpath))
        except OpenAIPerfError as exc:
            raise pytest.UsageError(f"task {name}: {exc}") from None
