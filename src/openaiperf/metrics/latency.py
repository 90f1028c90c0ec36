"""Latency metrics, by the measurement rules of DESIGN.md:

- latency counts from the *scheduled* send time (no coordinated omission);
- TTFT ends at the first generated content token;
- TPOT = (E2E - TTFT) / (output tokens - 1), per request, for requests with > 1 token;
- ITL (``itl_*``) = every gap between consecutive *tokens* of a request: a chunk
  of k tokens that arrives g after the previous one gives k gaps of g/k (see
  :attr:`openaiperf.records.Record.token_times`);
- chunk ITL (``chunk_itl_*``) = every gap between consecutive chunks, what
  ``vllm bench serve`` and others call ITL; equal to ITL when each chunk is one token.

A record whose engine gave no per-token times (``timed_tokens`` False: one time
per request, at its end) has no TTFT, TPOT or ITL: they are unknown (None), and
:func:`timing_notes` says why; they are never reported as 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.metrics.stats import PERCENTILES, percentile
from openaiperf.metrics.tokens import token_source_notes
from openaiperf.records import Record

MS = 1000.0


def ttft_s(record: Record) -> float | None:
    if not record.timed_tokens or record.first_token is None:
        return None
    return record.first_token - record.scheduled


def e2e_s(record: Record) -> float | None:
    return None if record.done is None else record.done - record.scheduled


def tpot_s(record: Record) -> float | None:
    n = record.output_tokens or 0
    ttft, e2e = ttft_s(record), e2e_s(record)
    if n < 2 or ttft is None or e2e is None:
        return None
    return (e2e - ttft) / (n - 1)


def itl_s(record: Record) -> list[float]:
    """Every gap between consecutive tokens (per token, not per chunk)."""
    if not record.timed_tokens:
        return []
    times = record.token_times
    return [float(x) for x in np.diff(times)] if len(times) > 1 else []


def chunk_itl_s(record: Record) -> list[float]:
    """Every gap between consecutive chunks as they arrived."""
    if not record.timed_tokens or len(record.chunk_times) < 2:
        return []
    return [float(x) for x in np.diff(record.chunk_times)]


def send_lag_s(record: Record) -> float | None:
    """How late the client sent the request (actual - scheduled)."""
    return None if record.sent is None else record.sent - record.scheduled


def distribution(name: str, values_s: Sequence[float], *, with_max: bool = False) -> MetricSet:
    """mean and p50/p90/p99 (and max) of a latency, in ms (lower is better)."""
    values = [v * MS for v in values_s]
    out: MetricSet = {f"{name}_mean": Metric(float(np.mean(values)) if values else None, "ms", Better.LOWER)}
    for q in PERCENTILES:
        out[f"{name}_p{q}"] = Metric(percentile(values, q), "ms", Better.LOWER)
    if with_max:
        out[f"{name}_max"] = Metric(float(np.max(values)) if values else None, "ms", Better.LOWER)
    return out


def latency_metrics(records: Sequence[Record]) -> MetricSet:
    ok = [r for r in records if r.ok]
    metrics: MetricSet = {}
    metrics |= distribution("ttft", [v for r in ok if (v := ttft_s(r)) is not None])
    metrics |= distribution("tpot", [v for r in ok if (v := tpot_s(r)) is not None])
    # The max shows a stall in a stream; percentiles hide it.
    metrics |= distribution("itl", [gap for r in ok for gap in itl_s(r)], with_max=True)
    metrics |= distribution("chunk_itl", [gap for r in ok for gap in chunk_itl_s(r)], with_max=True)
    metrics |= distribution("e2e", [v for r in ok if (v := e2e_s(r)) is not None])
    lags = [v * MS for r in records if (v := send_lag_s(r)) is not None]
    metrics["send_lag_p50"] = Metric(percentile(lags, 50), "ms", Better.LOWER)
    metrics["send_lag_p99"] = Metric(percentile(lags, 99), "ms", Better.LOWER)
    return metrics


#: token sources whose per-chunk counts are exact (see ``openaiperf.records.TOKEN_SOURCES``)
EXACT_SOURCES = ("engine", "usage", "tokenizer")


def chunk_metrics(records: Sequence[Record]) -> MetricSet:
    """``tokens_per_chunk_mean``: tokens per chunk after the first chunk of each answered
    stream with exact counts; only where some chunk carried several tokens (a server that
    streams each speculative-decoding step whole: the step's accepted tokens + 1)."""
    chunks = [tokens for r in records if r.ok and r.timed_tokens and r.token_source in EXACT_SOURCES
              for tokens in r.chunk_tokens[1:] if tokens > 0]
    if not chunks or max(chunks) <= 1:
        return {}
    return {"tokens_per_chunk_mean": Metric(float(np.mean(chunks)), "tokens", Better.NONE)}


def timing_notes(records: Sequence[Record]) -> list[str]:
    """What a report must say about latencies that are unknown or estimated."""
    # a pooling answer (embeddings, rerank) has no tokens to time: nothing is unknown there
    untimed = sum(1 for r in records if r.ok and not r.timed_tokens and r.pooling is None)
    notes = []
    if untimed:
        notes.append(f"TTFT, TPOT and ITL are unknown for {untimed} request(s): the engine returned each output "
                     "whole, with one time at the end of its batch (e.g. vllm offline_api=llm), so there is no "
                     "first-token or inter-token time; E2E and throughput are measured")
    return notes + token_source_notes(records)
