"""Metrics of pooling workloads (embeddings, reranking): what a request pools, per second.

A pooling request carries a batch of inputs (texts to embed, or documents ranked against
a query) and is answered whole: its latency runs from the scheduled send to the whole
answer (``request_latency_*``, the same times as ``e2e_*``), its throughput is inputs per
second (``inputs_per_s``: texts embedded or documents ranked) and input tokens per second
(``input_tokens_per_s``: the server's usage counts) over the measured windows, as every
throughput of :mod:`openaiperf.metrics.throughput`. Nothing is generated: the generation
metrics (TTFT, TPOT, ITL, output tokens/s) do not apply and are left out
(:func:`without_generation`), never reported as 0.

The answers' shape is checked where it is cheap (:func:`pooling_validity`): one output per
input, embeddings of one dimension (the model's hidden size when it is known) with finite
values, one finite score per document. That is the case's validity, not a quality score.
"""

from __future__ import annotations

from collections.abc import Sequence

from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.metrics.latency import distribution, e2e_s
from openaiperf.metrics.throughput import window_s
from openaiperf.records import Record

#: metrics of generated tokens, which a pooling case has none of
GENERATION_PREFIXES = ("ttft_", "tpot_", "itl_", "chunk_itl_", "output_tokens_per_", "tokens_per_chunk_",
                       "decode_", "mbu", "energy_per_output_token")


def pooling_metrics(records: Sequence[Record]) -> MetricSet:
    """inputs/s, input tokens/s, inputs per request, request latency percentiles and the
    embedding dimension of the measured pooling records; {} when none is one."""
    pooled = [r for r in records if r.pooling is not None]
    if not pooled:
        return {}
    ok = [r for r in pooled if r.ok]
    duration = window_s(records)
    items = sum(int(r.pooling["inputs"]) for r in ok if r.pooling)
    tokens = [r.input_tokens for r in ok if r.input_tokens is not None]

    def rate(amount: float) -> float | None:
        return amount / duration if duration else None

    metrics: MetricSet = {
        "inputs_per_s": Metric(rate(items), "inputs/s", Better.HIGHER),
        "input_tokens_per_s": Metric(rate(sum(tokens)) if tokens else None, "tokens/s", Better.HIGHER),
        "inputs_per_request": Metric(items / len(ok) if ok else None, "inputs", Better.NONE),
    }
    metrics |= distribution("request_latency", [v for r in ok if (v := e2e_s(r)) is not None])
    dimensions = {r.pooling.get("dimension") for r in ok if r.pooling} - {None}
    if len(dimensions) == 1:
        metrics["embedding_dimension"] = Metric(float(dimensions.pop()), "values", Better.NONE)  # type: ignore[arg-type]
    return metrics


def without_generation(metrics: MetricSet) -> MetricSet:
    """``metrics`` without the generation metrics, which a pooling case does not have."""
    return {name: m for name, m in metrics.items() if not name.startswith(GENERATION_PREFIXES)}


def pooling_validity(records: Sequence[Record], dimension: int | None = None) -> dict[str, tuple[bool, str]]:
    """name -> (valid, why) of the answers of the measured pooling records: every answer well
    formed (``pooling_outputs``); for embeddings, one dimension over all of them, ``dimension``
    when given (``embedding_dimension``)."""
    answered = [r for r in records if r.ok and r.pooling is not None]
    if not answered:
        return {}
    problems = [f"{r.request_id}: {r.pooling['problem']}" for r in answered if r.pooling and r.pooling["problem"]]
    outputs = sum(int(r.pooling["outputs"]) for r in answered if r.pooling)
    checks: dict[str, tuple[bool, str]] = {
        "pooling_outputs": (not problems, f"{len(problems)} of {len(answered)} answers malformed, e.g. "
                            + "; ".join(problems[:3]) if problems else
                            f"{len(answered)} answers, {outputs} outputs: one finite output per input")}
    if any(r.pooling and r.pooling["kind"] == "embeddings" for r in answered):
        seen = sorted({int(r.pooling["dimension"]) for r in answered
                       if r.pooling and r.pooling.get("dimension") is not None})
        if len(seen) != 1:
            checks["embedding_dimension"] = (False, f"embeddings of dimensions {seen} across the requests")
        elif dimension is not None and seen[0] != dimension:
            checks["embedding_dimension"] = (False, f"embeddings of dimension {seen[0]}, the model's hidden size "
                                                    f"is {dimension}")
        else:
            known = " (the model's hidden size)" if dimension is not None else ""
            checks["embedding_dimension"] = (True, f"every embedding has dimension {seen[0]}{known}")
    return checks

