"""The scripted server's ``GET /metrics``: a Prometheus page in vLLM's names,
consistent with what it served.

Finished requests, running (in flight) and waiting (for a slot of
``max_concurrency``) requests, no preemptions, and per request the script's nominal
times (queue 0, prefill = time to first token = the script's TTFT, decode = E2E -
TTFT), so the sums are exactly the script's times × requests. Its prefix cache is
simulated over the prompt's words: queries count every prompt word; with
``prefix_cache_block`` > 0, hits are what an ideal cache of blocks of that many words
serves (the rule of :mod:`openaiperf.metrics.prefix_cache`), and
``cache_config_info`` names the block. Speculative decoding's counters follow
``spec_draft_tokens``.
"""

from __future__ import annotations

from openaiperf.metrics.prefix_cache import IdealPrefixCache
from openaiperf.testing.scripted_server.schedule import Truth
from openaiperf.testing.scripted_server.script import Script


class ServerMetrics:
    """The counters and histogram sums of ``/metrics`` (vLLM's names), and the
    simulated prefix cache (an ideal one: unbounded, blocks of prompt words)."""

    HISTOGRAMS = ("request_queue_time_seconds", "request_prefill_time_seconds", "request_decode_time_seconds",
                  "time_to_first_token_seconds", "e2e_request_latency_seconds")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.finished = 0
        self.running = 0
        self.waiting = 0
        self.spec_drafts = 0
        self.spec_draft_tokens = 0
        self.spec_accepted = 0
        self.queries = 0
        self.hits = 0
        self.block = 0
        self.sums = {name: 0.0 for name in self.HISTOGRAMS}
        self.counts = {name: 0 for name in self.HISTOGRAMS}
        self.cache: IdealPrefixCache | None = None

    def lookup(self, words: list[str], block: int) -> int:
        """Count a prompt's lookup; with a block size, serve its leading blocks seen before
        (the words served: 0 without a cache)."""
        self.queries += len(words)
        if block <= 0:
            return 0
        if self.cache is None or block != self.block:  # another block size: another cache
            self.block, self.cache = block, IdealPrefixCache(block)
        hits = self.cache.lookup(words)
        self.hits += hits
        return hits

    def observe(self, truth: Truth, script: Script | None = None) -> None:
        if script is not None and script.spec_draft_tokens and truth.chunks > 1:
            steps = truth.chunks - 1
            self.spec_drafts += steps
            self.spec_draft_tokens += steps * script.spec_draft_tokens
            self.spec_accepted += truth.tokens - script.chunk_sizes(truth.tokens)[0] - steps
        ttft, e2e = truth.ttft_s or 0.0, truth.e2e_s or 0.0
        for name, value in (("request_queue_time_seconds", 0.0), ("request_prefill_time_seconds", ttft),
                            ("request_decode_time_seconds", e2e - ttft), ("time_to_first_token_seconds", ttft),
                            ("e2e_request_latency_seconds", e2e)):
            self.sums[name] += value
            self.counts[name] += 1
        self.finished += 1

    def text(self, model: str) -> str:
        label = f'model_name="{model}"'
        lines = ["# TYPE vllm:num_requests_running gauge", f"vllm:num_requests_running{{{label}}} {self.running}",
                 "# TYPE vllm:num_requests_waiting gauge",
                 f"vllm:num_requests_waiting{{{label}}} {self.waiting}",
                 "# TYPE vllm:request_success counter",
                 f'vllm:request_success_total{{finished_reason="length",{label}}} {self.finished}',
                 "# TYPE vllm:num_preemptions counter", f"vllm:num_preemptions_total{{{label}}} 0",
                 "# TYPE vllm:prefix_cache_queries counter",
                 f"vllm:prefix_cache_queries_total{{{label}}} {self.queries}",
                 "# TYPE vllm:prefix_cache_hits counter", f"vllm:prefix_cache_hits_total{{{label}}} {self.hits}"]
        if self.spec_drafts:
            counts = (("drafts", self.spec_drafts), ("draft_tokens", self.spec_draft_tokens),
                      ("accepted_tokens", self.spec_accepted))
            lines += [f"# TYPE vllm:spec_decode_num_{name} counter\n"
                      f"vllm:spec_decode_num_{name}_total{{{label}}} {value}" for name, value in counts]
        if self.block:
            lines += ["# TYPE vllm:cache_config_info gauge",
                      f'vllm:cache_config_info{{block_size="{self.block}",enable_prefix_caching="True"}} 1.0']
        for name in self.HISTOGRAMS:
            lines += [f"# TYPE vllm:{name} histogram",
                      f'vllm:{name}_bucket{{le="+Inf",{label}}} {self.counts[name]}',
                      f"vllm:{name}_count{{{label}}} {self.counts[name]}",
                      f"vllm:{name}_sum{{{label}}} {self.sums[name]!r}"]
        return "\n".join(lines) + "\n"
