"""Requests and records: one request's life, from scheduled send to last token.

Times are ``time.perf_counter()`` seconds. A :class:`Record` is written to the
case's JSONL file as soon as it completes, with its times made relative to the
round's start (``t0``) so a file can be read on its own.

Engines deliver generated tokens in *chunks* (an SSE event, a vLLM delta output,
a transformers decoding step), and a chunk may carry several tokens. A record
keeps what was observed: each chunk's arrival time (``chunk_times``), how many
tokens it carried (``chunk_tokens``, with ``token_source`` saying where that
count comes from) and where its text ends (``chunk_ends``, so tokens can be
counted after the run). Per-token times are derived (:attr:`Record.token_times`):
a chunk of k tokens that arrives g seconds after the previous one gives k gaps of
g/k; the tokens of the very first chunk arrive with the first token.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeAlias

from typing_extensions import TypeIs

from openaiperf.redact import redact_text


@dataclass(frozen=True)
class Request:
    """What a task asks of an engine.

    ``messages`` (chat), ``prompt`` (plain text) or ``prompt_token_ids`` (the
    prompt as token ids) is set; engines apply the model's chat template to
    ``messages`` when the model has one. A prompt may come as both ids and text
    (the text decoded from the ids, when a tokenizer was at hand): engines that
    take ids use them as they are (no tokenizer, no re-tokenization), the others
    the text.
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
    #: the prompt as token ids of the model's vocabulary (no special tokens added by engines)
    prompt_token_ids: tuple[int, ...] | None = None
    #: a turn of a multi-turn session: the session's id and the turn's number (1, 2, ...)
    session_id: str | None = None
    turn: int | None = None
    #: when a trace says this request arrives, seconds after the trace's first request
    arrival_s: float | None = None
    #: the salt in front of the prompt (:meth:`salted`), recorded with the request's record
    salt: str | None = None
    #: the served model this request names instead of the engine's (a LoRA adapter: ``--lora-split``)
    model: str | None = None
    #: fields an HTTP engine adds to the request's body as they are (the task file's
    #: ``input_profile.request_body``: a reasoning model's ``chat_template_kwargs``, a thinking budget)
    body: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.prompt_token_ids is not None:
            object.__setattr__(self, "prompt_token_ids", tuple(int(t) for t in self.prompt_token_ids))
            if not self.prompt_token_ids:
                raise ValueError(f"request {self.id}: prompt_token_ids is empty")
        if self.messages is not None and (self.prompt is not None or self.prompt_token_ids is not None):
            raise ValueError(f"request {self.id}: messages exclude prompt and prompt_token_ids")
        if self.messages is None and self.prompt is None and self.prompt_token_ids is None:
            raise ValueError(f"request {self.id}: one of messages, prompt or prompt_token_ids must be set")

    def tagged(self, tag: str) -> Request:
        """The request with ``tag`` in front of its prompt (or its first message): a
        prefix of its own, which no prompt without the same tag shares. Token ids
        (when the request has them) start with salt ids drawn with ``tag`` (see :meth:`salted`)."""
        ids = self.prompt_token_ids
        if ids is not None:
            salted_ids = salt_token_ids(ids, tag)
            if self.prompt is None:
                return replace(self, prompt_token_ids=salted_ids)
            return replace(self, prompt_token_ids=salted_ids, prompt=tag_text(self.prompt, tag))
        if self.messages is not None:
            return replace(self, messages=tag_messages(self.messages, tag))
        return replace(self, prompt=tag_text(self.prompt or "", tag))

    def salted(self, salt: str) -> Request:
        """The request with the salt ``salt`` at the very start of its prompt, recorded in
        ``salt``: a text prompt (or the first message) starts with ``salt`` and a space;
        a prompt of token ids has its first :data:`SALT_TOKENS` ids replaced by ids drawn
        from its own ids with a generator seeded by ``salt`` (its length is kept, and no id
        outside the prompt's vocabulary is used). Salts in front of salts add up."""
        return replace(self.tagged(salt), salt=f"{salt} {self.salt}" if self.salt else salt)

    def warmup_copy(self, index: int) -> Request:
        """The request as warmup request ``index``: a new id, and a prompt that starts
        with a short tag of its own, so that an engine's prefix cache cannot turn the
        measured requests that follow into cache hits of their warmup."""
        ids = self.prompt_token_ids
        if ids is not None and self.salt is None:
            # Token ids have no tag: the same ids rotated (same length, same vocabulary)
            # start differently, which is what a prefix cache keys on.
            shift = (index + 1) % len(ids)
            rotated = replace(self, prompt_token_ids=ids[shift:] + ids[:shift])
            tagged = rotated if self.prompt is None else rotated.tagged(f"[warmup {index}]")
            return replace(tagged, id=f"warmup-{index}:{self.id}")
        # A salted request: salt ids of the warmup's own (drawn with the request's salt, so fresh per run)
        return replace(self.salted(f"[warmup {index}]"), id=f"warmup-{index}:{self.id}")



