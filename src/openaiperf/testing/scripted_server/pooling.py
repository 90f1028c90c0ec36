"""The scripted server's pooling endpoints, ``/v1/embeddings`` and ``/v1/rerank``: ground
truth for the ``embeddings`` and ``rerank`` tasks (a test instrument: no model runs).

A pooling request is answered whole after a scripted latency of ``pool_base_ms`` plus
``pool_token_ms`` per input token (:func:`pooling_latency_s`), from the moment it is read (or
from the moment it gets one of ``max_concurrency`` slots: at most that many are served at once,
so the server pools ``max_concurrency`` requests per latency). An input's tokens are its
words (a text) or its ids (a token array); a rerank request's are the query's and every
document's (as a bi-encoder embeds each). The answers are deterministic: an embedding of
``pool_dimensions`` values from the input's token count and position, a relevance score per
document (the share of its words found in the query); ``usage.prompt_tokens`` is the token
count. ``pool_fault`` spoils every answer on purpose (``nan``: a value that is not finite;
``short``: one output fewer than the inputs; ``dimension``: the last embedding one value
longer) for the validity checks. The Script fields (``pool_*``) are the server's defaults,
updated by a request's ``script`` object, as for completions.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, Protocol

from aiohttp import web


class PoolingScriptFields(Protocol):
    """The Script fields the pooling endpoints read."""

    @property
    def pool_base_ms(self) -> float: ...
    @property
    def pool_token_ms(self) -> float: ...
    @property
    def pool_dimensions(self) -> int: ...
    @property
    def pool_fault(self) -> str: ...
    @property
    def max_concurrency(self) -> int: ...
    @property
    def http_status(self) -> int | None: ...


#: the faults ``pool_fault`` injects into every answer
POOL_FAULTS = ("", "nan", "short", "dimension")


def input_tokens(item: Any) -> int:
    """Tokens of one input: its words (a text) or its ids (a token array)."""
    return len(item) if isinstance(item, list) else len(str(item).split())


def pooled_items(path: str, body: dict[str, Any]) -> tuple[list[int], int]:
    """(tokens of each pooled output's input, tokens of the whole request) of a request body."""
    if path.endswith("/rerank"):
        documents = [input_tokens(d) for d in body.get("documents") or []]
        return documents, input_tokens(body.get("query", "")) + sum(documents)
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) and (not inputs or not isinstance(inputs[0], int)) else [inputs]
    tokens = [input_tokens(i) for i in items]
    return tokens, sum(tokens)


def pooling_latency_s(script: PoolingScriptFields, tokens: int) -> float:
    """The scripted latency of a pooling request of ``tokens`` input tokens (its truth)."""
    return (script.pool_base_ms + script.pool_token_ms * tokens) / 1000


def embedding(tokens: int, index: int, dimensions: int) -> list[float]:
    """A deterministic unit-free vector of an input."""
    return [round(math.sin((tokens + 1) * (j + 1) + index), 6) for j in range(dimensions)]


def relevance(query: str, document: Any) -> float:
    """The share of a document's words found in the query."""
    words = str(document).split()
    asked = set(str(query).split())
    return sum(w in asked for w in words) / len(words) if words else 0.0


def pooling_answer(path: str, body: dict[str, Any], script: PoolingScriptFields, model: str) -> dict[str, Any]:
    """The JSON answer of a pooling request (before ``pool_fault`` faults it)."""
    per_item, total = pooled_items(path, body)
    usage = {"prompt_tokens": total, "total_tokens": total}
    if path.endswith("/rerank"):
        query = body.get("query", "")
        results: list[dict[str, Any]] = [{"index": i, "document": {"text": d}, "relevance_score": relevance(query, d)}
                                         for i, d in enumerate(body.get("documents") or [])]
        results.sort(key=lambda r: -float(r["relevance_score"]))
        if script.pool_fault == "nan" and results:
            results[0]["relevance_score"] = math.nan
        if script.pool_fault == "short":
            results = results[:-1]
        return {"id": "scripted-rerank", "model": model, "usage": usage, "results": results}
    data: list[dict[str, Any]] = [
        {"index": i, "object": "embedding", "embedding": embedding(t, i, script.pool_dimensions)}
        for i, t in enumerate(per_item)]
    if script.pool_fault == "nan" and data:
        data[0]["embedding"][0] = math.nan
    if script.pool_fault == "dimension" and data:
        data[-1]["embedding"].append(0.0)
    if script.pool_fault == "short":
        data = data[:-1]
    return {"object": "list", "model": model, "usage": usage, "data": data}


async def serve_pooling(request: web.Request, body: dict[str, Any], script: PoolingScriptFields, model: str,
                        slots: dict[int, asyncio.Semaphore]) -> web.Response:
    """Answer one pooling request after its scripted latency (in a slot of ``max_concurrency``)."""
    if script.http_status:
        return web.json_response({"error": {"message": f"scripted HTTP {script.http_status}"}},
                                 status=script.http_status)
    if script.pool_fault not in POOL_FAULTS:
        return web.json_response({"error": {"message": f"pool_fault must be one of {POOL_FAULTS}"}}, status=400)
    _, tokens = pooled_items(request.path, body)
    slot = slots.setdefault(script.max_concurrency, asyncio.Semaphore(script.max_concurrency)) \
        if script.max_concurrency else None
    if slot is not None:
        await slot.acquire()
    try:
        started = time.perf_counter()
        answer = pooling_answer(request.path, body, script, model)
        await asyncio.sleep(max(0.0, started + pooling_latency_s(script, tokens) - time.perf_counter()))
    finally:
        if slot is not None:
            slot.release()
    return web.json_response(answer)
