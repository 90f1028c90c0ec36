from __future__ import annotations

import pytest

from openaiperf.errors import ConfigError
from openaiperf.matrix import Case
from openaiperf.result import CaseResult, MetricValue
from openaiperf.sweeps import (
    apply_task_options,
    expand_cases,
    load_presets,
    parse_sweep,
    preset_axes,
    preset_options,
    sweep_axes,
)
from openaiperf.sweeps.report import qps_curve, write_sweep_reports
from openaiperf.tasks import load_task_specs

OFFLINE = Case("summarization.xsum", "offline", "hf", "smollm2-135m", engine_options={"batch_size": 16})
SERVER = Case("summarization.xsum", "server", "openai", "smollm2-135m", scenario_options={"min_queries": 8})


def test_sweep_expands_with_readable_ids():
    cases = expand_cases([OFFLINE], parse_sweep("batch_size:1,2,4;max_tokens:50,100"))
    assert [c.id for c in cases][:2] == [
        "summarization.xsum-offline-hf-smollm2-135m[batch_size=1,max_tokens=50]",
        "summarization.xsum-offline-hf-smollm2-135m[batch_size=1,max_tokens=100]",
    ]
    assert len(cases) == 6 and len({c.id for c in cases}) == 6
    case = cases[3]
    assert case.engine_options == {"batch_size": 2} and case.task_options == {"max_new_tokens": 100}
    assert case.base_id == OFFLINE.id and case.to_json()["variant"] == "batch_size=2,max_tokens=100"
    assert OFFLINE.engine_options == {"batch_size": 16}  # the original is not modified


def test_qps_sweep_sets_scenario_option_of_server_cases_only():
    cases = expand_cases([OFFLINE, SERVER], parse_sweep("qps_target:1,2.5,4"))
    assert cases[0] is OFFLINE
    servers = cases[1:]
    assert [c.scenario_options for c in servers] == [
        {"min_queries": 8, "qps_target": 1}, {"min_queries": 8, "qps_target": 2.5}, {"min_queries": 8, "qps_target": 4}]
    assert servers[1].id.endswith("[qps_target=2.5]")


def test_explicit_prefixes_and_value_types():
    axes = parse_sweep("scenario.min_duration_s:0.5;engine.attn_implementation:eager,sdpa;task.temperature:0,0.7")
    assert [(a.target, a.option) for a in axes] == [("scenario", "min_duration_s"), ("engine", "attn_implementation"),
                                                     ("task", "temperature")]
    assert axes[0].values == (0.5,) and axes[1].values == ("eager", "sdpa") and axes[2].values == (0, 0.7)


@pytest.mark.parametrize("text,match", [
    ("batch_size=1,2", "KEY:V1,V2"),
    ("batch_size:", "no values"),
    ("batch_size:1;batch_size:2", "given twice"),
    ("gpu.x:1", "prefix 'gpu'"),
    ("task.colour:1", "input profile has no 'colour'"),
])
def test_bad_sweep_is_rejected_with_the_reason(text, match):
    with pytest.raises(ConfigError, match=match) as info:
        parse_sweep(text)
    assert "--sweep" in str(info.value)


def test_presets_file_defines_the_three_seed_presets_and_a_qps_curve():
    presets = load_presets()
    assert {"quick", "comprehensive", "scaling", "qps-curve"} <= set(presets)
    quick = preset_axes("quick")
    assert [(a.key, a.values) for a in quick] == [("batch_size", (1, 2)), ("max_tokens", (50, 100))]
    assert len(expand_cases([OFFLINE], quick)) == 4


def test_sweep_replaces_the_presets_axis_of_the_same_key():
    axes = sweep_axes("batch_size:8", "quick")
    assert [(a.key, a.values) for a in axes] == [("max_tokens", (50, 100)), ("batch_size", (8,))]


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'fast'.*quick"):
        preset_axes("fast")


def test_task_options_override_the_input_profile():
    spec = load_task_specs()["summarization.xsum"]
    changed = apply_task_options(spec, {"max_new_tokens": 50, "temperature": 0.7})
    assert changed.input_profile.max_new_tokens == 50 and changed.input_profile.temperature == 0.7
    assert spec.input_profile.max_new_tokens == 64
    with pytest.raises(ConfigError, match="max_new_tokens"):
        apply_task_options(spec, {"max_new_tokens": -1})


def _result(case: Case, rps: float, e2e: float) -> CaseResult:
    return CaseResult.for_case(case, "cpu", metrics={
        "requests_per_s": MetricValue(value=rps, unit="requests/s", better="higher"),
        "e2e_p90": MetricValue(value=e2e, unit="ms", better="lower"),
        "output_tokens_per_s": MetricValue(value=rps * 40, unit="tokens/s", better="higher")})


def test_qps_curve_and_reports(tmp_path):
    cases = expand_cases([SERVER], parse_sweep("qps_target:4,1,2"))
    results = [_result(c, rps=min(c.scenario_options["qps_target"], 2.2), e2e=100 * c.scenario_options["qps_target"])
               for c in cases]
    points = qps_curve(results)
    assert [p["qps_target"] for p in points] == [1, 2, 4]
    assert [p["requests_per_s"] for p in points] == [1, 2, 2.2]
    written = write_sweep_reports(results, tmp_path)
    names = sorted(p.name for p in written)
    assert names == [f"{SERVER.id}.csv", f"{SERVER.id}.qps_curve.csv", f"{SERVER.id}.qps_curve.png"]
    assert all(p.stat().st_size > 0 for p in written)


def test_quality_preset_gives_the_full_xsum_run_as_options():
    assert preset_options("quality") == {"task": "summarization.xsum", "engine": "hf",
                                         "scenario": "offline,single_stream", "max_samples": 48}
    assert preset_axes("quality") == []


def test_preset_options_are_checked_naming_the_file_and_field(tmp_path):
    path = tmp_path / "presets.yaml"
    path.write_text("bad:\n  options:\n    max-sample: 4\nlow:\n  options:\n    max-samples: 0\n"
                    "scalar: 3\nsuites:\n  description: only the matrix suites that name it\n")
    with pytest.raises(ConfigError, match=r"\[bad\].*options.max-sample.*unknown option 'max-sample'"):
        preset_options("bad", path)
    with pytest.raises(ConfigError, match="--max-samples.*expected an integer >= 1, got 0"):
        preset_options("low", path)
    with pytest.raises(ConfigError, match=r"\[scalar\].*'sweep'.*'options'"):
        preset_options("scalar", path)
    # neither sweep nor options: it adds the matrix suites that name it (checked at collection)
    assert preset_options("suites", path) == {} and preset_axes("suites", path) == []
