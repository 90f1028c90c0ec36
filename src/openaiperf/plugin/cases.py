"""The benchmark tests the plugin ships; a matrix file is collected as this module.

``test_llm`` runs once per case of the matrix (parametrized by the collector
with ``bench_case``); ``test_calibration`` measures the machine when the matrix
says ``calibration: true`` (it runs with the whole suite only: ``--task``,
``--scenario``, ``--engine``, ``--model`` or ``--matrix`` deselect it; ``-k
calibration`` runs it alone).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from openaiperf.hardware.calibration import calibrate, describe
from openaiperf.metrics import Better
from openaiperf.result import CaseResult, MetricValue

# A suite item: deselected when --task/--engine/--scenario/--model/--matrix narrow the run.
pytestmark = pytest.mark.ob_case


def test_llm(bench_case: Any, case_runner: Any, benchmark: Any) -> None:
    result = case_runner.run(benchmark)
    if result.status != "passed":
        pytest.fail("\n".join(result.failures) or str(result.error), pytrace=False)


def test_calibration(bench_session: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """What this machine reaches (GEMM TFLOP/s, memory copy GB/s) as a fraction of the
    selected hardware profile's datasheet figures: into results.json (a result with
    task ``calibration``), ``calibration.json`` in the run folder, and the terminal."""
    hardware = bench_session.hardware
    if hardware.device == "cuda":
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip(f"the {hardware.name!r} profile is a GPU but torch sees no CUDA device here")
    result = calibrate(hardware, bench_session.system)
    run_dir = bench_session.ensure_run_dir()
    (run_dir / "calibration.json").write_text(json.dumps({"hardware": hardware.name, **result}, indent=2) + "\n")

    def metric(value: float, unit: str) -> MetricValue:
        return MetricValue(value=value, unit=unit, better=Better.HIGHER)

    bench_session.add_result(CaseResult(
        id=f"calibration-{hardware.name}", task="calibration", scenario="-", engine="torch", model="-",
        hardware=hardware.name, status="passed",
        metrics={
            "gemm_tflops": metric(result["gemm_tflops"], "TFLOP/s"),
            "gemm_fraction": metric(result["gemm_fraction"], "fraction"),
            "copy_bandwidth": metric(result["copy_gbs"], "GB/s"),
            "copy_fraction": metric(result["copy_fraction"], "fraction"),
        },
        calibration=result,
    ))
    with capsys.disabled():
        print("\n" + describe(result, hardware.name))
    assert result["gemm_tflops"] > 0 and result["copy_gbs"] > 0
