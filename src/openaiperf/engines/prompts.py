"""A request's prompt as an in-process engine (``hf``, ``vllm``) feeds it to its model:
the text its tokenizer's chat template renders, and the token ids."""

from __future__ import annotations

from typing import Any

from openaiperf.errors import EngineError
from openaiperf.records import Request


def no_tokenizer(engine: str) -> EngineError:
    return EngineError(f"the {engine} engine has no tokenizer for this model (random weights and no tokenizer on "
                       "this machine): only prompts given as token ids can run (the synthetic task gives them)")


def render(tokenizer: Any, request: Request, engine: str) -> str:
    """The request's text: its prompt, or its messages through the chat template (joined
    by blank lines where the tokenizer has none)."""
    if request.messages is None:
        return request.prompt or ""
    if tokenizer is None:
        raise no_tokenizer(engine)
    if tokenizer.chat_template:
        return str(tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True))
    return "\n\n".join(m["content"] for m in request.messages)


def prompt_ids(tokenizer: Any, request: Request, engine: str) -> list[int]:
    """The request's own token ids, else the tokenizer's ids of its text (no special tokens added)."""
    if request.prompt_token_ids is not None:
        return list(request.prompt_token_ids)
    if tokenizer is None:
        raise no_tokenizer(engine)
    return list(tokenizer(render(tokenizer, request, engine), add_special_tokens=False)["input_ids"])
