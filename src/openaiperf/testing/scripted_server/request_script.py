"""The script of one request: the server's default changed by what the request
names or asks (a preset model name, its ``script`` object, its thinking settings, a
LoRA adapter, the prompt's words served by the simulated prefix cache)."""

from __future__ import annotations

import dataclasses
from typing import Any

from openaiperf.testing.scripted_server.script import Script

#: request fields that set a reasoning model's thinking: Qwen3's chat template switch
#: (``chat_template_kwargs: {enable_thinking: false}``) and a budget of reasoning tokens
THINKING_FIELDS = ("chat_template_kwargs", "max_thinking_tokens")


def cached_prompt_tokens(script: Script, body: dict[str, Any], hits: int) -> int | None:
    """What usage reports as the prompt's cached tokens (``Script.cached_usage``): a chat
    request's words before its last message, the simulated cache's hits, or None."""
    if script.cached_usage == "history":
        messages = body.get("messages") or []
        return len(prompt_words({"messages": messages[:-1]})) if messages else 0
    if script.cached_usage == "cache":
        return hits
    return None


def adapter_script(script: Script, model: str) -> Script:
    """The script of a request that names a LoRA adapter of ``adapter_ttft_ms``: its own TTFT."""
    for part in filter(None, script.adapter_ttft_ms.split(",")):
        name, _, ttft = part.partition("=")
        if name.strip() == model:
            return dataclasses.replace(script, ttft_ms=float(ttft))
    return script


def thinking_script(script: Script, body: dict[str, Any]) -> Script:
    """The script with the request's thinking settings applied: no reasoning when its
    chat template turns thinking off, at most ``max_thinking_tokens`` reasoning tokens
    (a reasoning server's thinking budget); the answer's tokens are unchanged."""
    kwargs = body.get("chat_template_kwargs")
    budget = body.get("max_thinking_tokens")
    reasoning = script.reasoning_tokens
    if isinstance(kwargs, dict) and kwargs.get("enable_thinking") is False:
        reasoning = 0
    if budget is not None:
        if type(budget) is not int or budget < 0:
            raise ValueError(f"max_thinking_tokens must be a count >= 0, got {budget!r}")
        reasoning = min(reasoning, budget)
    if reasoning == script.reasoning_tokens:
        return script
    return dataclasses.replace(script, reasoning_tokens=reasoning,
                               tokens=max(0, script.tokens - (script.reasoning_tokens - reasoning)))


def cached_script(script: Script, hits: int, words: int) -> Script:
    """The script of a prompt of ``words`` words of which the prefix cache served ``hits``:
    a shorter time to the first token, as a server that skips the cached prefill (see
    ``Script.cached_ttft_ms``); unchanged without one."""
    if script.cached_ttft_ms is None or not hits or not words:
        return script
    ttft = script.cached_ttft_ms + (script.ttft_ms - script.cached_ttft_ms) * (words - hits) / words
    return dataclasses.replace(script, ttft_ms=ttft)


def preset(default: Script, model: str, slow_s: float) -> Script:
    """Behaviours picked by the model name (kept for the fault tests):
    ``stub-http-<status>``, ``stub-cut``, ``stub-malformed``, ``stub-slow``, ``stub-reasoning``."""
    if model.startswith("stub-http-"):
        return dataclasses.replace(default, http_status=int(model.rsplit("-", 1)[1]))
    return {
        "stub-cut": lambda: dataclasses.replace(default, cut_after=2),
        "stub-malformed": lambda: dataclasses.replace(default, malformed_after=1),
        "stub-slow": lambda: dataclasses.replace(default, ttft_ms=slow_s * 1000),
        "stub-reasoning": lambda: dataclasses.replace(default, reasoning_tokens=1),
    }.get(model, lambda: default)()


def prompt_words(body: dict[str, Any]) -> list[str]:
    """The words of a request's prompt (a chat request's: ``role: content`` of each message)."""
    if "messages" in body:
        text = "\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in body.get("messages") or [])
    else:
        prompt = body.get("prompt", "")
        text = prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
    return text.split()

