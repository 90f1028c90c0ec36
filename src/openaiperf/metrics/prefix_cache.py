"""What an ideal prefix cache serves of a sequence of prompts.

An engine's prefix cache (vLLM's automatic prefix caching, SGLang's radix cache)
keeps the KV of prompts it has computed, in blocks of ``block_size`` tokens, and
serves a later prompt's leading full blocks from it when they are equal. The
*ideal* cache here is unbounded, never evicts, is filled in the order the prompts
were sent, and, as vLLM does, always computes at least a prompt's last token:

    hit(prompt) = B × (the number of leading full blocks an earlier prompt had,
                       at most floor((tokens - 1) / B))

and the ideal hit rate is Σ hits / Σ prompt tokens. For ``groups`` groups of ``P``
prompts that share a prefix of ``L`` tokens and differ in a suffix of ``S >= 1``,
each prompt but the first of its group hits ``B × floor(L / B)``, so

    ideal = (P - 1) / P × B × floor(L / B) / (L + S)

(``(P - 1) / P × L / (L + S)`` at B = 1). What a real engine reaches can be lower:
requests of the same group sent together are computed together, before either can
reuse the other's blocks, and a full cache evicts; the blocks of generated tokens,
which a later prompt may also reuse (a multi-turn conversation's history), are
not counted here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IdealHits:
    hits: int
    tokens: int
    per_prompt: tuple[int, ...]

    @property
    def rate(self) -> float | None:
        return self.hits / self.tokens if self.tokens else None


class IdealPrefixCache:
    """The ideal cache of the module's docstring, filled as prompts are looked up."""

    def __init__(self, block_size: int) -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        self.block_size = block_size
        # A trie of full blocks: (parent node, the block's tokens) -> node. Exact: no hash collisions.
        self.nodes: dict[tuple[int, tuple[Any, ...]], int] = {}

    def lookup(self, tokens: Sequence[Any]) -> int:
        """The tokens of ``tokens`` the cache serves (whole blocks, never the last token);
        then its full blocks are cached."""
        block = self.block_size
        most = (len(tokens) - 1) // block if tokens else 0
        parent, hit, matching = 0, 0, True
        for index in range(len(tokens) // block):
            key = (parent, tuple(tokens[index * block:(index + 1) * block]))
            node = self.nodes.get(key)
            if node is None:
                matching = False
                node = self.nodes[key] = len(self.nodes) + 1
            elif matching and index < most:
                hit += 1
            parent = node
        return hit * block


def ideal_prefix_hits(prompts: Iterable[Sequence[Any]], block_size: int) -> IdealHits:
    """Hit tokens of an ideal prefix cache (see the module) over ``prompts`` (tokens), in order."""
    cache = IdealPrefixCache(block_size)
    per_prompt, total = [], 0
    for prompt in prompts:
        total += len(prompt)
        per_prompt.append(cache.lookup(prompt))
    return IdealHits(sum(per_prompt), total, tuple(per_prompt))


def shared_prefix_ideal_rate(prompts_per_group: int, prefix_tokens: int, suffix_tokens: int,
                             block_size: int = 1) -> float:
    """The closed form of the module's docstring (every group alike, suffix >= 1 token)."""
    if prompts_per_group < 1 or suffix_tokens < 1:
        raise ValueError("needs at least one prompt per group and a suffix of at least one token")
    cached = block_size * (prefix_tokens // block_size)
    return (prompts_per_group - 1) / prompts_per_group * cached / (prefix_tokens + suffix_tokens)
