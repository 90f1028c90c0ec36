"""Server-sent events of OpenAI-compatible streaming responses.

:class:`StreamReader` (moved here from the engine) times one streamed response onto its record.
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
from typing import Any, cast

from openaiperf.records import Record

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


def chunk_token_ids(data: dict[str, Any]) -> list[int] | None:
    """The token ids a chunk carries (vLLM's ``return_token_ids``), or None when it has none."""
    choices = data.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        ids = choice.get("token_ids") if isinstance(choice, dict) else None
        if isinstance(ids, list) and all(type(i) is int for i in ids):
            return ids
    return None


class RequestFailed(Exception):
    """One request failed; the message becomes the record's error."""


class StreamReader:
    """The events of one streamed response, onto its record: every chunk that
    carries generated text (or, with continuous usage, tokens) is timed; its
    token count is the rise of the cumulative usage when the server sends one on
    every chunk, else one for now (worked out after the round)."""

    def __init__(self, record: Record, continuous: bool) -> None:
        self.record = record
        self.continuous = continuous
        self.usage: dict[str, Any] | None = None
        self.reasoning: list[str] = []
        self.answer: list[str] = []
        self.finished = False
        self.done = 0.0
        self.counted = 0  # completion tokens given to chunks so far (continuous usage, or token ids)
        self.every_chunk_counted = continuous
        self.by_token_ids = False  # the chunks carry their token ids (exact counts, with or without text)
        self.pending = b""  # the start of a line whose end has not arrived yet

    def feed_bytes(self, data: bytes, now: float) -> None:
        """What one read of the response returned, at ``now``: whatever arrived in one
        read arrived at one instant, so it is timed once, then split into lines
        (cheaper than awaiting each line on its own); a partial last line waits."""
        if self.finished:
            # Read on to the end of the response: a connection released mid-response
            # is closed, and the next request would pay for a new one.
            return
        self.pending += data
        if b"\n" not in data:
            return
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            if line and line != b"\r" and self.feed(line, now):
                break

    def feed_end(self, now: float) -> None:
        """The response ended: a last line without its line break is read too."""
        if self.pending.strip() and not self.finished:
            self.feed(self.pending, now)

    def feed(self, line: bytes, now: float) -> bool:
        """One line of the stream, read at ``now``; True at ``[DONE]``."""
        event = parse_sse_line(line)
        if event is None:
            return False
        if event.done:
            self.finished, self.done = True, now
            return True
        data = cast(dict[str, Any], event.data)  # only the [DONE] event has none
        record = self.record
        thought, text = chunk_parts(data)
        cumulative = completion_tokens(data) if self.continuous else None
        ids = chunk_token_ids(data)
        if ids is not None:
            # The server's own ids: a chunk's tokens, exact, even with no text (no server tokenizer).
            self.by_token_ids = True
            if ids:
                record.mark_chunk(now, len(ids), len(thought) + len(text))
                self.counted += len(ids)
            self.keep_text(thought, text, now)
        elif thought or text:
            if cumulative is None:
                self.every_chunk_counted = False
                tokens = 1
            elif cumulative < self.counted:
                raise MalformedSSE(f"malformed SSE data (usage.completion_tokens went down from {self.counted} "
                                   f"to {cumulative})")
            else:
                tokens, self.counted = cumulative - self.counted, cumulative
            record.mark_chunk(now, tokens, len(thought) + len(text))
            self.keep_text(thought, text, now)
        elif (cumulative is not None and cumulative > self.counted and record.first_token is not None
              and data.get("choices")):
            # A chunk with no text that still carried tokens (e.g. the stop token).
            record.mark_chunk(now, cumulative - self.counted, 0)
            self.counted = cumulative
        if data.get("usage") and isinstance(data["usage"], dict):
            self.usage = data["usage"]
        return False

    def keep_text(self, thought: str, text: str, now: float) -> None:
        """A chunk's reasoning and answer text; the first answer text is when the answer began (TTFO)."""
        if thought:
            self.reasoning.append(thought)
        if text:
            self.answer.append(text)
            if self.record.first_answer is None:
                self.record.first_answer = now

    def finish(self) -> None:
        record = self.record
        if not self.finished:
            raise RequestFailed(f"stream cut: the response ended without [DONE] after {len(record.chunk_times)} chunks")
        record.done = self.done
        record.text = "".join(self.answer)
        record.reasoning = "".join(self.reasoning)
        if self.usage:
            record.input_tokens = usage_count(self.usage, "prompt_tokens")
            record.output_tokens = usage_count(self.usage, "completion_tokens")
            record.reasoning_tokens = usage_count(self.usage.get("completion_tokens_details"), "reasoning_tokens")
            record.cached_tokens = usage_count(self.usage.get("prompt_tokens_details"), "cached_tokens")
        if self.by_token_ids:
            record.token_source = "engine"
            if record.output_tokens is None:
                record.output_tokens = self.counted
            elif record.output_tokens > self.counted and record.chunk_times:
                record.chunk_tokens[-1] += record.output_tokens - self.counted
        elif self.every_chunk_counted and record.chunk_times:
            record.token_source = "usage"
            if record.output_tokens is not None and record.output_tokens > self.counted:
                record.chunk_tokens[-1] += record.output_tokens - self.counted  # counted only in the final usage
        else:
            record.token_source = "pending"  # worked out by complete_records, after the round
