"""Real benchmark cases, run as a user runs them (``pytest benchmarks --endpoint
URL`` in a folder holding only a matrix and a models file: the installed plugin
alone), through the ``openai`` engine against the scripted server: every
scenario, both APIs (a chat model's messages go to /v1/chat/completions, a plain
model's prompts to /v1/completions). The results' TTFT, TPOT, per-token ITL,
chunk ITL, E2E, token counts and errors must recover the script (tolerances in
``truth.py``), and the records file must hold the final token counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.suites import run_suite
from openaiperf.testing.scripted_server import Script
from tests.conformance.truth import close_gap, close_start, median_s

#: model prefix -> (script, engine options, expected token source)
SCRIPTS = {
    # two tokens per chunk, usage only at the end: per-token ITL from the client tokenizer after the round
    "chunked": ({"tokens": 12, "ttft_ms": 30.0, "gap_ms": 8.0, "chunk_tokens": 2}, {}, "tokenizer"),
    # three tokens per chunk, usage on every chunk (vLLM's continuous_usage_stats): no tokenizer needed
    "continuous": ({"tokens": 12, "ttft_ms": 30.0, "gap_ms": 8.0, "chunk_tokens": 3, "usage": "continuous"},
                   {"continuous_usage": True, "client_tokenizer": False}, "usage"),
}
SCENARIOS = {"chunked": ["offline", "single_stream", "multi_stream", "server", "interactive"],
             "continuous": ["offline", "server"]}


def matrix() -> str:
    suites = []
    for name, (script, options, _) in SCRIPTS.items():
        engine_options = {"openai": {**options, "extra_body": {"script": script}}}
        suites.append({
            "name": name, "tasks": ["summarization.xsum"], "scenarios": SCENARIOS[name], "engines": ["openai"],
            "models": [f"{name}-chat", f"{name}-text"], "engine_options": engine_options,
            "scenario_options": {"multi_stream": {"stream_count": 2, "warmup_requests": 2},
                                 "server": {"qps_target": 10, "warmup_requests": 2},
                                 "interactive": {"qps_target": 10, "warmup_requests": 2}},
        })
    return json.dumps({"suites": suites})  # JSON is YAML


@pytest.fixture(scope="module")
def run_dir(scripted_server, word_tokenizer, tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("conformance-project")
    (project / "benchmarks").mkdir()
    (project / "benchmarks" / "matrix.yaml").write_text(matrix())
    models = "".join(f"{name}-{kind}:\n  source: {word_tokenizer}\n  parameters: 1000000\n  dtype: float32\n"
                     f"  chat: {str(kind == 'chat').lower()}\n" for name in SCRIPTS for kind in ("chat", "text"))
    (project / "models.yaml").write_text(models)
    suite = run_suite(project, "--max-samples", "4", "--warmup-samples", "1", "--no-monitor",
                      endpoint=scripted_server.url, timeout=600)
    assert suite.proc.returncode == 0 and suite.run_dir is not None, suite.output
    return suite.run_dir


def cases(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "results.json").read_text())["cases"]


def test_every_scenario_and_api_ran(run_dir):
    ran = {(c["model"], c["scenario"]) for c in cases(run_dir)}
    expected = {(f"{name}-{kind}", scenario) for name in SCRIPTS for kind in ("chat", "text")
                for scenario in SCENARIOS[name]}
    assert ran == expected
    assert all(c["status"] == "passed" for c in cases(run_dir))


def test_measured_numbers_recover_the_script(run_dir):
    failures = []
    for case in cases(run_dir):
        name = case["model"].rsplit("-", 1)[0]
        script, _, source = SCRIPTS[name]
        truth = Script(**script).truth()
        metrics = {k: v["value"] for k, v in case["metrics"].items()}
        records = [json.loads(line) for line in (run_dir / case["records_file"]).read_text().splitlines()]
        measured = [r for r in records if not (r["warmup"] or r["discarded"])]
        checks = {
            "errors": metrics["errors"] == 0,
            "output_tokens": metrics["output_tokens"] == truth.tokens * len(measured),
            "ttft_p50": close_start(metrics["ttft_p50"], truth.ttft_s),
            "e2e_p50": close_start(metrics["e2e_p50"], truth.e2e_s),
            "tpot_p50": close_gap(metrics["tpot_p50"], truth.tpot_s),
            "itl_p50": close_gap(metrics["itl_p50"], median_s(truth.itl_s)),
            "chunk_itl_p50": close_gap(metrics["chunk_itl_p50"], median_s(truth.chunk_itl_s)),
            # the records file was rewritten after the round with the final counts
            "records": all(r["token_source"] == source and sum(r["chunk_tokens"]) == truth.tokens
                           and len(r["chunk_times"]) == truth.chunks for r in measured),
        }
        bad = {k: metrics.get(k) for k, ok in checks.items() if not ok}
        if bad:
            failures.append(f"{case['id']}: {bad} (truth {truth})")
    assert not failures, "\n".join(failures)


def test_apis_follow_the_model(run_dir):
    """A chat model's requests went to the chat endpoint, a plain model's to completions:
    the chat stream's role-only chunk did not count as a token in either."""
    for case in cases(run_dir):
        records = [json.loads(line) for line in (run_dir / case["records_file"]).read_text().splitlines()]
        assert all(r["text"].startswith("tok ") for r in records if r["error"] is None)
