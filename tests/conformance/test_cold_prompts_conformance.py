"""A cold workload stays cold against a caching server: two runs of the same task (same
seed), each with ``--repeats 3``, through the ``openai`` engine against the scripted
server with its simulated prefix cache on (blocks of 4 prompt words; a prompt served
from the cache gets its first token sooner, down to 5 ms for a wholly cached one).
Without a salt per run, round and attempt, rounds 2 and 3 and the second run resend
the first round's prompts and read the cached TTFT; with it, every round of both runs
reads the script's cold TTFT, and the server's own hit rate stays at 0."""

from __future__ import annotations

import json

import pytest

from fixtures.suites import run_suite
from openaiperf.testing.scripted_server import Script, start_scripted_server

COLD_TTFT_MS, CACHED_TTFT_MS = 40.0, 5.0
TASK = {"name": "synthetic.cold", "version": "1.0.0", "kind": "synthetic", "datasets": {},
        "parameters": {"input_lengths": [24], "output_lengths": [3], "samples_per_point": 4, "seed": 0},
        "scenarios": ["single_stream"], "input_profile": {"max_new_tokens": 3}, "warmup": {"samples": 2}}
SCRIPT = {"ttft_ms": COLD_TTFT_MS, "gap_ms": 2.0, "tokens": 3, "prefix_cache_block": 4,
          "cached_ttft_ms": CACHED_TTFT_MS, "prompt_words": True}


def matrix() -> str:
    return json.dumps({"suites": [{
        "name": "cold", "tasks": ["synthetic.cold"], "scenarios": ["single_stream"], "engines": ["openai"],
        "models": ["word-text"], "engine_options": {"openai": {"extra_body": {"script": SCRIPT}}}}]})


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Both runs' only case, against one server (its cache kept between the runs)."""
    from openaiperf.testing.word_tokenizer import write_word_tokenizer

    project = tmp_path_factory.mktemp("cold-project")
    tokenizer = write_word_tokenizer(project / "tokenizer", ["tok", *(f"w{i}" for i in range(300))])
    (project / "benchmarks").mkdir()
    (project / "benchmarks" / "matrix.yaml").write_text(matrix())
    (project / "models.yaml").write_text(f"word-text:\n  source: {tokenizer}\n  parameters: 1000000\n"
                                         "  dtype: float32\n  chat: false\n")
    (project / "task.yaml").write_text(json.dumps(TASK))
    cases = []
    with start_scripted_server(Script()) as server:
        for run in range(2):
            suite = run_suite(project, "--task-file", "task.yaml", "--repeats", "3", "--no-history",
                              endpoint=server.url, report_dir=f"out{run}")
            assert suite.proc.returncode == 0 and suite.run_dir is not None, suite.output
            folder, case = suite.run_dir, suite.case()
            case["records"] = [json.loads(line) for line in (folder / case["records_file"]).read_text().splitlines()]
            cases.append(case)
    return cases


def test_every_round_of_both_runs_reads_the_cold_ttft(two_runs):
    rounds = [r["ttft_p50"] for case in two_runs for r in case["rounds"]]
    assert len(rounds) == 6
    # 5 ms when the cache serves a prompt; 40 ms cold (the client adds ~1 ms of its own)
    assert all(COLD_TTFT_MS - 1 <= ttft <= COLD_TTFT_MS + 8 for ttft in rounds), rounds


def test_the_server_serves_nothing_from_its_cache_and_the_case_is_valid(two_runs):
    for case in two_runs:
        assert case["metrics"]["prefix_cache_hit_rate"]["value"] == 0.0
        assert case["validity"]["cold_prefix_cache"] is True
        assert case["status"] == "passed"


def test_each_run_has_a_salt_of_its_own_and_every_record_names_its_prompts_salt(two_runs):
    salts = [case["settings"]["salt"] for case in two_runs]
    assert salts[0] != salts[1]
    assert all(case["settings"]["prefix_sharing"] == "none" for case in two_runs)
    records = [r for case in two_runs for r in case["records"]]
    measured = [r["salt"] for r in records if not r["warmup"] and not r["discarded"]]
    assert len(measured) == 2 * 3 * 4 and len(set(measured)) == len(measured)
