from __future__ import annotations

import pytest

from openaiperf.engines.sse import MalformedSSE, chunk_content, chunk_delta, parse_sse_line


def test_role_only_chunk_carries_no_generated_text():
    event = parse_sse_line(b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n')
    assert event is not None and not event.done
    assert chunk_delta(event.data) == ""


def test_reasoning_content_counts_as_generated_but_not_as_answer_text():
    event = parse_sse_line('data: {"choices":[{"delta":{"reasoning_content":"think"}}]}')
    assert chunk_delta(event.data) == "think"
    assert chunk_content(event.data) == ""
    newer = parse_sse_line('data: {"choices":[{"delta":{"reasoning":"hmm"}}]}')
    assert chunk_delta(newer.data) == "hmm"


def test_completions_text_and_usage_chunk():
    text = parse_sse_line('data: {"choices":[{"index":0,"text":" Hello"}]}')
    assert chunk_delta(text.data) == " Hello" == chunk_content(text.data)
    usage = parse_sse_line('data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}')
    assert chunk_delta(usage.data) == ""
    assert usage.data["usage"]["completion_tokens"] == 7


def test_done_blank_and_comment_lines():
    assert parse_sse_line("data: [DONE]").done
    assert parse_sse_line("") is None
    assert parse_sse_line(": keep-alive") is None
    assert parse_sse_line("event: message") is None


@pytest.mark.parametrize("line", ["data: {not json", "garbage without separator", 'data: [1, 2]', "bogus: 1"])
def test_malformed_sse_is_an_error(line):
    with pytest.raises(MalformedSSE):
        parse_sse_line(line)


def test_error_event_in_stream_is_an_error():
    with pytest.raises(MalformedSSE, match="overloaded"):
        parse_sse_line('data: {"error": {"message": "overloaded"}}')
