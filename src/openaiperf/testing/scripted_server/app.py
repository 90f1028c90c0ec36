"""The scripted server's HTTP application: completions and chat completions (each
request's script served on an absolute schedule from the moment it is read, so sleep
overshoot does not add up along a stream; a scripted capacity's queue first, a batching
script's chunks later the more responses run), the
model list, health, ``/stats`` and ``/metrics``."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from aiohttp import web

from openaiperf.testing.scripted_server.faults import http_error, injected_fault, mid_stream_fault, respond_raw
from openaiperf.testing.scripted_server.metrics import ServerMetrics
from openaiperf.testing.scripted_server.pooling import serve_pooling
from openaiperf.testing.scripted_server.request_script import (
    THINKING_FIELDS,
    adapter_script,
    cached_prompt_tokens,
    cached_script,
    preset,
    prompt_words,
    thinking_script,
)
from openaiperf.testing.scripted_server.script import MODEL, PROMPT_TOKENS, Script
from openaiperf.testing.scripted_server.stats import Stats
from openaiperf.testing.scripted_server.stream import plan, token_words


def make_app(default: Script | None = None, slow_s: float = 30.0) -> web.Application:
    """The aiohttp application; ``default`` is every request's script unless its body changes it."""
    default = default or Script()
    stats = Stats()
    metrics = ServerMetrics()
    slots: dict[int, asyncio.Semaphore] = {}  # one per scripted capacity

    def note_arrival(request: web.Request) -> float:
        """Note a request's arrival (its time and its connection's peer); its arrival time."""
        arrival = time.perf_counter()
        stats.arrivals.append(arrival)
        stats.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        return arrival

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
        arrival = note_arrival(request)
        loop = asyncio.get_running_loop()
        start = loop.time()
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
        fault = injected_fault(script, arrived)
        if fault is not None:
            stats.faults[fault] = stats.faults.get(fault, 0) + 1
            script = script.with_fault(fault)
        if script.vary_under_load is not None and metrics.running > 0:
            script = dataclasses.replace(script, alt_after=script.vary_under_load)
        words = prompt_words(body)
        hits = metrics.lookup(words, script.prefix_cache_block)
        script = cached_script(script, hits, len(words))
        cached = cached_prompt_tokens(script, body, hits)
        prompt_tokens = len(words) if script.prompt_words else PROMPT_TOKENS
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
            return http_error(script)
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
        due = start
        faulty = script.cut_after is not None or script.error_after is not None or script.malformed_after is not None
        for index, (offset, payload) in enumerate(chunks):
            if faulty and await mid_stream_fault(request, response, script, sent):
                return response
            if index and script.batch_slowdown:
                # a batching server: this chunk's wait grows with the responses running now
                due += script.batch_gap_s(sizes[index], metrics.running)
            else:
                due = start + offset
            delay = due - loop.time()
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

    async def pool(request: web.Request) -> web.Response:
        """``/v1/embeddings`` and ``/v1/rerank`` (:mod:`openaiperf.testing.scripted_server.pooling`)."""
        arrival = note_arrival(request)
        body = await request.json()
        model = str(body.get("model", MODEL))
        stats.received.append({"arrival": arrival, "path": request.path, "model": model, "input": body.get("input"),
                               "query": body.get("query"), "documents": body.get("documents")})
        try:
            script = default.updated(body.get("script"))
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": {"message": f"bad script: {exc}"}}, status=400)
        metrics.running += 1
        try:
            return await serve_pooling(request, body, script, model, slots)
        finally:
            metrics.running -= 1
            metrics.finished += 1

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/stats", get_stats)
    app.router.add_post("/stats/reset", reset_stats)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_post("/v1/chat/completions", complete)
    app.router.add_post("/v1/completions", complete)
    app.router.add_post("/v1/embeddings", pool)
    app.router.add_post("/v1/rerank", pool)
    return app
