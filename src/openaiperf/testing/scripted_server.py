"""A scripted OpenAI-compatible server: ground truth for the harness's timing.

It runs no model. Every response follows a :class:`Script` whose timing and
shape are known exactly: time to the first token, the gap between tokens,
tokens per SSE chunk, a role-only first chunk, usage (a final chunk, none, or on
every chunk as vLLM's ``stream_options.continuous_usage_stats``), reasoning
content (the first ``reasoning_tokens`` tokens, counted in usage's
``completion_tokens_details``; a request's ``max_thinking_tokens`` caps them and
``chat_template_kwargs: {enable_thinking: false}`` drops them), a stall, an
error event mid-stream, an HTTP error (429 with ``Retry-After``, 500...), a cut
connection, a malformed chunk; or any of these faults on every Nth request
(``fault_every``, taking ``fault_cycle`` in turn: the soak script's load), or a
response body given byte for byte (``raw_chunks``, the SSE fuzz tests' arbitrary
streams, written in the pieces given). The conformance
tests and ``benchmarks/scripts/conformance.py`` compare what the suite measures
against :meth:`Script.truth`; the load generator's capacity is measured against
it too, at rates no real server reaches on a small machine. It is a test
instrument, not a model server, and is never used where a real server can run.

The script of a request is the server's default (command-line flags) updated by
the request body's ``script`` object (the ``openai`` engine sends one with the
engine option ``extra_body: {script: {...}}``). Timing follows the script from
the moment the request is read, on an absolute schedule (sleep until each
chunk's time), so sleep overshoot does not add up along a stream.

Timing of a stream of N tokens (F in the first chunk, K in every later chunk):
the first chunk goes out at ``ttft_ms``; each later chunk K × ``gap_ms`` after
the one before (plus ``stall_ms`` once, after ``stall_after`` tokens). So the
per-token gap is ``gap_ms`` for every token after the first chunk, the tokens of
the first chunk arrive together, and E2E = ttft + (N - F) × gap (+ stall).

The server keeps what it saw (``GET /stats``: request arrivals, its own TTFT per
request, distinct client connections, every request's messages or prompt and
max_tokens, the faults it injected by kind; ``POST /stats/reset``), times in ``time.perf_counter()`` seconds, which
on Linux is the same clock in every process.

``GET /metrics`` is a Prometheus page in vLLM's names, consistent with what it
served: finished requests, running (in flight) and waiting (for a slot of ``max_concurrency``) requests, no
preemptions, and per request the script's nominal times (queue 0, prefill = time
to first token = the script's TTFT, decode = E2E - TTFT), so the sums are exactly
the script's times × requests. Its prefix cache is simulated over the prompt's
words (a chat request's words are those of ``role: content`` of each message):
queries count every prompt word; with ``prefix_cache_block`` > 0, hits are what
an ideal cache of blocks of that many words serves (the rule of
:mod:`openaiperf.metrics.prefix_cache`), and ``cache_config_info`` names the block;
``cached_usage`` puts cached prompt tokens in usage (``prompt_tokens_details``: a
chat request's history, or what that cache served). With ``cached_ttft_ms``, a
prompt served partly from the cache gets its first token sooner, in proportion to
the words served (a caching server's shorter prefill).
``vary_under_load`` makes a batch-variant server: a request that arrives while
another is in flight reads ``alt`` instead of the script's word from that token on.

Run: ``python -m openaiperf.testing.scripted_server --port 8123 --ttft-ms 50 --gap-ms 10``,
or :func:`start_scripted_server` (a subprocess, for tests and scripts).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from typing import Any, Literal

from aiohttp import web

from openaiperf.metrics.prefix_cache import IdealPrefixCache

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

    def __post_init__(self) -> None:
        if self.tokens < 0 or self.chunk_tokens < 1 or self.first_chunk_tokens < 1:
            raise ValueError(f"script needs tokens >= 0, chunk_tokens >= 1, first_chunk_tokens >= 1: {self}")
        if self.usage not in ("final", "absent", "continuous"):
            raise ValueError(f"script usage must be final, absent or continuous, got {self.usage!r}")
        if self.max_concurrency < 0:
            raise ValueError(f"script needs max_concurrency >= 0: {self}")
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
        if count <= 0:
            return []
        sizes = [min(self.first_chunk_tokens, count)]
        left = count - sizes[0]
        while left > 0:
            sizes.append(min(self.chunk_tokens, left))
            left -= sizes[-1]
        return sizes

    def chunk_offsets_s(self, count: int) -> list[float]:
        """When each generated chunk goes out, seconds after the request is read."""
        offsets: list[float] = []
        t, sent, stalled = self.ttft_ms, 0, False
        for index, size in enumerate(self.chunk_sizes(count)):
            if index:
                t += size * self.gap_ms
                if self.stall_after is not None and not stalled and sent >= self.stall_after:
                    t += self.stall_ms
                    stalled = True
            offsets.append(t / 1000)
            sent += size
        return offsets

    def truth(self, max_tokens: int | None = None) -> Truth:
        """What a correct client measures for this script (network time aside)."""
        count = self.count(max_tokens)
        sizes = self.chunk_sizes(count)
        offsets = self.chunk_offsets_s(count)
        itl: list[float] = [0.0] * (sizes[0] - 1) if sizes else []
        for previous, current, size in zip(offsets, offsets[1:], sizes[1:]):
            itl += [(current - previous) / size] * size
        ttft = offsets[0] if offsets else None
        e2e = offsets[-1] if offsets else None
        tpot = (e2e - ttft) / (count - 1) if count > 1 and ttft is not None and e2e is not None else None
        reasoning = min(self.reasoning_tokens, count)
        # the answer's first token arrives with the chunk that carries token index ``reasoning``
        ends = list(accumulate(sizes))
        ttfo = next((offset for offset, end in zip(offsets, ends) if end > reasoning), None)
        return Truth(tokens=count, chunks=len(sizes), ttft_s=ttft, e2e_s=e2e, tpot_s=tpot, itl_s=itl,
                     chunk_itl_s=[b - a for a, b in zip(offsets, offsets[1:])], reasoning_tokens=reasoning,
                     ttfo_s=ttfo)


@dataclass
class Truth:
    tokens: int
    chunks: int
    ttft_s: float | None
    e2e_s: float | None
    tpot_s: float | None
    itl_s: list[float] = field(default_factory=list)
    chunk_itl_s: list[float] = field(default_factory=list)
    reasoning_tokens: int = 0        # of ``tokens``, those sent as reasoning_content
    ttfo_s: float | None = None      # time to the first answer (content) token


def sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def token_words(script: Script, start: int, size: int) -> str:
    """The text of tokens ``start`` .. ``start + size - 1``."""
    return "".join(f"{'alt' if script.alt_after is not None and start + i >= script.alt_after else script.word} "
                   for i in range(size))


@lru_cache(maxsize=256)
def plan(script: Script, count: int, chat: bool, include_usage: bool, continuous: bool,
         model: str, prompt_tokens: int = PROMPT_TOKENS,
         cached_tokens: int | None = None) -> tuple[bytes, tuple[tuple[float, bytes], ...], bytes]:
    """(head bytes, ((offset s, chunk bytes), ...), tail bytes) of one response, built once per shape."""
    kind = "chat.completion.chunk" if chat else "text_completion"
    base = {"id": "scripted", "object": kind, "created": 0, "model": model}
    per_chunk_usage = include_usage and continuous and script.usage == "continuous"

    def usage(done: int) -> dict[str, Any]:
        counts: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": done,
                                  "total_tokens": prompt_tokens + done}
        if chat and script.reasoning_tokens:
            # as OpenAI's API: the reasoning share of completion_tokens
            counts["completion_tokens_details"] = {"reasoning_tokens": min(done, script.reasoning_tokens)}
        if cached_tokens is not None:
            counts["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
        return counts

    head = b""
    if chat and script.role_chunk:
        role: dict[str, Any] = {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                     "finish_reason": None}]}
        if per_chunk_usage:
            role["usage"] = usage(0)
        head = sse(role)
    chunks: list[tuple[float, bytes]] = []
    done = 0
    for offset, size in zip(script.chunk_offsets_s(count), script.chunk_sizes(count)):
        reasoning = max(0, min(size, script.reasoning_tokens - done)) if chat else 0
        parts: dict[str, str] = {}
        if reasoning:
            parts["reasoning_content"] = token_words(script, done, reasoning)
        if size - reasoning:
            parts["content"] = token_words(script, done + reasoning, size - reasoning)
        if chat:
            choice: dict[str, Any] = {"index": 0, "delta": parts, "finish_reason": None}
        else:
            choice = {"index": 0, "text": parts.get("content", ""), "finish_reason": None}
        done += size
        event: dict[str, Any] = {**base, "choices": [choice]}
        if per_chunk_usage:
            event["usage"] = usage(done)
        chunks.append((offset, sse(event)))
    tail = b""
    if include_usage and script.usage != "absent":
        tail += sse({**base, "choices": [], "usage": usage(count)})
    tail += b"data: [DONE]\n\n"
    return head, tuple(chunks), tail


class Stats:
    """What the server saw, for a client-independent view of a load test."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.arrivals: list[float] = []
        self.ttft_s: list[float] = []
        self.peers: set[Any] = set()
        self.received: list[dict[str, Any]] = []
        self.faults: dict[str, int] = {}
        self.queue_s: list[float] = []   # each request's wait for a slot (max_concurrency)
        self.cancelled: list[dict[str, Any]] = []  # requests whose client closed the stream before its end

    def to_json(self) -> dict[str, Any]:
        return {"requests": len(self.arrivals), "connections": len(self.peers), "arrivals": self.arrivals,
                "ttft_s": self.ttft_s, "received": self.received, "faults": self.faults, "queue_s": self.queue_s,
                "cancelled": self.cancelled}


