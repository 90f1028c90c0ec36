"""Fixtures of the plugin tests (the project itself is in ``benchproject.py``)."""

from __future__ import annotations

import pytest
from benchproject import FAKE_ENGINE, MATRIX, MODELS, PROJECT_CONFTEST


@pytest.fixture
def bench_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(PROJECT_CONFTEST)
    pytester.makepyfile(fake_engine=FAKE_ENGINE)
    (pytester.path / "benchmarks").mkdir()
    (pytester.path / "benchmarks" / "matrix.yaml").write_text(MATRIX)
    (pytester.path / "models.yaml").write_text(MODELS)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    for name in ("FAKE_SLOWDOWN", "FAKE_SEED", "FAKE_JITTER", "FAKE_SLOW_ROUNDS"):
        monkeypatch.delenv(name, raising=False)
    return pytester
