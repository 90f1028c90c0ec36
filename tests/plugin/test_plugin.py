"""The pytest plugin, through pytester: collection, selection, skips, bad input,
a failing engine, and the reports. Cases run on the scripted test engine
(fixtures/engines.py, copied into the project and registered by its conftest) with a
tiny registered model, so no weights are loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CONFTEST = """
from scripted_engine import ScriptedEngine

from openaiperf.engines import engines

engines.register("scripted", ScriptedEngine)
"""

MATRIX = """
suites:
  - tasks: [summarization.xsum]
    scenarios: [offline, single_stream]
    engines: [scripted]
    models: [tiny, llama3-70b]
    engine_options:
      scripted: {tokens: 3, token_s: 0.0005}
"""

@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(scripted_engine=(REPO / "fixtures" / "engines.py").read_text())
    weights = pytester.mkdir("tiny-weights")
    pytester.makefile(".yaml", models=f"tiny:\n  source: {weights}\n  parameters: 1000000\n  dtype: float32\n")
    bench = pytester.mkdir("benchmarks")
    (bench / "matrix.yaml").write_text(MATRIX)
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest("benchmarks", "--hw", "cpu", "--model-file", "models.yaml", "--max-samples", "3",
                           "--report-dir", "out", "-p", "no:cacheprovider", *args)


def run_dir(suite: pytest.Pytester) -> Path:
    (path,) = (suite.path / "out").iterdir()
    return path


def test_collects_the_matrix_with_readable_ids_and_skip_reasons(suite):
    result = run(suite, "--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "*test_llm[[]summarization.xsum-offline-scripted-tiny[]]",
        "*test_llm[[]summarization.xsum-single_stream-scripted-llama3-70b[]]",
    ])
    result = run(suite, "-rs", "-k", "llama3")
    result.stdout.fnmatch_lines(
        ["*SKIPPED*llama3-70b has 70.6B parameters; the 'cpu' hardware profile runs models up to 3B*"]
    )
    result.assert_outcomes(skipped=2)


def test_options_narrow_the_matrix(suite):
    result = run(suite, "--scenario", "offline", "--model", "tiny")
    result.assert_outcomes(passed=1, deselected=3)


def test_unknown_hardware_profile_fails_at_startup_listing_known(suite):
    result = run(suite, "--hw", "tpu9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--hw: unknown hardware profile 'tpu9'; known hardware profiles: *cpu*h100*"])


def test_unknown_option_value_is_refused(suite):
    result = run(suite, "--model", "gpt5")
    result.stderr.fnmatch_lines(["*--model: unknown model 'gpt5'; known: *tiny*"])


def test_malformed_matrix_names_the_file(suite):
    (suite.path / "benchmarks" / "matrix.yaml").write_text("suites:\n  - tasks: [summarization.xsum\n")
    result = run(suite)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*matrix.yaml: malformed YAML at line 3*"])


def test_reports_agree_with_each_other(suite):
    result = run(suite, "-k", "tiny", "--benchmark-json", "bench.json")
    result.assert_outcomes(passed=2, deselected=2)
    result.stdout.fnmatch_lines(["*OpenAIPerf*", "*summarization.xsum-offline-scripted-tiny*passed*"])
    document = json.loads((run_dir(suite) / "results.json").read_text())
    assert document["schema_version"] == 2
    assert document["system"]["hardware"]["cpu"]["cores"] >= 1
    cases = {c["id"]: c for c in document["cases"]}
    offline = cases["summarization.xsum-offline-scripted-tiny"]
    lines = (run_dir(suite) / offline["records_file"]).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 3 and offline["metrics"]["requests"]["value"] == 3
    assert sum(r["output_tokens"] for r in records) == offline["metrics"]["output_tokens"]["value"] == 9
    assert offline["metrics"]["ttft_p50"]["unit"] == "ms"
    assert offline["quality"]["details"]["license"].startswith("Apache-2.0")
    bench = json.loads((suite.path / "bench.json").read_text())
    extra = (
        {b["params"]["bench_case"]: b["extra_info"] for b in bench["benchmarks"]}
        if all("params" in b and b["params"] for b in bench["benchmarks"])
        else {b["name"]: b["extra_info"] for b in bench["benchmarks"]}
    )
    assert any(info.get("output_tokens") == 9 and info["units"]["ttft_p50"] == "ms" for info in extra.values())


def test_repeats_are_benchmark_rounds(suite):
    result = run(suite, "-k", "offline and tiny", "--repeats", "3", "--benchmark-json", "bench.json")
    result.assert_outcomes(passed=1, deselected=3)
    bench = json.loads((suite.path / "bench.json").read_text())
    assert bench["benchmarks"][0]["stats"]["rounds"] == 3
    case = json.loads((run_dir(suite) / "results.json").read_text())["cases"][0]
    assert len(case["rounds"]) == 3 and case["metrics"]["requests"]["value"] == 9


def test_engine_failing_mid_case_keeps_records_and_the_session_goes_on(suite):
    (suite.path / "benchmarks" / "matrix.yaml").write_text(
        MATRIX.replace("models: [tiny, llama3-70b]", "models: [tiny]")
        .replace("token_s: 0.0005}", "token_s: 0.0005, fail_after: 2}")
        .replace("scenarios: [offline, single_stream]", "scenarios: [single_stream]")
        + """
  - tasks: [summarization.xsum]
    scenarios: [offline]
    engines: [scripted]
    models: [tiny]
"""
    )
    result = run(suite, "--warmup-samples", "0")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: scripted failure after 2 requests*"])
    cases = {c["id"]: c for c in json.loads((run_dir(suite) / "results.json").read_text())["cases"]}
    failed = cases["summarization.xsum-single_stream-scripted-tiny"]
    assert failed["status"] == "error" and "scripted failure" in failed["error"]
    kept = (run_dir(suite) / failed["records_file"]).read_text().splitlines()
    assert len(kept) == 2
    assert cases["summarization.xsum-offline-scripted-tiny"]["status"] == "passed"


def test_preset_quality_runs_every_xsum_sample(suite):
    """The quality preset's sample count applies where the command line gives none."""
    result = suite.runpytest("benchmarks", "--hw", "cpu", "--model-file", "models.yaml", "--preset", "quality",
                             "--engine", "scripted", "--model", "tiny", "--scenario", "offline", "--warmup-samples",
                             "0", "--report-dir", "out", "--no-history", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    document = json.loads((run_dir(suite) / "results.json").read_text())
    assert document["config"]["options"]["max_samples"] == 48
    (case,) = document["cases"]
    assert case["id"] == "summarization.xsum-offline-scripted-tiny"
    assert case["settings"]["samples"] == 48
