"""Server-sent events of OpenAI-compatible streaming responses.

A streamed completion is a sequence of ``data: {json}`` events ended by
``data: [DONE]``. :func:`parse_sse_line` turns one line into an event;
:func:`chunk_delta` reads the generated text (content or reasoning content) of
one chunk of either endpoint, so that a role-only chunk is told apart from the
first generated token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DONE = "[DONE]"


class MalformedSSE(ValueError):
    """A line of the stream is not a valid event (the record fails with this)."""


@dataclass(frozen=True)
class SSEEvent:
    data: dict[str, Any] | None  # None for the [DONE] sentinel
    done: bool = False


def parse_sse_line(line: str | bytes) -> SSEEvent | None:
    """One line of the stream -> an event, or None for blank lines, comments
    and fields other than ``data`` (``event:``, ``id:``, ``retry:``)."""
    if isinstance(line, bytes):
        line = line.decode("utf-8")
    line = line.rstrip("\r\n")
    if not line or line.startswith(":"):
        return None
    field, sep, value = line.partition(":")
    if not sep:
        raise MalformedSSE(f"malformed SSE line (no field separator): {line[:80]!r}")
    if field != "data":
        if field in ("event", "id", "retry"):
            return None
        raise MalformedSSE(f"malformed SSE line (unknown field {field!r}): {line[:80]!r}")
    value = value[1:] if value.startswith(" ") else value
    if value.strip() == DONE:
        return SSEEvent(data=None, done=True)
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise MalformedSSE(f"malformed SSE data (not JSON: {exc}): {value[:80]!r}") from None
    if not isinstance(data, dict):
        raise MalformedSSE(f"malformed SSE data (not an object): {value[:80]!r}")
    if "error" in data and not data.get("choices"):
        error = data["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise MalformedSSE(f"server error in stream: {message}")
    return SSEEvent(data=data)


def chunk_delta(data: dict[str, Any]) -> str:
    """The generated text one chunk carries: chat ``delta.content`` or
    ``delta.reasoning_content``/``delta.reasoning``, or completions ``text``.
    Empty for a role-only chunk and for the final usage-only chunk."""
    parts: list[str] = []
    for choice in data.get("choices") or ():
        delta = choice.get("delta")
        if isinstance(delta, dict):
            for key in ("reasoning_content", "reasoning", "content"):
                value = delta.get(key)
                if value:
                    parts.append(value)
        text = choice.get("text")
        if text:
            parts.append(text)
    return "".join(parts)


def chunk_content(data: dict[str, Any]) -> str:
    """The answer text (not reasoning) of one chunk, for the record's ``text``."""
    parts: list[str] = []
    for choice in data.get("choices") or ():
        delta = choice.get("delta")
        if isinstance(delta, dict) and delta.get("content"):
            parts.append(delta["content"])
        if choice.get("text"):
            parts.append(choice["text"])
    return "".join(parts)
