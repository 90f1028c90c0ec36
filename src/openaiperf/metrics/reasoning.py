"""Reasoning models: the tokens a model spends thinking, apart from its answer.

A reasoning server streams its thinking in ``delta.reasoning_content`` (or
``delta.reasoning``) before the answer in ``delta.content``; its usage's
``completion_tokens`` counts both. The names follow AIPerf's:

- ``output_tokens`` stays what the server reports (reasoning and answer: AIPerf's
  output sequence length), so throughput and TPOT keep their meaning;
- reasoning tokens: the server's ``completion_tokens_details.reasoning_tokens``
  where it reports them, else the tokens of the chunks that carried reasoning
  text (a chunk carrying both is split by its characters). A reported 0 beside
  streamed reasoning text is no count: vLLM reports 0 for a reasoning parser that
  does not count tokens (its ``olmo3`` parser, which works on the text) while it
  streams that parser's reasoning; the chunks' count is used then;
- answer tokens = output tokens - reasoning tokens (AIPerf's output token count);
- TTFT ends at the first token of either kind; TTFO (time to first output token)
  at the first chunk of answer text, both from the scheduled send.

Quality is judged on the answer alone: a record's ``text`` never holds the reasoning.
The metrics appear only when some answered request reasoned.
"""

from __future__ import annotations

from collections.abc import Sequence

from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.metrics.latency import distribution
from openaiperf.metrics.throughput import window_s
from openaiperf.records import Record


def reasoning_token_count(record: Record) -> int:
    """The reasoning share of a record's output tokens (see the module's rules)."""
    if record.reasoning_tokens or (record.reasoning_tokens == 0 and not record.reasoning):
        return record.reasoning_tokens
    thought = len(record.reasoning)
    if not thought:
        return 0
    total, start = 0.0, 0
    for tokens, end in zip(record.chunk_tokens, record.chunk_ends):
        if end <= start:  # no per-chunk text (an engine that keeps none): no split to make
            continue
        inside = max(0, min(end, thought) - start)
        total += tokens * inside / (end - start)
        start = end
    return round(total)


def answer_token_count(record: Record) -> int:
    return max(0, (record.output_tokens or 0) - reasoning_token_count(record))


def ttfo_s(record: Record) -> float | None:
    """Time to the first answer token, from the scheduled send."""
    if not record.timed_tokens or record.first_answer is None:
        return None
    return record.first_answer - record.scheduled


def reasoning_metrics(records: Sequence[Record]) -> MetricSet:
    ok = [r for r in records if r.ok]
    if not any(r.reasoning or r.reasoning_tokens for r in ok):
        return {}
    reasoning = sum(reasoning_token_count(r) for r in ok)
    answer = sum(answer_token_count(r) for r in ok)
    duration = window_s(records)

    def rate(amount: float) -> float | None:
        return amount / duration if duration else None

    metrics: MetricSet = distribution("ttfo", [v for r in ok if (v := ttfo_s(r)) is not None])
    return metrics | {
        "reasoning_tokens": Metric(float(reasoning), "tokens", Better.NONE),
        "answer_tokens": Metric(float(answer), "tokens", Better.NONE),
        "reasoning_tokens_per_request": Metric(reasoning / len(ok), "tokens", Better.NONE),
        "answer_tokens_per_request": Metric(answer / len(ok), "tokens", Better.NONE),
        "reasoning_tokens_per_s": Metric(rate(reasoning), "tokens/s", Better.HIGHER),
        "answer_tokens_per_s": Metric(rate(answer), "tokens/s", Better.HIGHER),
    }
