"""The script: what one response of the scripted server does (its timing, its shape,
its faults), the server's default updated by a request's ``script`` object."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from openaiperf.testing.scripted_server import schedule
from openaiperf.testing.scripted_server.schedule import Truth

MODEL = "stub"
PROMPT_TOKENS = 8

Usage = Literal["final", "absent", "continuous"]
#: the faults ``fault_every`` injects, and what each does to the request it hits
FAULTS = {"429": "HTTP 429 with Retry-After", "500": "HTTP 500", "cut": "the connection closed after one token",
          "stall": "a pause of fault_stall_ms after one token", "malformed": "a chunk that is not JSON after one token",
          "error": "an error event after one token"}


@dataclass(frozen=True)
class Script:
    """What one response does (times in ms; token indexes count generated tokens)."""

    tokens: int = 16                 # generated tokens (fewer when the request's max_tokens is lower)
    ttft_ms: float = 0.0             # request read -> first generated chunk
    gap_ms: float = 0.0              # between consecutive tokens after the first chunk
    chunk_tokens: int = 1            # tokens per chunk after the first
    first_chunk_tokens: int = 1      # tokens in the first generated chunk
    role_chunk: bool = True          # chat: a role-only chunk right away (not a token)
    usage: Usage = "final"           # final: a usage chunk at the end; absent: none; continuous: usage on
    #                                  every chunk when the request asks continuous_usage_stats (as vLLM)
    reject_continuous_usage: bool = False  # HTTP 400 for a request that asks continuous_usage_stats
    reasoning_tokens: int = 0        # chat: the first tokens are reasoning_content, not content
    stall_after: int | None = None   # after this many tokens, pause stall_ms once
    stall_ms: float = 0.0
    error_after: int | None = None   # after this many tokens, an {"error": ...} event and the end
    cut_after: int | None = None     # after this many tokens, close the connection (no [DONE])
    malformed_after: int | None = None  # after this many tokens, one chunk that is not JSON
    http_status: int | None = None   # answer with this HTTP error instead
    retry_after_s: int = 1           # Retry-After of a 429
    linger_ms: float = 0.0           # pause between [DONE] and the end of the response
    word: str = "tok"                # every token's text is word + " "
    alt_after: int | None = None     # tokens from this index on read "alt" instead of word
    vary_under_load: int | None = None  # alt_after for a request that arrives while another is in flight
    prefix_cache_block: int = 0      # simulated prefix cache: block of this many prompt words (0: off)
    cached_ttft_ms: float | None = None  # with the cache on: the TTFT of a prompt served wholly from it; a prompt
    #                                  with h of its w words cached waits cached + (ttft - cached) x (w - h) / w
    prompt_words: bool = False       # usage.prompt_tokens: the prompt's words, instead of 8
    fault_every: int = 0             # every Nth request the server receives gets the next fault of fault_cycle
    fault_cycle: tuple[str, ...] = ("429", "500", "cut", "stall", "malformed")  # names of FAULTS
    fault_stall_ms: float = 500.0    # the "stall" fault's pause
    raw_chunks: tuple[str, ...] | None = None  # the whole response body: these base64 pieces, written one by one
    raw_gap_ms: float = 0.0          # pause after each raw piece (0: none), so the client reads them apart
    raw_cut: bool = False            # after the raw pieces, close the connection instead of ending the body
    cached_usage: str = ""           # usage.prompt_tokens_details.cached_tokens (in prompt words, with
    #                                  prompt_words): "history" -- a chat request's messages before its last
    #                                  one (a multi-turn session's earlier turns); "cache" -- what the
    #                                  simulated prefix cache served; "": not reported
    adapter_ttft_ms: str = ""        # LoRA adapters: "name=ms,..." -- a request naming one as its model waits
    #                                  that long for its first token instead of ttft_ms
    spec_draft_tokens: int = 0       # speculative decoding: draft tokens proposed per step; each chunk after
    #                                  the first is one step whose chunk_tokens - 1 drafts were accepted (vLLM's
    #                                  spec_decode counters on /metrics)
    max_concurrency: int = 0         # a scripted capacity: at most this many responses at once, the others wait
    #                                  in arrival order before their script starts (0: no limit); it serves
    #                                  max_concurrency / E2E requests/s, and a higher rate makes its queue grow
    batch_slowdown: float = 0.0      # a batching server (as vLLM: every arrival joins the running batch, no queue):
    #                                  each streamed chunk after the first waits chunk_tokens x gap_ms x (1 + k x
    #                                  (running - 1)), running counted when its gap starts; k = 1 shares a decode
    #                                  capacity of 1000 / gap_ms tokens/s among the running requests, so the server
    #                                  completes at most batch_capacity_qps requests/s, and past it TTFT stays flat
    #                                  while the per-token time and the requests running keep rising
    pool_base_ms: float = 0.0        # /v1/embeddings, /v1/rerank: latency = base + per input token
    pool_token_ms: float = 0.0       # (see openaiperf.testing.scripted_server.pooling)
    pool_dimensions: int = 8         # values of each embedding
    pool_fault: str = ""             # spoil every pooling answer: nan | short | dimension

    def __post_init__(self) -> None:
        if self.tokens < 0 or self.chunk_tokens < 1 or self.first_chunk_tokens < 1:
            raise ValueError(f"script needs tokens >= 0, chunk_tokens >= 1, first_chunk_tokens >= 1: {self}")
        if self.usage not in ("final", "absent", "continuous"):
            raise ValueError(f"script usage must be final, absent or continuous, got {self.usage!r}")
        if self.max_concurrency < 0:
            raise ValueError(f"script needs max_concurrency >= 0: {self}")
        if self.batch_slowdown < 0:
            raise ValueError(f"script needs batch_slowdown >= 0: {self}")
        if self.cached_usage not in ("", "history", "cache"):
            raise ValueError(f"script cached_usage must be '', 'history' or 'cache', got {self.cached_usage!r}")
        if self.fault_every < 0 or not self.fault_cycle or not set(self.fault_cycle) <= set(FAULTS):
            raise ValueError(f"script needs fault_every >= 0 and a fault_cycle of {sorted(FAULTS)}: {self}")

    def updated(self, changes: dict[str, Any] | None) -> Script:
        if not changes:
            return self
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown script field(s) {sorted(unknown)}; known: {sorted(known)}")
        # JSON has lists only; a script is hashable (responses are planned once per script)
        changes = {key: tuple(value) if isinstance(value, list) else value for key, value in changes.items()}
        return dataclasses.replace(self, **changes)

    def with_fault(self, fault: str) -> Script:
        """This script with one of :data:`FAULTS` (the token-counted ones after the first token)."""
        after = 1 if self.tokens > 1 else 0
        return {
            "429": lambda: dataclasses.replace(self, http_status=429),
            "500": lambda: dataclasses.replace(self, http_status=500),
            "cut": lambda: dataclasses.replace(self, cut_after=after),
            "stall": lambda: dataclasses.replace(self, stall_after=after, stall_ms=self.fault_stall_ms),
            "malformed": lambda: dataclasses.replace(self, malformed_after=after),
            "error": lambda: dataclasses.replace(self, error_after=after),
        }[fault]()

    def count(self, max_tokens: int | None) -> int:
        return min(self.tokens, max_tokens) if max_tokens else self.tokens

    def chunk_sizes(self, count: int) -> list[int]:
        """Tokens in each generated chunk."""
        return schedule.chunk_sizes(self, count)

    def chunk_offsets_s(self, count: int) -> list[float]:
        """When each generated chunk goes out, seconds after the request is read."""
        return schedule.chunk_offsets_s(self, count)

    def batch_gap_s(self, size: int, running: int) -> float:
        """The wait before a chunk of ``size`` tokens with ``running`` responses streaming (see ``batch_slowdown``)."""
        return schedule.batch_gap_s(self, size, running)

    def batch_capacity_qps(self, max_tokens: int | None = None) -> float:
        """The requests/s a ``batch_slowdown`` server completes at most (see :func:`schedule.batch_capacity_qps`)."""
        return schedule.batch_capacity_qps(self, max_tokens)

    def truth(self, max_tokens: int | None = None) -> Truth:
        """What a correct client measures for this script (network time aside)."""
        return schedule.truth(self, max_tokens)