@dataclass(frozen=True)
class PoolingRequest(Request):
    """A request that is not generation: inputs to embed (``kind="embeddings"``: ``inputs``
    as texts, or ``input_token_ids``), or a query and the documents to rank against it
    (``kind="rerank"``). HTTP engines send it whole and read one JSON answer (no stream):
    its record has a latency and the server's input token count, and no first-token or
    per-token times. ``max_tokens`` is 0 (nothing is generated)."""

    kind: Literal["embeddings", "rerank"] = "embeddings"
    inputs: tuple[str, ...] = ()
    input_token_ids: tuple[tuple[int, ...], ...] | None = None
    query: str = ""
    documents: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == "rerank":
            if not self.query or not self.documents:
                raise ValueError(f"request {self.id}: a rerank request needs a query and at least one document")
        elif not (self.inputs or self.input_token_ids):
            raise ValueError(f"request {self.id}: an embeddings request needs at least one input")

    @property
    def items(self) -> int:
        """How many inputs the server pools: the inputs embedded, or the documents ranked."""
        if self.kind == "rerank":
            return len(self.documents)
        return len(self.input_token_ids) if self.input_token_ids else len(self.inputs)

    def tagged(self, tag: str) -> PoolingRequest:
        """Every input (or the query and every document) with ``tag`` in front: each starts
        with a prefix of its own (token-id inputs: salt ids, their length kept)."""
        if self.kind == "rerank":
            return replace(self, query=tag_text(self.query, tag),
                           documents=tuple(tag_text(d, tag) for d in self.documents))
        ids = self.input_token_ids
        return replace(self, inputs=tuple(tag_text(text, tag) for text in self.inputs),
                       input_token_ids=None if ids is None else tuple(salt_token_ids(i, tag) for i in ids))

#: how many leading token ids a salt replaces in a prompt of token ids
SALT_TOKENS = 4


def salt_token_ids(ids: Sequence[int], salt: str) -> tuple[int, ...]:
    """``ids`` with the first :data:`SALT_TOKENS` (all of a shorter prompt) replaced by
    ids drawn from ``ids`` themselves, seeded by ``salt`` and the
    ids they replace: a different salt gives a different start (with near certainty:
    4 draws among a prompt's distinct ids), the same salt the same ids."""
    import hashlib

    import numpy as np

    count = min(SALT_TOKENS, len(ids))
    key = hashlib.sha256(f"{salt}|{','.join(map(str, ids[:count]))}".encode()).digest()
    choices = np.unique(np.asarray(ids, dtype=np.int64))
    drawn = np.random.default_rng(int.from_bytes(key[:8], "little")).choice(choices, size=count)
    return tuple(int(t) for t in drawn) + tuple(ids[count:])


def tag_text(text: str, tag: str) -> str:
    """``tag`` in front of ``text``, with a space between unless ``text`` starts with one."""
    return tag + ("" if text[:1].isspace() else " ") + text


