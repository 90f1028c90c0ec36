"""The benchmark cases: one per task × scenario × engine × model of ``matrix.yaml``."""

from __future__ import annotations


def test_llm(bench_case, case_runner, benchmark):
    result = case_runner.run(benchmark)
    assert result.status == "passed", "\n".join(result.failures)
