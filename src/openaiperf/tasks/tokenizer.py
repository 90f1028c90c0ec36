"""The model's tokenizer, for tasks that count or make tokens while loading
(perplexity windows, ShareGPT length filters, synthetic prompts)."""

from __future__ import annotations

from typing import Any

from openaiperf.errors import ConfigError
from openaiperf.models import ModelSpec
from openaiperf.models.tokenizer import local_tokenizer_sources, model_tokenizer


def tokenizer_for(model: ModelSpec | None, task_name: str, *, required: bool = True) -> Any:
    """The tokenizer of ``model`` (a ModelSpec); its weights are provisioned if needed.
    A random-weights model has one only when it is on this machine already: without
    it, None if not ``required``, else an error saying so."""
    if model is None:
        raise ConfigError("this task tokenizes its dataset and needs the case's model", source=f"task {task_name}")

    tokenizer = model_tokenizer(model)
    if tokenizer is None and required:
        places = ", ".join(local_tokenizer_sources(model)) or "none named"
        raise ConfigError(f"this task needs the tokenizer of {model.name}, which has random weights and no tokenizer "
                          f"on this machine (looked for: {places}); run it with real weights, or put the tokenizer "
                          "in the Hugging Face cache", source=f"task {task_name}")
    return tokenizer
