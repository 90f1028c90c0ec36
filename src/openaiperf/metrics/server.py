"""Server-side metrics of a case: what the server's own ``/metrics`` counted during
the measured rounds (:mod:`openaiperf.monitor.prometheus`), as per-request means,
and how the client's view differs from it.

The server counts every request it served in a round, the online scenarios'
warmup requests included (they are sent inside the round). So the client-side
figure set beside it, ``client_minus_server_ttft``, is the client's mean TTFT over
the same requests (warmup included) minus the server's mean TTFT: what the
network, the HTTP and SSE stack and the client itself add (the client's TTFT
counts from the scheduled send; the server's from the request's arrival).
"""

from __future__ import annotations

from collections.abc import Sequence

from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.metrics.latency import MS, ttft_s
from openaiperf.monitor.prometheus import RoundDelta
from openaiperf.records import Record

#: our histogram -> the metric reported (its mean per request, ms)
MEANS = {"queue_time": "server_queue_time_mean", "prefill_time": "server_prefill_time_mean",
         "decode_time": "server_decode_time_mean", "ttft": "server_ttft_mean", "e2e": "server_e2e_mean"}


def server_metrics(total: RoundDelta | None, records: Sequence[Record]) -> MetricSet:
    """Metrics from the rounds' combined delta and the same rounds' records (warmup included)."""
    if total is None:
        return {}
    out: MetricSet = {}
    for name, metric in MEANS.items():
        if name in total.histograms:
            mean = total.mean_s(name)
            out[metric] = Metric(mean * MS if mean is not None else None, "ms", Better.LOWER)
    counters = total.counters
    if "requests_finished" in counters:
        out["server_requests"] = Metric(counters["requests_finished"], "requests", Better.NONE)
    if "prefix_queries" in counters and "prefix_hits" in counters:
        queries = counters["prefix_queries"]
        out["prefix_cache_hit_rate"] = Metric(counters["prefix_hits"] / queries if queries > 0 else None, "fraction",
                                              Better.NONE)
        out["prefix_cache_hit_tokens"] = Metric(counters["prefix_hits"], "tokens", Better.NONE)
    if counters.get("spec_draft_tokens"):
        # vLLM's definitions: accepted / proposed draft tokens, and per verification step the
        # accepted tokens plus the one the target model adds
        out["spec_acceptance_rate"] = Metric(counters.get("spec_accepted_tokens", 0.0) / counters["spec_draft_tokens"],
                                             "fraction", Better.HIGHER)
        if counters.get("spec_drafts"):
            out["spec_mean_accepted_length"] = Metric(
                1 + counters.get("spec_accepted_tokens", 0.0) / counters["spec_drafts"], "tokens", Better.HIGHER)
    if "preemptions" in counters:
        out["preemptions"] = Metric(counters["preemptions"], "preemptions", Better.LOWER)
    for key in ("running", "waiting"):
        if key in total.peaks:
            out[f"server_{key}_peak"] = Metric(total.peaks[key], "requests", Better.NONE)
    server_ttft = total.mean_s("ttft")
    client = [v for r in records if r.ok and (v := ttft_s(r)) is not None]
    if server_ttft is not None and client:
        out["client_minus_server_ttft"] = Metric((sum(client) / len(client) - server_ttft) * MS, "ms", Better.LOWER)
    return out
