"""Bad input is refused at start-up, naming the option and what it accepts,
instead of deselecting every case or running with a nonsensical value."""

from __future__ import annotations

import pytest
from benchproject import bench_args


@pytest.mark.parametrize("option,value,accepted", [
    ("--engine", "nope", "known: fake, hf, openai, vllm"),
    ("--scenario", "offlne", "known: interactive, multi_stream, offline, server, single_stream"),
    ("--task", "x", "known: chat.multiturn, chat.sharegpt, embeddings.synthetic, perplexity.corpus, "
                    "rerank.synthetic, summarization.xsum, synthetic.decode-heavy, synthetic.prefill-heavy, "
                    "synthetic.random"),
    ("--model", "y", "known: *fake-tiny*"),
])
def test_an_unknown_name_fails_at_start_up_listing_the_accepted_ones(bench_project, option, value, accepted):
    result = bench_project.runpytest(*bench_args(option, value))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    kind = option.removeprefix("--")
    result.stderr.fnmatch_lines([f"*{option}: unknown {kind} '{value}'; {accepted}*"])


@pytest.mark.parametrize("option,value,expected", [
    ("--max-samples", "-3", "an integer >= 1"),
    ("--max-samples", "0", "an integer >= 1"),
    ("--repeats", "0", "an integer >= 1"),
    ("--warmup-samples", "-1", "an integer >= 0"),
    ("--stream-count", "0", "an integer >= 1"),
    ("--qps-target", "0", "a number > 0"),
    ("--qps-target", "-2", "a number > 0"),
    ("--burstiness", "0", "a number > 0"),
    ("--max-error-rate", "1.5", "a number in [0, 1]"),
    ("--max-error-rate", "-0.1", "a number in [0, 1]"),
    ("--min-duration", "-5", "a number >= 0"),
    ("--min-queries", "0", "an integer >= 1"),
    ("--subset-seed", "-1", "an integer >= 0"),
    ("--arrival-seed", "-1", "an integer >= 0"),
])
def test_a_number_out_of_range_fails_at_start_up(bench_project, option, value, expected):
    result = bench_project.runpytest(*bench_args(option, value))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option}: expected {expected.replace('[', '[[]')}, got *{value}*"])


@pytest.mark.parametrize("option,value,message", [
    ("--dtype", "float33", "--dtype: unknown dtype 'float33'; known: float32, bfloat16, float16"),
    ("--latency-sla", "2000", "--latency-sla: expected 'TTFT_MS,TPOT_MS'*"),
    ("--engine-option", "vlm:max_model_len=1024", "--engine-option 'vlm:max_model_len=1024': unknown engine 'vlm';*"),
    ("--engine-option", "nokey", "--engine-option: expected [[]ENGINE:[]]KEY=VALUE*"),
])
def test_malformed_values_fail_at_start_up(bench_project, option, value, message):
    result = bench_project.runpytest(*bench_args(option, value))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_valid_values_still_run(bench_project):
    result = bench_project.runpytest(*bench_args("--engine", "fake", "--scenario", "offline", "--max-error-rate", "1",
                                                 "--min-duration", "0", "--warmup-samples", "0"))
    result.assert_outcomes(passed=1, deselected=1)
