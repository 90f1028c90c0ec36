"""Token counts: the engine's (server ``usage``) against the client tokenizer's,
and how many tokens each streamed chunk carried.

The engine's count is the one metrics use; when the client's tokenizer counts
the same output text differently, the report says by how much. Tokens per chunk
(what per-token ITL needs) are worked out after the round, never on the event
loop that times the stream: :func:`complete_chunk_tokens`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.records import Record


@dataclass
class TokenMismatch:
    metrics: MetricSet
    note: str | None


def token_count_mismatch(records: Sequence[Record]) -> TokenMismatch | None:
    """None when no record has a client count; else totals and a note if they differ."""
    pairs = [(r.output_tokens or 0, r.client_output_tokens) for r in records
             if r.ok and r.client_output_tokens is not None]
    if not pairs:
        return None
    engine = sum(e for e, _ in pairs)
    client = sum(c for _, c in pairs)
    differing = sum(1 for e, c in pairs if e != c)
    relative = (client - engine) / engine if engine else None
    metrics = {
        "client_output_tokens": Metric(float(client), "tokens", Better.NONE),
        "token_count_mismatch": Metric(relative, "fraction", Better.NONE),
    }
    note = None
    if differing:
        note = (f"token counts: the engine (server usage) counted {engine} output tokens, the client tokenizer "
                f"{client} ({relative:+.1%}); {differing} of {len(pairs)} requests differ. Metrics use the engine's.")
    return TokenMismatch(metrics, note)


# -- tokens per chunk, worked out after the round ------------------------------------
def spread(cumulative: Sequence[float], total: int) -> list[int]:
    """Per-chunk token counts that add up to ``total``, in proportion to the
    ``cumulative`` weights (a running sum per chunk): each chunk ends where its
    share of the total, rounded, ends. The first chunk keeps at least one token
    (it is the first token's chunk) when there are any."""
    if not cumulative:
        return []
    last = float(cumulative[-1])
    if last <= 0:
        cumulative = list(range(1, len(cumulative) + 1))
        last = float(len(cumulative))
    ends = [int(round(c * total / last)) for c in cumulative]
    ends[-1] = total
    if total > 0:
        ends = [max(1, e) for e in ends]
    counts, previous = [], 0
    for end in ends:
        counts.append(end - previous)
        previous = end
    return counts


def tokens_per_chunk(chunk_ends: Sequence[int], token_starts: Sequence[int]) -> list[int]:
    """How many tokens start inside each chunk's text (a token is seen when its
    first character arrives); ``chunk_ends`` are the chunks' end offsets."""
    counts = [0] * len(chunk_ends)
    position = 0
    for start in sorted(token_starts):
        while position < len(chunk_ends) - 1 and start >= chunk_ends[position]:
            position += 1
        if counts:
            counts[position] += 1
    return counts


def token_starts(tokenizer: Any, texts: Sequence[str]) -> list[list[int] | None]:
    """The start offset of every token of each text, by one batched call of a fast
    tokenizer (``return_offsets_mapping``); None per text for a slow tokenizer."""
    if not texts:
        return []
    if not getattr(tokenizer, "is_fast", False):
        return [None] * len(texts)
    encoded = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    return [[int(start) for start, _ in offsets] for offsets in encoded["offset_mapping"]]


def complete_chunk_tokens(records: Sequence[Record], tokenizer: Any = None) -> None:
    """Fill in token counts that the event loop left for later, in this order of truth:

    - ``token_source`` ``engine``/``usage``: the counts are exact already; only the
      client tokenizer's total (``client_output_tokens``) is added;
    - with a tokenizer: the output (reasoning, then answer) is tokenized once with
      offsets, each token goes to the chunk where it starts, and the counts are
      rescaled so that they add up to the server's ``usage`` total when it sent one
      (the server's count wins);
    - without one: the server's total is spread over the chunks by their text
      length (``text_length``, an estimate), or, with no total either, every chunk
      counts as one token (``chunks``).
    """
    pending = [r for r in records if r.chunk_times]
    texts = [r.reasoning + r.text for r in pending]
    starts = token_starts(tokenizer, texts) if tokenizer is not None else [None] * len(pending)
    for record, text, offsets in zip(pending, texts, starts):
        if tokenizer is not None:
            if offsets is None:  # a slow tokenizer: each chunk's slice on its own, then the whole
                bounds = [0, *record.chunk_ends]
                counted = [_count(tokenizer, text[a:b]) for a, b in zip(bounds, bounds[1:])]
                client = _count(tokenizer, text)
            else:
                counted = tokens_per_chunk(record.chunk_ends, offsets)
                client = len(offsets)
            record.client_output_tokens = client
        if record.token_source in ("engine", "usage"):
            continue
        if tokenizer is not None:
            total = record.output_tokens if record.output_tokens is not None else client
            record.chunk_tokens = spread(np.cumsum(counted).tolist(), total)
            record.token_source = "tokenizer"
        elif record.output_tokens is not None:
            lengths = np.diff([0, *record.chunk_ends]).tolist()
            record.chunk_tokens = spread(np.cumsum(lengths).tolist(), record.output_tokens)
            record.token_source = "text_length"
        else:
            record.chunk_tokens = [1] * len(record.chunk_times)
            record.token_source = "chunks"
        if record.output_tokens is None:
            record.output_tokens = sum(record.chunk_tokens)


def _count(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0


def token_source_notes(records: Sequence[Record]) -> list[str]:
    """What a report must say about how per-token times were worked out."""
    sources: dict[str, int] = {}
    for record in records:
        if record.ok and record.chunk_times:
            sources[record.token_source] = sources.get(record.token_source, 0) + 1
    notes = []
    if sources.get("text_length"):
        notes.append(f"per-token ITL is estimated for {sources['text_length']} request(s): the server sends no "
                     "per-chunk usage and no client tokenizer is available, so each chunk's tokens are the "
                     "server's total spread over the chunks by their text length")
    if sources.get("chunks"):
        notes.append(f"{sources['chunks']} request(s) have no token counts (no server usage, no client tokenizer): "
                     "a chunk counts as one token, so output tokens, TPOT and ITL are per chunk")
    return notes
