"""The token and timing schedule of a scripted response, and the truth a correct
client measures from it.

Timing of a stream of N tokens (F in the first chunk, K in every later chunk):
the first chunk goes out at ``ttft_ms``; each later chunk K × ``gap_ms`` after
the one before (plus ``stall_ms`` once, after ``stall_after`` tokens). So the
per-token gap is ``gap_ms`` for every token after the first chunk, the tokens of
the first chunk arrive together, and E2E = ttft + (N - F) × gap (+ stall).

A batching script (``batch_slowdown`` k > 0) stretches each later chunk's wait
to K × gap × (1 + k × (running - 1)) with the responses running when the wait
starts (:func:`batch_gap_s`); its truth is a lone request's. With many running
they share a decode rate of r / (gap × (1 + k (r - 1))) tokens per second, at
most 1 / (gap × k): the server completes at most 1 / (gap × k × (N - F))
requests per second (:func:`batch_capacity_qps`), exactly that with k = 1
whenever it is busy (time shared, as a continuous batch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openaiperf.testing.scripted_server.script import Script


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



def chunk_sizes(script: Script, count: int) -> list[int]:
    """Tokens in each generated chunk."""
    if count <= 0:
        return []
    sizes = [min(script.first_chunk_tokens, count)]
    left = count - sizes[0]
    while left > 0:
        sizes.append(min(script.chunk_tokens, left))
        left -= sizes[-1]
    return sizes


def chunk_offsets_s(script: Script, count: int) -> list[float]:
    """When each generated chunk goes out, seconds after the request is read."""
    offsets: list[float] = []
    t, sent, stalled = script.ttft_ms, 0, False
    for index, size in enumerate(chunk_sizes(script, count)):
        if index:
            t += size * script.gap_ms
            if script.stall_after is not None and not stalled and sent >= script.stall_after:
                t += script.stall_ms
                stalled = True
        offsets.append(t / 1000)
        sent += size
    return offsets


def truth(script: Script, max_tokens: int | None = None) -> Truth:
    """What a correct client measures for this script (network time aside)."""
    count = script.count(max_tokens)
    sizes = chunk_sizes(script, count)
    offsets = chunk_offsets_s(script, count)
    itl: list[float] = [0.0] * (sizes[0] - 1) if sizes else []
    for previous, current, size in zip(offsets, offsets[1:], sizes[1:]):
        itl += [(current - previous) / size] * size
    ttft = offsets[0] if offsets else None
    e2e = offsets[-1] if offsets else None
    tpot = (e2e - ttft) / (count - 1) if count > 1 and ttft is not None and e2e is not None else None
    reasoning = min(script.reasoning_tokens, count)
    # the answer's first token arrives with the chunk that carries token index ``reasoning``
    ends = list(accumulate(sizes))
    ttfo = next((offset for offset, end in zip(offsets, ends) if end > reasoning), None)
    return Truth(tokens=count, chunks=len(sizes), ttft_s=ttft, e2e_s=e2e, tpot_s=tpot, itl_s=itl,
                 chunk_itl_s=[b - a for a, b in zip(offsets, offsets[1:])], reasoning_tokens=reasoning,
                 ttfo_s=ttfo)


def batch_gap_s(script: Script, size: int, running: int) -> float:
    """The wait before a later chunk of ``size`` tokens while ``running`` responses stream."""
    return size * script.gap_ms * (1 + script.batch_slowdown * max(0, running - 1)) / 1000


def batch_capacity_qps(script: Script, max_tokens: int | None = None) -> float:
    """The requests/s a batching script's server completes at most: 1 / (gap × k × decode tokens)."""
    count = script.count(max_tokens)
    decode = count - min(script.first_chunk_tokens, count)
    if script.batch_slowdown <= 0 or script.gap_ms <= 0 or decode <= 0:
        return math.inf
    return 1000 / (script.gap_ms * script.batch_slowdown * decode)
