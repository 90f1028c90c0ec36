"""The model's tokenizer, for tasks that count or make tokens while loading
(perplexity windows, ShareGPT length filters, synthetic prompts)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from openaiperf.errors import ConfigError


@lru_cache(maxsize=4)
def _load(weights: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(weights)


def tokenizer_for(model: Any, task_name: str) -> Any:
    """The tokenizer of ``model`` (a ModelSpec); its weights are provisioned if needed."""
    if model is None:
        raise ConfigError("this task tokenizes its dataset and needs the case's model", source=f"task {task_name}")
    from openaiperf.models import resolve_weights

    return _load(resolve_weights(model))
