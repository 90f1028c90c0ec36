"""A record filled as an engine fills it when its answer arrives, for test doubles (engines
with no model) that choose each token's time: the one way the scripted, fake, failing
and echo engines of the tests, and the records the writer tests build, fill a record."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from openaiperf.records import Record


def fill_answer(record: Record, token_times: Iterable[float], *, sent: float | None = None, input_tokens: int = 0,
                text: str = "", done: float | None = None) -> Record:
    """``record`` sent at ``sent`` (unchanged when None), its tokens arriving at ``token_times``
    (one a chunk), counted as its output; done at ``done``, else with its last token (with
    none: when sent). Returns the record."""
    if sent is not None:
        record.sent = sent
    record.input_tokens = input_tokens
    count = 0
    for when in token_times:
        record.mark_token(when)
        count += 1
    record.output_tokens = count
    record.text = text
    record.done = done if done is not None else record.chunk_times[-1] if count else record.sent
    return record


def paced_times(count: int, gap_s: float) -> Iterator[float]:
    """``count`` token times as they happen: each ``gap_s`` of real time after the one before."""
    for _ in range(count):
        time.sleep(gap_s)
        yield time.perf_counter()
