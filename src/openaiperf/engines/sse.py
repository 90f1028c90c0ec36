"""Server-sent events of OpenAI-compatible streaming responses.

A streamed completion is a sequence of ``data: {json}`` events ended by
``data: [DONE]``. :func:`parse_sse_line` turns one line into an event;
:func:`chunk_parts` reads the generated text (reasoning and answer) of one chunk
of either endpoint, so that a role-only chunk is told apart from the first
generated token; :func:`completion_tokens` reads a chunk's usage count (with
vLLM's ``continuous_usage_stats`` every chunk has one, cumulative).
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
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedSSE(f"malformed SSE line (not UTF-8: {exc.reason} at byte {exc.start}): "
                               f"{line[:80]!r}") from None
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


def chunk_parts(data: dict[str, Any]) -> tuple[str, str]:
    """(reasoning, answer) text of one chunk of either endpoint: chat
    ``delta.reasoning_content`` or ``delta.reasoning`` (servers name it either way;
    one that sends both sends the same text twice, so the first is taken) and
    ``delta.content``, or completions ``text``. Both empty for a role-only chunk
    and for the final usage-only chunk."""
    reasoning: list[str] = []
    answer: list[str] = []
    choices = data.get("choices") or []
    if not isinstance(choices, list) or not all(isinstance(choice, dict) for choice in choices):
        raise MalformedSSE(f"malformed SSE data (choices is not a list of objects): {str(choices)[:80]!r}")
    for choice in choices:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            thought = _text(delta, "reasoning_content") or _text(delta, "reasoning")
            if thought:
                reasoning.append(thought)
            if content := _text(delta, "content"):
                answer.append(content)
        elif delta is not None:
            raise MalformedSSE(f"malformed SSE data (delta is not an object): {str(delta)[:80]!r}")
        if text := _text(choice, "text"):
            answer.append(text)
    return "".join(reasoning), "".join(answer)


def _text(part: dict[str, Any], key: str) -> str | None:
    """A text field of a chunk (null or absent: None); anything but text is malformed."""
    value = part.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedSSE(f"malformed SSE data ({key} is not text): {str(value)[:80]!r}")
    return value


def chunk_delta(data: dict[str, Any]) -> str:
    """The generated text one chunk carries (reasoning, then answer); empty for a
    role-only chunk and for the final usage-only chunk."""
    reasoning, answer = chunk_parts(data)
    return reasoning + answer


def chunk_content(data: dict[str, Any]) -> str:
    """The answer text (not reasoning) of one chunk, for the record's ``text``."""
    return chunk_parts(data)[1]


def completion_tokens(data: dict[str, Any]) -> int | None:
    """``usage.completion_tokens`` of a chunk, or None when it carries no usage."""
    return usage_count(data.get("usage"), "completion_tokens")


def usage_count(usage: Any, key: str) -> int | None:
    """A token count of a ``usage`` object; None when there is none, or it is not a count."""
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if type(value) is int and value >= 0 else None
