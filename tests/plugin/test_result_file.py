"""The results.json a real plugin run writes (fake engine) validates against the
published JSON Schema, and reads back as the typed result with the same numbers."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from benchproject import bench_args

from openaiperf.report.results import read_results

pytest_plugins = ["pytester"]

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "result-schema.json"


def test_a_run_with_a_baseline_verdict_matches_the_published_schema(bench_project: pytest.Pytester) -> None:
    bench_project.runpytest(*bench_args("--repeats", "3", "--baseline-save", "-k", "offline")).assert_outcomes(
        passed=1, deselected=1)
    bench_project.runpytest(*bench_args("--repeats", "3", "--baseline-compare")).assert_outcomes(passed=2)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    runs = sorted(p for p in (bench_project.path / "reports").iterdir() if p.is_dir())
    for run_dir in runs:
        document = json.loads((run_dir / "results.json").read_text())
        jsonschema.validate(document, schema)
        run = read_results(run_dir / "results.json")
        assert run.schema_version == document["schema_version"] == 2
        for case, raw in zip(run.cases, document["cases"], strict=True):
            assert {name: m.value for name, m in case.metrics.items()} == {
                name: m["value"] for name, m in raw["metrics"].items()}
            assert case.valid is raw["valid"] and case.rounds == raw["rounds"]
    compared = read_results(runs[-1] / "results.json").cases
    assert [c.baseline.label if c.baseline else "" for c in compared][0] in ("no regression", "inconclusive")
    assert all(c.fingerprint is not None and c.settings.efficiency is not None for c in compared)
    assert compared[0].resources.rounds == 3 and compared[0].quality is not None
