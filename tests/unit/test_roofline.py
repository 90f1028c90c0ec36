"""The roofline: each case's prefill and decode as points under the datasheet and the
calibrated ceilings, the bound each sits under (memory below the ridge, compute above),
in the HTML report (a figure and a table) and the Markdown."""

from __future__ import annotations

import pytest

from openaiperf.metrics import Better
from openaiperf.report.roofline import Ceilings, bound_of, markdown_lines, roofline_points, run_ceilings
from openaiperf.result import CaseResult, CaseSettings, EfficiencyBasis, MetricValue, RunResult


def case(id_: str, **metrics: float) -> CaseResult:
    result = CaseResult.model_validate({"id": id_, "task": "synthetic.random", "scenario": "offline",
                                        "engine": "hf", "model": "tiny-llama", "hardware": "cpu",
                                        "status": "passed"})
    result.metrics = {k: MetricValue(value=v, unit="", better=Better.NONE) for k, v in metrics.items()}
    result.settings = CaseSettings(efficiency=EfficiencyBasis(
        compute_dtype="fp32", activation_dtype="fp32", weight_bytes_per_parameter=4, kv_bytes_per_value=4,
        devices=1, peak_flops=1e12, bandwidth_bytes_per_s=100e9))  # ridge: 10 FLOP/byte
    return result


def calibration() -> CaseResult:
    result = CaseResult.model_validate({"id": "calibration-cpu", "task": "calibration", "scenario": "-",
                                        "engine": "torch", "model": "-", "hardware": "cpu", "status": "passed"})
    result.calibration = {"dtype": "float32", "gemm_tflops": 0.5, "copy_gbs": 20.0}  # ridge: 25 FLOP/byte
    return result


def cases() -> list[CaseResult]:
    return [case("a", prefill_intensity=200.0, prefill_tflops=0.3, decode_intensity=1.5, decode_tflops=0.01),
            case("b", mfu=0.1), calibration()]


def test_points_and_ceilings_come_from_the_metrics_and_the_calibration():
    numbered = list(enumerate(cases(), start=1))
    points = roofline_points(numbered)
    assert [(p.number, p.phase, p.intensity, p.flops) for p in points] == [
        (1, "prefill", 200.0, pytest.approx(0.3e12)), (1, "decode", 1.5, pytest.approx(0.01e12))]
    datasheet, calibrated = run_ceilings(cases())
    assert (datasheet.ridge, calibrated.ridge) == (pytest.approx(10.0), pytest.approx(25.0))


def test_a_point_below_the_ridge_is_memory_bound_above_it_compute_bound():
    ceilings = Ceilings("calibrated", 1e12, 100e9)
    assert ceilings.bound(5.0) == "memory" and ceilings.bound(50.0) == "compute"
    assert ceilings.attainable(5.0) == pytest.approx(500e9) and ceilings.attainable(50.0) == pytest.approx(1e12)
    prefill, decode = roofline_points(list(enumerate(cases(), start=1)))
    bound, used = bound_of(decode, run_ceilings(cases()))
    assert bound == "memory" and used is not None and used.label.startswith("calibrated")
    assert bound_of(prefill, [Ceilings("datasheet", 1e12, None)]) == ("unknown", None)


def test_the_markdown_says_which_bound_each_phase_sits_under():
    text = "\n".join(markdown_lines(list(enumerate(cases(), start=1))))
    assert "### Roofline" in text
    assert "| `a` | prefill | 200 | 0.3 | compute (calibrated) | 60.0% |" in text
    assert "| `a` | decode | 1.5 | 0.01 | memory (calibrated) | 33.3% |" in text
    assert "`b`" not in text


def test_the_html_report_draws_the_roofline(tmp_path):
    from openaiperf.report.html import render_html

    page = render_html(tmp_path, run=RunResult(cases=cases()))
    assert 'id="roofline"' in page and 'alt="Roofline, prefill and decode of each case" src="data:image/png' in page
    assert "memory, calibrated ceilings" in page and "calibrated (float32 GEMM, memory copy)" in page
