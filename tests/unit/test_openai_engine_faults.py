"""The openai engine against the stub server (loopback): every fault becomes a
record's error, nothing raises; a normal stream's chunks are timed correctly."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from openaiperf.engines import EngineContext
from openaiperf.engines.managed_server import free_port
from openaiperf.engines.openai import OpenAIEngine
from openaiperf.records import Record, Request
from openaiperf.testing.stub_server import start_stub_server

TOKENS = 6


@pytest.fixture(scope="module")
def stub_url():
    with start_stub_server(tokens=TOKENS, slow_s=5.0) as url:
        yield url


def engine(url: str, model: str = "stub", **options) -> OpenAIEngine:
    context = EngineContext(model=None, weights="(none)",
                            hardware=SimpleNamespace(device="cpu"), dtype="bfloat16",
                            options={"endpoint": url, "served_model": model, "client_tokenizer": False,
                                     "api_key_env": "OB_TEST_API_KEY", **options})
    e = OpenAIEngine(context)
    e.prepare()
    return e


def serve(e: OpenAIEngine, request: Request) -> Record:
    """One request, then the engine's teardown (it closes the engine's event loop and session)."""
    record = Record(request_id=request.id, sample_id=request.sample_id)
    done: list[Record] = []
    try:
        e.run([request], [record], done.append)
    finally:
        e.teardown()
    assert done == [record]
    return record


CHAT = Request(id="c", sample_id="s", max_tokens=TOKENS, messages=[{"role": "user", "content": "hi"}])
PLAIN = Request(id="p", sample_id="s", max_tokens=TOKENS, prompt="hi")


def test_chat_stream_skips_the_role_only_chunk_and_takes_usage(stub_url):
    record = serve(engine(stub_url), CHAT)
    assert record.ok, record.error
    assert len(record.chunk_times) == TOKENS  # the role-only chunk is not a token
    assert record.first_token == record.chunk_times[0] > record.sent
    assert record.output_tokens == TOKENS and record.input_tokens == 8
    assert record.text == "tok " * TOKENS


def test_completions_endpoint(stub_url):
    record = serve(engine(stub_url), PLAIN)
    assert record.ok and record.output_tokens == TOKENS and len(record.chunk_times) == TOKENS


def test_reasoning_content_ends_ttft(stub_url):
    record = serve(engine(stub_url, "stub-reasoning"), CHAT)
    assert record.ok and len(record.chunk_times) == TOKENS
    assert record.text == "tok " * (TOKENS - 1)  # the answer text excludes the reasoning
    assert record.reasoning == "tok "


@pytest.mark.parametrize("model,expected", [("stub-http-400", "HTTP 400"), ("stub-http-500", "HTTP 500"),
                                            ("stub-cut", "stream cut"), ("stub-malformed", "malformed SSE")])
def test_faults_become_record_errors(stub_url, model, expected):
    record = serve(engine(stub_url, model), CHAT)
    assert record.error is not None and expected in record.error, record.error
    assert record.done is not None


def test_timeout_becomes_a_record_error(stub_url):
    record = serve(engine(stub_url, "stub-slow", request_timeout_s=0.3), CHAT)
    assert record.error is not None and record.error.startswith("timeout"), record.error


def test_unreachable_port_becomes_a_record_error():
    url = f"http://127.0.0.1:{free_port()}"
    record = serve(engine(url, "stub"), CHAT)
    assert record.error is not None and record.error.startswith("unreachable"), record.error


def test_api_key_is_sent_but_never_reported(stub_url, monkeypatch):
    monkeypatch.setenv("OB_TEST_API_KEY", "sk-very-secret")
    e = engine(stub_url)
    assert e.headers()["Authorization"] == "Bearer sk-very-secret"
    assert "sk-very-secret" not in json.dumps(e.info(), default=str)
    assert serve(e, CHAT).ok


def test_discovers_the_served_model(stub_url):
    e = engine(stub_url, None)
    assert e.model_name == "stub"
