"""Requests and records: one request's life, from scheduled send to last token.

Times are ``time.perf_counter()`` seconds. A :class:`Record` is written to the
case's JSONL file as soon as it completes, with its times made relative to the
round's start (``t0``) so a file can be read on its own.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable


@dataclass(frozen=True)
class Request:
    """What a task asks of an engine.

    ``messages`` (chat) or ``prompt`` (plain text) is set; engines apply the
    model's chat template to ``messages`` when the model has one.
    """

    id: str
    sample_id: str
    max_tokens: int
    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    # Ask the engine to generate exactly max_tokens (synthetic workloads).
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError(f"request {self.id}: exactly one of messages or prompt must be set")


@dataclass
class Record:
    """One request's life. Every time is perf_counter seconds (absolute while
    running; relative to the round start in the JSONL)."""

    request_id: str
    sample_id: str
    round: int = 0
    scheduled: float = 0.0
    sent: float | None = None
    first_token: float | None = None
    token_times: list[float] = field(default_factory=list)
    done: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    # Output token count by the client's tokenizer (the openai engine), to compare with the engine's usage.
    client_output_tokens: int | None = None
    text: str = ""
    error: str | None = None
    warmup: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.done is not None

    def mark_token(self, when: float | None = None) -> None:
        """Note the arrival of one generated token (the first sets TTFT)."""
        when = time.perf_counter() if when is None else when
        if self.first_token is None:
            self.first_token = when
        self.token_times.append(when)

    def fail(self, reason: str, when: float | None = None) -> None:
        self.error = reason
        self.done = time.perf_counter() if when is None else when

    def to_json(self, t0: float) -> dict[str, Any]:
        """A JSON-ready dict with times relative to ``t0``."""

        def rel(value: float | None) -> float | None:
            return None if value is None else round(value - t0, 6)

        data = asdict(self)
        for key in ("scheduled", "sent", "first_token", "done"):
            data[key] = rel(data[key])
        data["token_times"] = [rel(t) for t in self.token_times]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        return cls(**data)


class RecordWriter:
    """Appends records to a JSONL file as they complete (thread-safe), so a case
    that dies mid-run keeps every record finished before."""

    def __init__(self, path: Path, t0: float):
        self.path = path
        self.t0 = t0
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    def write(self, record: Record) -> None:
        data = record.to_json(self.t0)
        if data["error"]:
            # an engine's error may quote its endpoint (with URL credentials) or a request header
            from openaiperf.redact import redact_text

            data["error"] = redact_text(data["error"])
        line = json.dumps(data, ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


RecordSink = Callable[[Record], None]


def read_records(path: Path) -> list[Record]:
    """Read a JSONL file written by :class:`RecordWriter` (times relative to its round)."""
    with path.open(encoding="utf-8") as handle:
        return [Record.from_json(json.loads(line)) for line in handle if line.strip()]


def measured(records: Iterable[Record]) -> list[Record]:
    """The records that count: warmup requests are never measured."""
    return [r for r in records if not r.warmup]
