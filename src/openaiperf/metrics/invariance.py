"""Batch invariance: is a greedy answer under load the answer the request gets alone?

With greedy decoding a request's output is determined by its prompt, in exact
arithmetic. In a real engine it also depends on what it was batched with: batch
shapes change kernels, their reduction order and so the rounding, and an argmax
that is close can flip; from that token on the answers differ. Served alone
(concurrency 1) a request sees no other; under load (concurrency N) it is batched.
So after the measured rounds, a reference pass sends every request of the first
round again, one at a time, and :func:`compare_outputs` compares each measured
answer with its reference: ``rate`` is the fraction that is identical, and for
the others the position of the first token (by the model's tokenizer, else the
first character) where they part.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openaiperf.records import Record

_REPEAT = re.compile(r"~\d+")


def base_request_id(request_id: str) -> str:
    """A measured request's id without the repeat counter the online scenarios add
    (``r3~1`` is the second sending of ``r3``)."""
    return _REPEAT.sub("", request_id)


@dataclass
class InvarianceResult:
    compared: int = 0
    identical: int = 0
    #: per request whose answer differs: the first differing position
    first_difference: list[int] = field(default_factory=list)
    position_unit: str = "tokens"
    #: measured requests without a successful reference (or a failed measured one)
    unmatched: int = 0

    @property
    def rate(self) -> float | None:
        return self.identical / self.compared if self.compared else None


def first_difference(a: Sequence[Any], b: Sequence[Any]) -> int | None:
    """The first index where ``a`` and ``b`` differ (the shorter one's length when one
    is a prefix of the other); None when they are equal."""
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return None if len(a) == len(b) else min(len(a), len(b))


def compare_outputs(measured: Sequence[Record], reference: Mapping[str, Record],
                    tokenize: Callable[[str], list[int]] | None = None) -> InvarianceResult:
    """Each successful measured record against the reference of its request (by base id)."""
    result = InvarianceResult(position_unit="tokens" if tokenize is not None else "characters")
    for record in measured:
        ref = reference.get(base_request_id(record.request_id))
        if not record.ok or ref is None or not ref.ok:
            result.unmatched += 1
            continue
        result.compared += 1
        if record.text == ref.text and record.reasoning == ref.reasoning:
            result.identical += 1
            continue
        a, b = record.reasoning + record.text, ref.reasoning + ref.text
        where = first_difference(tokenize(a), tokenize(b)) if tokenize is not None else first_difference(a, b)
        result.first_difference.append(where if where is not None else 0)
    return result
