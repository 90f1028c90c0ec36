"""Calibration: what this machine reaches (GEMM TFLOP/s, memory copy GB/s) as a
fraction of the selected hardware profile's datasheet figures.

Runs with the suite (``pytest benchmarks --hw h100``), or alone:
``pytest benchmarks/test_hardware.py --hw auto``. The numbers go into the run's
results.json (a result with task ``calibration``), ``calibration.json`` in the run
folder, and the terminal.
"""

from __future__ import annotations

import json

import pytest

from openaiperf.hardware.calibration import calibrate, describe
from openaiperf.result import CaseResult, MetricValue

# A suite item: deselected when --task/--engine/--scenario/--model/--matrix narrow the run.
pytestmark = pytest.mark.ob_case


def test_calibration(bench_session, capsys):
    hardware = bench_session.hardware
    if hardware.device == "cuda":
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip(f"the {hardware.name!r} profile is a GPU but torch sees no CUDA device here")
    result = calibrate(hardware, bench_session.system)
    run_dir = bench_session.ensure_run_dir()
    (run_dir / "calibration.json").write_text(json.dumps({"hardware": hardware.name, **result}, indent=2) + "\n")

    def metric(value, unit):
        return MetricValue(value=value, unit=unit, better="higher")

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
