"""Scoring token windows with vLLM: prompt log-probabilities.

vLLM returns, for every prompt position after the first, the log-probability of
the actual prompt token (plus the top-k others) when asked for
``prompt_logprobs``; generating one token is the cheapest request that gets
them. :func:`score_windows` has the signature of an engine's optional
``score`` method, so a vLLM engine can expose it as
``def score(self, windows): return score_windows(self.llm, windows)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def score_windows(llm: Any, windows: Sequence[Sequence[int]]) -> list[list[float]]:
    """Per-token log-probabilities of each window under ``llm`` (a ``vllm.LLM``):
    ``len(window) - 1`` values per window, the first token having no context."""
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    params = SamplingParams(prompt_logprobs=1, max_tokens=1, temperature=0.0)
    prompts = [TokensPrompt(prompt_token_ids=[int(t) for t in window]) for window in windows]
    outputs = llm.generate(prompts, params, use_tqdm=False)
    results = []
    for window, output in zip(windows, outputs):
        positions = output.prompt_logprobs or []
        # positions[0] is None (nothing precedes the first token); each later entry maps
        # token id -> Logprob and always holds the actual prompt token.
        results.append([float(positions[i][int(window[i])].logprob) for i in range(1, len(window))])
    return results
