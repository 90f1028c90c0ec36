"""Reasoning models against the scripted server: reasoning tokens counted apart from
the answer's, TTFT at the first token of either kind, TTFO at the first answer token
(TTFT + reasoning tokens x the per-token gap), the thinking budget of the task file
reaching the server, and the answer alone in the record's text (what quality judges)."""

from __future__ import annotations

import pytest

from openaiperf.metrics.latency import latency_metrics
from openaiperf.metrics.reasoning import reasoning_metrics, reasoning_token_count
from openaiperf.records import Request
from openaiperf.testing.scripted_server import Script, start_scripted_server
from tests.conformance.test_engine_conformance import engine, single_stream
from tests.conformance.truth import close_gap, close_start

BASE = {"tokens": 20, "ttft_ms": 30.0, "gap_ms": 8.0, "reasoning_tokens": 12}


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(Script()) as handle:
        yield handle


@pytest.mark.parametrize("usage", ["final", "absent"])
@pytest.mark.parametrize("chunk_tokens", [1, 3])
def test_ttfo_is_ttft_plus_the_reasoning_tokens_times_the_gap(server, word_tokenizer, usage, chunk_tokens):
    script = {**BASE, "chunk_tokens": chunk_tokens, "usage": usage}
    truth = Script(**BASE, chunk_tokens=chunk_tokens).truth()
    e = engine(server, script, word_tokenizer)
    try:
        records = single_stream(e, "chat")
    finally:
        e.teardown()
    assert all(r.ok for r in records), [r.error for r in records]
    # with usage the server reports the reasoning share; without, it comes from the chunks' text
    assert {r.reasoning_tokens for r in records} == ({12} if usage == "final" else {None})
    assert [reasoning_token_count(r) for r in records] == [truth.reasoning_tokens] * len(records)
    assert all(r.text == "tok " * (truth.tokens - 12) and r.reasoning == "tok " * 12 for r in records)
    m = latency_metrics(records) | reasoning_metrics(records)
    assert close_start(m["ttft_p50"].value, truth.ttft_s), (m["ttft_p50"].value, truth.ttft_s)
    assert truth.ttfo_s == pytest.approx(truth.ttft_s + -(-12 // chunk_tokens) * chunk_tokens * 0.008)
    if chunk_tokens == 1:
        assert truth.ttfo_s == pytest.approx(truth.ttft_s + 12 * 0.008)
    assert close_start(m["ttfo_p50"].value, truth.ttfo_s), (m["ttfo_p50"].value, truth.ttfo_s)
    assert close_gap(m["ttfo_p50"].value - m["ttft_p50"].value, truth.ttfo_s - truth.ttft_s)
    assert m["reasoning_tokens"].value == 12 * len(records)
    assert m["answer_tokens"].value == (truth.tokens - 12) * len(records)
    assert m["reasoning_tokens_per_request"].value == 12 and m["answer_tokens_per_request"].value == 8
    # one stream at a time: the two rates are in the tokens' ratio
    assert m["reasoning_tokens_per_s"].value / m["answer_tokens_per_s"].value == pytest.approx(12 / 8)


def test_a_case_without_reasoning_has_no_reasoning_metrics(server):
    e = engine(server, {"tokens": 4})
    try:
        records = single_stream(e, "chat", count=1)
    finally:
        e.teardown()
    assert reasoning_metrics(records) == {}


@pytest.mark.parametrize(("fields", "reasoning"), [({"max_thinking_tokens": 5}, 5),
                                                   ({"chat_template_kwargs": {"enable_thinking": False}}, 0)])
def test_the_thinking_budget_of_the_request_reaches_the_server(server, fields, reasoning):
    server.reset()
    e = engine(server, BASE)
    try:
        request = Request(id="t", sample_id="s", max_tokens=64, messages=[{"role": "user", "content": "hi"}],
                          body=fields)
        from openaiperf.records import Record

        record = Record(request_id="t", sample_id="s")
        e.run([request], [record], lambda r: None)
        e.complete_records([record])
    finally:
        e.teardown()
    received = server.stats()["received"][-1]
    assert {key: received[key] for key in fields} == fields
    assert record.ok and reasoning_token_count(record) == reasoning
    assert record.text == "tok " * 8  # the answer is untouched by the budget


def test_the_task_files_request_body_goes_in_the_engines_payload(server):
    from openaiperf.tasks import InputProfileSpec

    profile = InputProfileSpec(request_body={"max_thinking_tokens": 64})
    request = Request(id="r", sample_id="s", max_tokens=8, prompt="hi", body=profile.request_body)
    e = engine(server, BASE)
    try:
        _, body = e.payload(request)
    finally:
        e.teardown()
    assert body["max_thinking_tokens"] == 64 and body["max_tokens"] == 8
