"""The tokenizer of a registry model, where there is one to be had.

Real weights: the tokenizer saved with them (the embedded model's converted
checkpoint, a local folder, or a hub id through transformers' own cache).
Random weights bring no tokenizer files: one is used only if it is already on
this machine (``tokenizer_source`` or ``source`` in the Hugging Face cache or a
local folder; the embedded model's converted checkpoint), never downloaded, so
that a machine without network access never waits on the hub. Without one,
prompts travel as token ids (:class:`openaiperf.records.Request.prompt_token_ids`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from openaiperf.models import ModelSpec, resolve_weights

#: what a checkpoint's ``tokenizer_config.json`` names when its tokenizer is the generic fast
#: one (transformers 5 calls it TokenizersBackend): the class AutoTokenizer would build
GENERIC_FAST_TOKENIZERS = ("PreTrainedTokenizerFast", "TokenizersBackend")


def generic_fast_tokenizer(where: str) -> bool:
    """True when ``where`` is a folder whose tokenizer is the generic fast one."""
    import json

    folder = Path(where)
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return False
    return (folder / "tokenizer.json").is_file() and config.get("tokenizer_class") in GENERIC_FAST_TOKENIZERS


@lru_cache(maxsize=8)
def _load(where: str, local_only: bool) -> Any:
    # AutoTokenizer imports torch and most of transformers (6 s on a small CPU, paid by every
    # client process of a served model); the generic fast class is the same tokenizer for 2 s.
    if generic_fast_tokenizer(where):
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast.from_pretrained(where, local_files_only=local_only)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(where, local_files_only=local_only)


def tokenizer_at(where: str | Path) -> Any:
    """The tokenizer in ``where`` (a folder or hub id): an engine's that has no model of the registry."""
    return _load(str(where), False)


def local_tokenizer_sources(spec: ModelSpec) -> list[str]:
    """Where a random-weights model's tokenizer may already be on this machine."""
    places: list[str] = []
    if spec.embedded:
        from openaiperf.models.embedded import cache_root, checkpoint_is_valid  # embedded models only

        converted = cache_root() / "models" / spec.name
        if converted.is_dir() and checkpoint_is_valid(converted):
            places.append(str(converted))
    elif spec.source:
        places.append(str(Path(spec.source).expanduser()) if spec.local_path is not None else spec.source)
    if spec.tokenizer_source:
        places.append(spec.tokenizer_source)
    return list(dict.fromkeys(places))


def model_tokenizer(spec: ModelSpec, weights: str | None = None) -> Any | None:
    """The model's tokenizer: from ``weights`` (or the resolved weights) for real
    weights (errors propagate); for random weights the first found locally, else None."""
    if not spec.random_weights:
        if weights is None:
            weights = resolve_weights(spec)
        return _load(str(weights), False)
    for place in local_tokenizer_sources(spec):
        try:
            return _load(place, True)
        except Exception:  # not in the local cache: try the next place
            continue
    return None