def tag_messages(messages: Sequence[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    """The messages with ``tag`` in front of the first one's content."""
    first, *rest = messages
    content = first.get("content")
    # Content is a string, or a list of parts (text, images) in the OpenAI format.
    tagged: Any = [{"type": "text", "text": tag + " "}, *content] if isinstance(content, list) else tag_text(
        content or "", tag)
    return [{**first, "content": tagged}, *rest]


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation: what the user says, the answer the dataset recorded,
    and how many tokens the turn may generate."""
    user: str
    reply: str
    max_tokens: int


@dataclass(frozen=True)
class Session:
    """A multi-turn conversation, replayed turn by turn as a chat client would: turn k's
    request carries the conversation so far (every earlier user message and answer:
    the model's own answers with ``history="model"``, the recorded ones with
    ``"recorded"``), is sent when turn k - 1 has been answered and the user has
    thought for a while (``think_time_s``: fixed, or exponential with that mean,
    seeded per session), and is one :class:`Request` with ``session_id`` and ``turn``."""

    id: str
    sample_id: str
    turns: tuple[Turn, ...]
    system: str | None = None
    #: chat messages (the model has a chat template); else the history as one plain-text prompt
    chat: bool = True
    history: Literal["model", "recorded"] = "model"
    think_time_s: float = 0.0
    think_time: Literal["fixed", "exponential"] = "fixed"
    seed: int = 0
    temperature: float = 0.0
    top_p: float = 1.0
    #: a tag in front of the first user message (see :meth:`tagged`)
    tag: str = ""

    def __post_init__(self) -> None:
        if not self.turns:
            raise ValueError(f"session {self.id}: no turns")

    def request_id(self, turn: int) -> str:
        return f"{self.id}/t{turn}"

    def request(self, turn: int, answers: Sequence[str]) -> Request:
        """The request of turn ``turn`` (1-based), given the answers to the turns before it."""
        if not 1 <= turn <= len(self.turns) or len(answers) < turn - 1:
            raise ValueError(f"session {self.id}: turn {turn} needs {turn - 1} earlier answer(s), got {len(answers)}")
        users = [t.user for t in self.turns[:turn]]
        if self.tag:
            users[0] = tag_text(users[0], self.tag)
        common = dict(id=self.request_id(turn), sample_id=self.sample_id, max_tokens=self.turns[turn - 1].max_tokens,
                      temperature=self.temperature, top_p=self.top_p, session_id=self.id, turn=turn,
                      salt=self.tag or None)
        if self.chat:
            messages: list[dict[str, str]] = [{"role": "system", "content": self.system}] if self.system else []
            for index, user in enumerate(users):
                messages.append({"role": "user", "content": user})
                if index < turn - 1:
                    messages.append({"role": "assistant", "content": answers[index]})
            return Request(messages=messages, **common)  # type: ignore[arg-type]
        lines = [self.system] if self.system else []
        for index, user in enumerate(users):
            lines.append(f"User: {user}")
            lines.append(f"Assistant: {answers[index]}" if index < turn - 1 else "Assistant:")
        return Request(prompt="\n".join(lines), **common)  # type: ignore[arg-type]

    def answer(self, turn: int, record: Record) -> str:
        """What the conversation keeps as the answer to ``turn``: the model's, or the recorded one."""
        return record.text if self.history == "model" else self.turns[turn - 1].reply

    def think_times(self) -> list[float]:
        """The pause before each turn after the first, seconds (seeded: the same in every run)."""
        gaps = len(self.turns) - 1
        if self.think_time_s <= 0 or gaps <= 0:
            return [0.0] * max(gaps, 0)
        if self.think_time == "fixed":
            return [self.think_time_s] * gaps
        import numpy as np

        return [float(v) for v in np.random.default_rng(self.seed).exponential(self.think_time_s, gaps)]

    def tagged(self, tag: str) -> Session:
        """The session with ``tag`` in front of its first user message: every turn's
        prompt then starts with it (see :meth:`Request.tagged`)."""
        return replace(self, tag=f"{tag} {self.tag}".strip() if self.tag else tag)

    def salted(self, salt: str) -> Session:
        """The session with the salt ``salt`` in front of every turn's prompt (as :meth:`tagged`)."""
        return self.tagged(salt)

    def warmup_copy(self, index: int, turns: int = 1) -> Session:
        """Warmup session ``index``: a new id, its own tag, its first ``turns`` turns."""
        return replace(self.tagged(f"[warmup {index}]"), id=f"warmup-{index}:{self.id}",
                       turns=self.turns[:max(1, turns)])

    def repeat(self, cycle: int) -> Session:
        return replace(self, id=f"{self.id}~{cycle}")


#: what a task builds and a scenario sends: requests, or multi-turn sessions (a task kind that
#: ``builds_sessions``; each session's turns become requests as they are sent)
Workload: TypeAlias = Sequence[Request] | Sequence[Session]


def is_sessions(items: Workload) -> TypeIs[Sequence[Session]]:
    """Whether a workload is multi-turn sessions (a task's ``build_requests`` returned them)."""
    return bool(items) and isinstance(items[0], Session)


def salted_workload(items: Workload, salt: Callable[[int], str]) -> Workload:
    """Every request or session of ``items`` salted with ``salt(index)`` (see :meth:`Request.salted`)."""
    if is_sessions(items):
        return [session.salted(salt(index)) for index, session in enumerate(items)]
    return [request.salted(salt(index)) for index, request in enumerate(items)]


#: where a record's ``chunk_tokens`` come from, best first
TOKEN_SOURCES = {
    "engine": "the engine's own token ids (exact)",
    "usage": "the server's continuous usage (cumulative completion_tokens on every chunk; exact)",
    "tokenizer": "the client tokenizer run on the output text after the round, reconciled with the server's total",
    "text_length": "the server's total spread over the chunks by their text length (estimated)",
    "chunks": "one token per chunk (no server usage and no tokenizer: a chunk count, not a token count)",
    "pending": "one per chunk for now: the engine works the counts out after the round (complete_records)",
}


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
    #: arrival of every chunk that carried generated text or tokens
    chunk_times: list[float] = field(default_factory=list)
    #: tokens each chunk carried (see ``token_source``)
    chunk_tokens: list[int] = field(default_factory=list)
    #: character offset in ``reasoning + text`` where each chunk's text ends (0s from an
    #: engine that counts tokens itself and keeps no per-chunk text, e.g. hf)
    chunk_ends: list[int] = field(default_factory=list)
    #: where ``chunk_tokens`` come from: a key of :data:`TOKEN_SOURCES`
    token_source: str = "engine"
    #: False when the engine gave one time per request (at its end) and no first-token
    #: or per-token times: TTFT, TPOT and ITL are then unknown, never 0
    timed_tokens: bool = True
    done: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    # Output token count by the client's tokenizer (the openai engine), to compare with the engine's usage.
    client_output_tokens: int | None = None
    text: str = ""
    #: reasoning text (``reasoning_content``) that came before the answer ``text``
    reasoning: str = ""
    #: arrival of the first chunk that carried answer text (not reasoning): the end of TTFO
    first_answer: float | None = None
    #: the reasoning share of ``output_tokens`` as the server reported it
    #: (``usage.completion_tokens_details.reasoning_tokens``); None: not reported
    reasoning_tokens: int | None = None
    #: the prompt tokens the server's prefix cache served (``usage.prompt_tokens_details.cached_tokens``,
    #: vLLM with ``--enable-prompt-tokens-details``); None: not reported
    cached_tokens: int | None = None
    error: str | None = None
    warmup: bool = False
    #: measured in an attempt of its round that the client stalled in, and measured again (never counted)
    discarded: bool = False
    #: the session and turn (1, 2, ...) of a multi-turn request; None for a single request
    session_id: str | None = None
    turn: int | None = None
    #: the salt at the start of the request's prompt (None: sent as the task built it)
    salt: str | None = None
    #: the load generator's worker that sent it (0, 1, ...; None: the case's own process)
    worker: int | None = None

    #: the client gave up on it before its end (``--cancel-fraction``): neither answered nor failed
    cancelled: bool = False
    #: the served model its request named (a LoRA adapter); None: the engine's
    model: str | None = None
    #: what a pooling request (:class:`PoolingRequest`) got back: ``kind``, ``inputs`` (sent),
    #: ``outputs`` (vectors or scores returned), ``dimension`` (of the embeddings; None for scores),
    #: ``problem`` (None when the answer is well formed: one finite output per input)
    pooling: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.done is not None and not self.cancelled

    @property
    def failed(self) -> bool:
        """Failed (an error, or never done); a cancelled request did not fail."""
        return not self.ok and not self.cancelled

    def cancel(self, when: float | None = None) -> None:
        """The client gave up on the request at ``when`` (now by default)."""
        self.cancelled = True
        self.done = time.perf_counter() if when is None else when

    def mark_chunk(self, when: float | None = None, tokens: int = 1, chars: int = 0) -> None:
        """Note the arrival of one chunk of ``tokens`` generated tokens and ``chars``
        characters of text (the first chunk sets TTFT)."""
        when = time.perf_counter() if when is None else when
        if self.first_token is None:
            self.first_token = when
        self.chunk_times.append(when)
        self.chunk_tokens.append(tokens)
        self.chunk_ends.append((self.chunk_ends[-1] if self.chunk_ends else 0) + chars)

    def mark_token(self, when: float | None = None) -> None:
        """Note the arrival of one generated token (a chunk of one)."""
        self.mark_chunk(when, 1)

    @property
    def token_times(self) -> list[float]:
        """Every generated token's arrival, derived from the chunks: a chunk of k
        tokens g seconds after the previous chunk that carried tokens gives k gaps
        of g/k; the tokens of the first chunk arrive with it."""
        times: list[float] = []
        last: float | None = None
        for when, count in zip(self.chunk_times, self.chunk_tokens):
            if count <= 0:
                continue
            if last is None:
                times += [when] * count
            else:
                step = (when - last) / count
                times += [last + step * (i + 1) for i in range(count)]
            last = when
        return times

    def fail(self, reason: str, when: float | None = None) -> None:
        self.error = reason
        self.done = time.perf_counter() if when is None else when

    def to_json(self, t0: float) -> dict[str, Any]:
        """A JSON-ready dict with times relative to ``t0``."""

        def rel(value: float | None) -> float | None:
            return None if value is None else round(value - t0, 6)

        data = asdict(self)
        for key in ("scheduled", "sent", "first_token", "first_answer", "done"):
            data[key] = rel(data[key])
        data["chunk_times"] = [rel(t) for t in self.chunk_times]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        data = dict(data)
        legacy = data.pop("token_times", None)
        if legacy is not None and "chunk_times" not in data:
            # Files written before chunks were kept: one time per chunk, counted as one token.
            data["chunk_times"] = list(legacy)
            data["chunk_tokens"] = [1] * len(legacy)
            data["chunk_ends"] = [0] * len(legacy)
        return cls(**data)


class RecordWriter:
    """Appends records to a JSONL file as they complete (thread-safe), so a case
    that dies mid-run keeps every record finished before.

    Some of a record is only known after its round (token counts per chunk that
    the client tokenizer works out off the event loop): :meth:`rewrite` then
    replaces the lines this writer appended with the records as they are now,
    atomically (a new file renamed over the old), keeping the earlier rounds' lines."""

    def __init__(self, path: Path, t0: float):
        self.path = path
        self.t0 = t0
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._start = self._file.tell()
        self.written: list[Record] = []

    def write(self, record: Record) -> None:
        data = record.to_json(self.t0)
        if data["error"]:
            # an engine's error may quote its endpoint (with URL credentials) or a request header

            data["error"] = redact_text(data["error"])
        line = json.dumps(data, ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
            self.written.append(record)

    def rewrite(self) -> None:
        """Write every record this writer wrote again, as it is now."""
        with self._lock:
            self._file.close()
            with self.path.open("rb") as handle:
                earlier = handle.read(self._start)
            staging = self.path.with_name(self.path.name + ".tmp")
            with staging.open("wb") as handle:
                handle.write(earlier)
                for record in self.written:
                    handle.write((json.dumps(record.to_json(self.t0), ensure_ascii=False) + "\n").encode("utf-8"))
            os.replace(staging, self.path)
            self._file = self.path.open("a", encoding="utf-8")

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
    """The records that count: warmup requests are never measured, nor the requests of
    an attempt that was measured again because the client stalled in it."""
    return [r for r in records if not (r.warmup or r.discarded)]