def prompt_words(body: dict[str, Any]) -> list[str]:
    """The words of a request's prompt (a chat request's: ``role: content`` of each message)."""
    if "messages" in body:
        text = "\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in body.get("messages") or [])
    else:
        prompt = body.get("prompt", "")
        text = prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
    return text.split()


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


def make_app(default: Script | None = None, slow_s: float = 30.0) -> web.Application:
    """The aiohttp application; ``default`` is every request's script unless its body changes it."""
    default = default or Script()
    stats = Stats()
    metrics = ServerMetrics()
    slots: dict[int, asyncio.Semaphore] = {}  # one per scripted capacity

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(stats.to_json())

    async def reset_stats(request: web.Request) -> web.Response:
        stats.reset()
        metrics.reset()
        return web.json_response({"reset": True})

    async def get_metrics(request: web.Request) -> web.Response:
        return web.Response(text=metrics.text(MODEL), content_type="text/plain")

    async def complete(request: web.Request) -> web.StreamResponse:
        arrival = time.perf_counter()
        loop = asyncio.get_running_loop()
        start = loop.time()
        stats.arrivals.append(arrival)
        stats.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        body = await request.json()
        chat = request.path.endswith("/chat/completions")
        model = str(body.get("model", MODEL))
        stats.received.append({"arrival": arrival, "path": request.path, "messages": body.get("messages"),
                               "prompt": body.get("prompt"), "max_tokens": body.get("max_tokens"),
                               "model": model, **{key: body[key] for key in THINKING_FIELDS if key in body}})
        try:
            script = adapter_script(thinking_script(preset(default, model, slow_s).updated(body.get("script")), body),
                                    model)
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": {"message": f"bad script: {exc}"}}, status=400)
        arrived = len(stats.arrivals)
        if script.fault_every and arrived % script.fault_every == 0:
            fault = script.fault_cycle[(arrived // script.fault_every - 1) % len(script.fault_cycle)]
            stats.faults[fault] = stats.faults.get(fault, 0) + 1
            script = script.with_fault(fault)
        if script.vary_under_load is not None and metrics.running > 0:
            script = dataclasses.replace(script, alt_after=script.vary_under_load)
        words = prompt_words(body)
        hits = metrics.lookup(words, script.prefix_cache_block)
        script = cached_script(script, hits, len(words))
        prompt_tokens = len(words) if script.prompt_words else PROMPT_TOKENS
        cached = cached_prompt_tokens(script, body, hits)
        if not script.max_concurrency:
            return await served(request, body, script, chat, model, prompt_tokens, arrival, start, loop, cached)
        slot = slots.setdefault(script.max_concurrency, asyncio.Semaphore(script.max_concurrency))
        metrics.waiting += 1
        try:
            await slot.acquire()
        finally:
            metrics.waiting -= 1
        try:
            # the script starts when a slot is free: the wait adds to the time to the first token
            stats.queue_s.append(loop.time() - start)
            if request.transport is None or request.transport.is_closing():
                # the client gave up while it waited (as a server drops an aborted request from its queue)
                stats.cancelled.append({"arrival": arrival, "after_s": time.perf_counter() - arrival, "queued": True})
                return web.Response(status=499)
            return await served(request, body, script, chat, model, prompt_tokens, arrival, loop.time(), loop,
                                cached)
        finally:
            slot.release()

    async def served(request: web.Request, body: dict[str, Any], script: Script, chat: bool, model: str,
                     prompt_tokens: int, arrival: float, start: float,
                     loop: asyncio.AbstractEventLoop, cached: int | None = None) -> web.StreamResponse:
        metrics.running += 1
        try:
            return await respond(request, body, script, chat, model, prompt_tokens, arrival, start, loop, cached)
        except ConnectionResetError:
            # the client closed the stream before its end (a cancelled request)
            stats.cancelled.append({"arrival": arrival, "after_s": time.perf_counter() - arrival})
            return web.Response(status=499)
        except asyncio.CancelledError:
            stats.cancelled.append({"arrival": arrival, "after_s": time.perf_counter() - arrival})
            raise
        finally:
            metrics.running -= 1

    async def respond(request: web.Request, body: dict[str, Any], script: Script, chat: bool, model: str,
                      prompt_tokens: int, arrival: float, start: float,
                      loop: asyncio.AbstractEventLoop, cached: int | None = None) -> web.StreamResponse:
        if script.http_status:
            headers = {"Retry-After": str(script.retry_after_s)} if script.http_status == 429 else None
            return web.json_response({"error": {"message": f"scripted HTTP {script.http_status}"}},
                                     status=script.http_status, headers=headers)
        if script.raw_chunks is not None:
            return await respond_raw(request, script)
        options = body.get("stream_options") or {}
        continuous = bool(options.get("continuous_usage_stats"))
        if continuous and script.reject_continuous_usage:
            return web.json_response({"error": {"message": "Unrecognized request argument supplied: "
                                                           "stream_options.continuous_usage_stats"}}, status=400)
        count = script.count(body.get("max_tokens"))
        if not body.get("stream"):
            await asyncio.sleep(script.truth(count).e2e_s or 0)
            text = token_words(script, 0, count)
            choice = ({"index": 0, "message": {"role": "assistant", "content": text}} if chat
                      else {"index": 0, "text": text})
            metrics.observe(script.truth(count))
            return web.json_response({"id": "scripted", "choices": [choice], "usage": {
                "prompt_tokens": prompt_tokens, "completion_tokens": count, "total_tokens": prompt_tokens + count}})
        head, chunks, tail = plan(script, count, chat, bool(options.get("include_usage")), continuous, model,
                                  prompt_tokens, cached)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        if head:
            await response.write(head)
        sent = 0
        sizes = script.chunk_sizes(count)
        for index, (offset, payload) in enumerate(chunks):
            if script.cut_after is not None and sent >= script.cut_after:
                if request.transport is not None:
                    request.transport.close()
                return response
            if script.error_after is not None and sent >= script.error_after:
                await response.write(sse({"error": {"message": "scripted error mid-stream", "code": 500}}))
                await response.write(b"data: [DONE]\n\n")
                await response.write_eof()
                return response
            if script.malformed_after is not None and sent >= script.malformed_after:
                await response.write(b"data: {not json\n\n")
                await response.write_eof()
                return response
            delay = start + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await response.write(payload)
            if index == 0:
                stats.ttft_s.append(time.perf_counter() - arrival)
            sent += sizes[index]
        # counted before [DONE] goes out, as vLLM records a request's stats when it finishes
        metrics.observe(script.truth(count), script)
        await response.write(tail)
        if script.linger_ms:
            await asyncio.sleep(script.linger_ms / 1000)
        await response.write_eof()
        return response

    async def respond_raw(request: web.Request, script: Script) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            for piece in script.raw_chunks or ():
                await response.write(base64.b64decode(piece))
                if script.raw_gap_ms:
                    await asyncio.sleep(script.raw_gap_ms / 1000)
            if script.raw_cut:
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client stopped reading (a malformed stream ends the request): as a server sees it
        return response

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/stats", get_stats)
    app.router.add_post("/stats/reset", reset_stats)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_post("/v1/chat/completions", complete)
    app.router.add_post("/v1/completions", complete)
    return app


#: request fields that set a reasoning model's thinking: Qwen3's chat template switch
#: (``chat_template_kwargs: {enable_thinking: false}``) and a budget of reasoning tokens
THINKING_FIELDS = ("chat_template_kwargs", "max_thinking_tokens")


def cached_prompt_tokens(script: Script, body: dict[str, Any], hits: int) -> int | None:
    """What usage reports as the prompt's cached tokens (``Script.cached_usage``): a chat
    request's words before its last message, the simulated cache's hits, or None."""
    if script.cached_usage == "history":
        messages = body.get("messages") or []
        return len(prompt_words({"messages": messages[:-1]})) if messages else 0
    if script.cached_usage == "cache":
        return hits
    return None


def adapter_script(script: Script, model: str) -> Script:
    """The script of a request that names a LoRA adapter of ``adapter_ttft_ms``: its own TTFT."""
    for part in filter(None, script.adapter_ttft_ms.split(",")):
        name, _, ttft = part.partition("=")
        if name.strip() == model:
            return dataclasses.replace(script, ttft_ms=float(ttft))
    return script


def thinking_script(script: Script, body: dict[str, Any]) -> Script:
    """The script with the request's thinking settings applied: no reasoning when its
    chat template turns thinking off, at most ``max_thinking_tokens`` reasoning tokens
    (a reasoning server's thinking budget); the answer's tokens are unchanged."""
    kwargs = body.get("chat_template_kwargs")
    budget = body.get("max_thinking_tokens")
    reasoning = script.reasoning_tokens
    if isinstance(kwargs, dict) and kwargs.get("enable_thinking") is False:
        reasoning = 0
    if budget is not None:
        if type(budget) is not int or budget < 0:
            raise ValueError(f"max_thinking_tokens must be a count >= 0, got {budget!r}")
        reasoning = min(reasoning, budget)
    if reasoning == script.reasoning_tokens:
        return script
    return dataclasses.replace(script, reasoning_tokens=reasoning,
                               tokens=max(0, script.tokens - (script.reasoning_tokens - reasoning)))


def cached_script(script: Script, hits: int, words: int) -> Script:
    """The script of a prompt of ``words`` words of which the prefix cache served ``hits``:
    a shorter time to the first token, as a server that skips the cached prefill (see
    ``Script.cached_ttft_ms``); unchanged without one."""
    if script.cached_ttft_ms is None or not hits or not words:
        return script
    ttft = script.cached_ttft_ms + (script.ttft_ms - script.cached_ttft_ms) * (words - hits) / words
    return dataclasses.replace(script, ttft_ms=ttft)


def preset(default: Script, model: str, slow_s: float) -> Script:
    """Behaviours picked by the model name (kept for the fault tests):
    ``stub-http-<status>``, ``stub-cut``, ``stub-malformed``, ``stub-slow``, ``stub-reasoning``."""
    if model.startswith("stub-http-"):
        return dataclasses.replace(default, http_status=int(model.rsplit("-", 1)[1]))
    return {
        "stub-cut": lambda: dataclasses.replace(default, cut_after=2),
        "stub-malformed": lambda: dataclasses.replace(default, malformed_after=1),
        "stub-slow": lambda: dataclasses.replace(default, ttft_ms=slow_s * 1000),
        "stub-reasoning": lambda: dataclasses.replace(default, reasoning_tokens=1),
    }.get(model, lambda: default)()


def script_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Script()
    parser.add_argument("--tokens", type=int, default=defaults.tokens)
    parser.add_argument("--ttft-ms", type=float, default=defaults.ttft_ms)
    parser.add_argument("--gap-ms", "--token-delay-ms", dest="gap_ms", type=float, default=defaults.gap_ms)
    parser.add_argument("--chunk-tokens", type=int, default=defaults.chunk_tokens)
    parser.add_argument("--first-chunk-tokens", type=int, default=defaults.first_chunk_tokens)
    parser.add_argument("--no-role-chunk", dest="role_chunk", action="store_false")
    parser.add_argument("--usage", choices=["final", "absent", "continuous"], default=defaults.usage)
    parser.add_argument("--reasoning-tokens", type=int, default=defaults.reasoning_tokens)
    parser.add_argument("--script", default=None, help="any other Script fields, as a JSON object")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slow-s", type=float, default=30.0, help="how long the stub-slow model waits")
    parser.add_argument("--keepalive-s", type=float, default=75.0,
                        help="how long an idle kept-alive connection stays open (uvicorn, behind vLLM: 5 s)")
    script_arguments(parser)
    args = parser.parse_args(argv)
    script = Script(tokens=args.tokens, ttft_ms=args.ttft_ms, gap_ms=args.gap_ms, chunk_tokens=args.chunk_tokens,
                    first_chunk_tokens=args.first_chunk_tokens, role_chunk=args.role_chunk, usage=args.usage,
                    reasoning_tokens=args.reasoning_tokens).updated(json.loads(args.script) if args.script else None)
    try:
        import uvloop  # optional: a faster event loop if installed

        uvloop.install()
    except ImportError:
        pass
    web.run_app(make_app(script, args.slow_s), host=args.host, port=args.port, print=None, access_log=None,
                backlog=4096, keepalive_timeout=args.keepalive_s)


class ScriptedServer:
    """A handle on a running scripted server: its URL and what it saw."""

    def __init__(self, url: str) -> None:
        self.url = url

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/stats", timeout=30) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(self.url + "/stats/reset", method="POST"), timeout=30).close()


@contextlib.contextmanager
def start_scripted_server(script: Script | None = None, *, slow_s: float = 30.0, timeout_s: float = 30.0,
                          cpu: int | None = None, keepalive_s: float = 75.0,
                          port: int | None = None) -> Iterator[ScriptedServer]:
    """Run the server in a subprocess on a loopback port (``port``, else a free one;
    pinned to CPU ``cpu`` when given; idle connections closed after ``keepalive_s``);
    yields a :class:`ScriptedServer`."""
    from openaiperf.engines.managed_server import free_port

    script = script or Script()
    changes = {f.name: getattr(script, f.name) for f in dataclasses.fields(script)}
    port = port or free_port()
    command = [sys.executable, "-m", "openaiperf.testing.scripted_server", "--port", str(port), "--slow-s",
               str(slow_s), "--keepalive-s", str(keepalive_s), "--script", json.dumps(changes)]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"scripted server exited with code {process.returncode}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"scripted server not healthy within {timeout_s} s") from None
                time.sleep(0.05)
        yield ScriptedServer(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
