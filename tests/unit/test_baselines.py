"""The baseline store, the comparison statistics and the report helpers (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from openaiperf.baselines import Baseline, BaselineError
from openaiperf.baselines.compare import compare_case, compare_metric
from openaiperf.baselines.gate import GateSettings, gate, parse_tolerances, resolve_tolerances
from openaiperf.baselines.json_store import JsonBaselineStore, read_baseline
from openaiperf.errors import ConfigError


def make(values: list[float], metric: str = "tpot_p50", better: str = "lower", hw: str = "cpu",
         requests: list[float] | None = None) -> Baseline:
    return Baseline(case_id="c", hardware=hw,
                    metrics={metric: {"value": float(np.mean(values)), "unit": "ms", "better": better}},
                    rounds=[{metric: v} for v in values], requests={"tpot": requests or []})


def test_significant_slowdown_beyond_tolerance_is_a_regression() -> None:
    result = compare_metric("tpot_p50", make([10.0, 10.2, 9.9]), make([11.6, 11.8, 11.5]), 0.10)
    assert result.verdict == "regression"
    assert result.ci_low > 1.0 and result.ratio == pytest.approx(11.633 / 10.033, rel=1e-3)
    assert "baseline 10.03 ms, current 11.63 ms, ratio 1.159" in result.message()
    assert "tolerance +10%" in result.message()


def test_noisy_change_is_not_significant() -> None:
    result = compare_metric("tpot_p50", make([10.0, 14.0, 8.0]), make([13.0, 9.0, 15.0]), 0.10)
    assert result.ratio > 1.10 and result.verdict == "not significant"


def test_small_significant_change_is_within_tolerance() -> None:
    result = compare_metric("tpot_p50", make([10.0, 10.01, 10.02]), make([10.5, 10.51, 10.52]), 0.10)
    assert result.verdict == "within tolerance"


def test_higher_is_better_drop_is_a_regression_and_rise_an_improvement() -> None:
    base = make([100.0, 101.0, 99.0], "output_tokens_per_s", "higher")
    assert compare_metric("output_tokens_per_s", base, make([80.0, 81.0, 79.0], "output_tokens_per_s", "higher"),
                          0.1).verdict == "regression"
    assert compare_metric("output_tokens_per_s", base, make([130.0, 131.0, 129.0], "output_tokens_per_s", "higher"),
                          0.1).verdict == "improvement"


def test_single_round_falls_back_to_rank_test_over_requests() -> None:
    rng = np.random.default_rng(0)
    base = make([10.0], requests=list(rng.normal(10, 0.3, 40)))
    slow = make([12.0], requests=list(rng.normal(12, 0.3, 40)))
    result = compare_metric("tpot_p50", base, slow, 0.10)
    assert result.method.startswith("Mann-Whitney U over 40/40 requests")
    assert result.p_value < 0.001 and result.verdict == "regression"
    untested = compare_metric("output_tokens_per_s", make([100.0], "output_tokens_per_s", "higher"),
                              make([50.0], "output_tokens_per_s", "higher"), 0.1)
    assert untested.verdict == "untested"


def test_compare_case_sorts_regressions_first() -> None:
    base = Baseline("c", "cpu", metrics={"tpot_p50": {"value": 10, "unit": "ms", "better": "lower"},
                                         "ttft_p50": {"value": 10, "unit": "ms", "better": "lower"}},
                    rounds=[{"tpot_p50": 10 + d, "ttft_p50": 10 + d} for d in (0, 0.1, -0.1)])
    cur = Baseline("c", "cpu", metrics={"tpot_p50": {"value": 10, "unit": "ms", "better": "lower"},
                                        "ttft_p50": {"value": 13, "unit": "ms", "better": "lower"}},
                   rounds=[{"tpot_p50": 10 + d, "ttft_p50": 13 + d} for d in (0, 0.1, -0.1)])
    result = compare_case(base, cur, {"tpot_p50": 0.1, "ttft_p50": 0.1})
    assert [m.metric for m in result.metrics] == ["ttft_p50", "tpot_p50"]
    assert [m.metric for m in result.regressions] == ["ttft_p50"]


def test_store_round_trip_and_bad_files(tmp_path: Path) -> None:
    store = JsonBaselineStore(tmp_path)
    path = store.save(make([1.0, 2.0, 3.0]))
    assert path == tmp_path / "cpu" / "c.json"
    assert store.load("cpu", "c").rounds[2] == {"tpot_p50": 3.0}
    assert store.load("cpu", "missing") is None
    document = json.loads(path.read_text())
    document["schema_version"] = 99
    path.write_text(json.dumps(document))
    with pytest.raises(BaselineError, match=r"c\.json: field 'schema_version' is 99"):
        read_baseline(path)
    document["schema_version"] = 1
    document["rounds"] = "many"
    path.write_text(json.dumps(document))
    with pytest.raises(BaselineError, match="field 'rounds' must be a list"):
        read_baseline(path)
    del document["metrics"]
    document["rounds"] = []
    path.write_text(json.dumps(document))
    with pytest.raises(BaselineError, match="missing field 'metrics'"):
        read_baseline(path)


def test_gate_hardware_refusal_missing_and_required(tmp_path: Path) -> None:
    JsonBaselineStore(tmp_path).save(make([1.0, 1.0, 1.0], hw="h100"))
    current = make([1.0, 1.0, 1.0], hw="cpu")
    outcome = gate(current, GateSettings(compare_root=tmp_path / "h100"))
    assert "measured on hardware profile 'h100', this run on 'cpu'" in outcome.failures[0]
    assert not gate(current, GateSettings(compare_root=tmp_path / "h100", force=True)).failures
    missing = gate(current, GateSettings(compare_root=tmp_path))
    assert not missing.failures and "no baseline for c on cpu" in missing.notes[0]
    assert gate(current, GateSettings(compare_root=tmp_path, required=True)).failures


def test_tolerances_defaults_task_file_and_command_line() -> None:
    from openaiperf.tasks import load_task_specs

    spec = load_task_specs()["summarization.xsum"]
    spec = spec.model_copy(update={"metrics": spec.metrics.model_copy(update={"performance": [
        spec.metrics.performance[0].model_copy(update={"tolerance": 0.2})]})})
    tolerances = resolve_tolerances(spec, parse_tolerances(["ttft_p90=0.05"]))
    assert tolerances["output_tokens_per_s"] == 0.2 and tolerances["ttft_p90"] == 0.05
    assert tolerances["tpot_p50"] == 0.10
    with pytest.raises(ConfigError, match="--tolerance.*METRIC=FRACTION.*'ttft=abc'"):
        parse_tolerances(["ttft=abc"])


def test_throughput_vs_latency_needs_server_runs_at_several_qps() -> None:
    from openaiperf.report.figures import throughput_vs_latency

    def case(qps: float, rps: float, ttft: float, scenario: str = "server") -> dict:
        return {"task": "t", "engine": "vllm", "model": "m", "scenario": scenario, "scenario_options": {"qps": qps},
                "metrics": {"requests_per_s": {"value": rps}, "ttft_p90": {"value": ttft}}}

    assert throughput_vs_latency([case(1, 1, 50, "offline")]) is None
    figure = throughput_vs_latency([case(1, 1, 50), case(4, 3.9, 80), case(8, 6.0, 400)])
    assert figure is not None and len(figure.axes[0].lines[0].get_xdata()) == 3


def test_markdown_puts_regressions_first() -> None:
    from openaiperf.report.markdown import markdown_summary

    def m(metric: str, verdict: str, ratio: float) -> dict:
        return {"metric": metric, "verdict": verdict, "ratio": ratio, "baseline": 1.0, "current": ratio, "unit": "ms",
                "better": "lower", "tolerance": 0.1, "ci_low": ratio - 0.01, "ci_high": ratio + 0.01}

    document = {"config": {"hardware_profile": {"name": "cpu"}}, "cases": [
        {"id": "a", "status": "passed", "metrics": {},
         "baseline": {"comparison": {"metrics": [m("ttft_p50", "within tolerance", 1.01)]}}},
        {"id": "b", "status": "failed", "metrics": {}, "failures": ["performance regression: tpot_p50 ..."],
         "baseline": {"comparison": {"metrics": [m("tpot_p50", "regression", 1.3)]}}}]}
    text = markdown_summary(document)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line and "ms" in line]
    assert "tpot_p50" in rows[0] and "+30.0%" in rows[0] and "regression" in rows[0]
    assert "1 significant regression(s)" in text
