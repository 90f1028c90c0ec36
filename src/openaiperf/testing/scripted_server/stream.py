"""The bytes of a scripted response: its SSE events (role chunk, token chunks with
their usage, the usage chunk and ``[DONE]``), planned once per shape with each
chunk's time."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from openaiperf.testing.scripted_server.script import PROMPT_TOKENS, Script


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
