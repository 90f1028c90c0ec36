"""Prompts made of tokens, whose token counts and shared prefixes survive the trip
through text.

A prompt made of random token ids and decoded to text usually re-tokenizes into
other tokens (pieces merge at their boundaries), so its length and, worse, the
prefix it was meant to share with another prompt are only approximate. Here the
ids are drawn from the model's *word tokens*: single tokens whose text is one word
(with its leading space, for byte-level BPE vocabularies; a bare word for
word-level ones) and that encode back to themselves. A sequence of them decodes
to text that encodes back to exactly the same ids, so a prompt has the length
asked for, and prompts built from the same leading ids share exactly that prefix
of tokens (checked on the prompts that are built: :func:`prompt_ids`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np

#: a word with its leading space (byte-level BPE: the pre-tokenizer splits before each such word)
_SPACED_WORD = re.compile(r"^ [A-Za-z]+$")
#: a bare word (word-level vocabularies, whose decoder puts the spaces between tokens)
_BARE_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


@lru_cache(maxsize=4)
def _word_ids(tokenizer: Any) -> tuple[int, ...]:
    special = set(tokenizer.all_special_ids)
    ids = [i for i in range(len(tokenizer)) if i not in special]
    backend = getattr(tokenizer, "backend_tokenizer", None)  # a fast tokenizer decodes in one call
    texts = backend.decode_batch([[i] for i in ids]) if backend is not None else [tokenizer.decode([i]) for i in ids]
    candidates = [(i, text) for i, text in zip(ids, texts)
                  if (_SPACED_WORD if text.startswith(" ") else _BARE_WORD).match(text)]
    encoded = tokenizer([text for _, text in candidates], add_special_tokens=False)["input_ids"] if candidates else []
    words = [(i, text) for (i, text), back in zip(candidates, encoded) if list(back) == [i]]
    spaced = [i for i, text in words if text.startswith(" ")]
    # Spaced words only, where there are any: a bare piece after one would merge with it.
    return tuple(spaced or [i for i, _ in words])


def word_vocabulary(tokenizer: Any) -> np.ndarray:
    """The ids of the tokenizer's word tokens (see the module); every non-special id
    when it has none."""
    ids = _word_ids(tokenizer)
    if not ids:
        special = set(tokenizer.all_special_ids)
        ids = tuple(t for t in range(len(tokenizer)) if t not in special)
    return np.asarray(ids)


def decode(tokenizer: Any, ids: list[int]) -> str:
    return str(tokenizer.decode(ids))


def prompt_ids(tokenizer: Any, text: str) -> list[int]:
    """The ids a server sees for a plain-text prompt (its tokenizer, special tokens as it adds them)."""
    return list(tokenizer(text)["input_ids"])
