"""How a record's reasoning tokens are counted when the server's report and its stream disagree."""

from __future__ import annotations

from openaiperf.metrics.reasoning import reasoning_token_count
from openaiperf.records import Record


def test_a_servers_zero_beside_streamed_reasoning_is_no_count():
    """vLLM's olmo3 parser streams reasoning text but reports 0 reasoning tokens (it counts none):
    the chunks' count is used; a 0 with no reasoning text, and any other reported count, stand."""
    record = Record(request_id="r", sample_id="s", reasoning="a b c ", text=". d", chunk_tokens=[1, 1, 1, 2],
                    chunk_ends=[2, 4, 6, 9], output_tokens=5, reasoning_tokens=0)
    assert reasoning_token_count(record) == 3
    record.reasoning_tokens = 4
    assert reasoning_token_count(record) == 4
    assert reasoning_token_count(Record(request_id="r", sample_id="s", text="x", reasoning_tokens=0)) == 0
