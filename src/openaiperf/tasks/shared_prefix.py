"""Shared-prefix prompts: a workload whose ideal prefix-cache hit rate is known.

``groups`` groups of ``prompts_per_group`` prompts; the prompts of a group share a
prefix of ``prefix_tokens`` tokens and each has a suffix of ``suffix_tokens`` of
its own (a system prompt or a document with questions about it, as chat and RAG
traffic has). Tokens are the model's word tokens
(:mod:`openaiperf.tasks.token_prompts`), so lengths and shared prefixes are exact
in the model's tokenizer, and each request generates exactly ``output_tokens``
(``ignore_eos``). Prompts go in ``order``: ``interleaved`` (one of each group in
turn: a group's prompts are sent apart, so each can reuse the blocks the group's
first one left) or ``grouped`` (a group's prompts one after another: under
concurrency they are computed together, before any can reuse another's blocks).

The case reports the measured hit rate from the server's metrics
(``prefix_cache_hit_rate``) beside ``ideal_prefix_cache_hit_rate``: what an ideal
cache (unbounded, filled in send order, whole blocks of the engine's KV-cache
block size, never the prompt's last token) serves of every prompt the rounds
sent, warmup ones included, worked out on the prompts' exact tokens
(:mod:`openaiperf.metrics.prefix_cache`; the closed form there is
``(P - 1) / P × B × floor(L / B) / (L + S)`` for P prompts per group, a prefix of
L tokens, suffixes of S and blocks of B). Each round's prompts start with a tag
of that round (:meth:`~openaiperf.tasks.Task.for_round`), so the cache begins
every round without them. Plain prompts (the completions API), so no chat
template adds a prefix that every group shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from openaiperf.errors import ConfigError
from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.metrics.prefix_cache import ideal_prefix_hits, shared_prefix_ideal_rate
from openaiperf.models import ModelSpec
from openaiperf.records import Record, Request
from openaiperf.registry import Options
from openaiperf.tasks import QualityResult, Sample, Task
from openaiperf.tasks.quality import check_exact_output_tokens
from openaiperf.tasks.token_prompts import decode, prompt_ids, word_vocabulary
from openaiperf.tasks.tokenizer import tokenizer_for


class SharedPrefixParameters(Options):
    groups: int = Field(default=4, ge=1)
    prompts_per_group: int = Field(default=4, ge=1)
    prefix_tokens: int = Field(default=512, ge=0)
    suffix_tokens: int = Field(default=32, ge=1)
    output_tokens: int = Field(default=16, ge=1)
    order: Literal["interleaved", "grouped"] = "interleaved"
    #: the engine's KV-cache block in tokens, when its server does not say (vLLM: 16 on GPUs, 128 on CPUs)
    block_size: int = Field(default=16, ge=1)
    seed: int = 0


class SharedPrefixTask(Task):
    kind: ClassVar[str] = "shared_prefix"
    judges_quality: ClassVar[bool] = False  # a serving workload: its numbers are speed, not answers
    needs_dataset: ClassVar[bool] = False
    needs_model: ClassVar[bool] = True
    shares_prefixes: ClassVar[bool] = True
    Options: ClassVar[type[Options]] = SharedPrefixParameters
    parameters: SharedPrefixParameters

    def load_samples(self, max_samples: int | None, seed: int | None) -> list[Sample]:
        """Every prompt in send order; ``max_samples`` takes the first N of that order
        (a random subset would break the groups)."""
        p = self.parameters
        tokenizer = tokenizer_for(self.model, self.spec.name)
        vocabulary = word_vocabulary(tokenizer)
        rng = np.random.default_rng(p.seed)
        prefixes = [rng.choice(vocabulary, size=p.prefix_tokens).tolist() for _ in range(p.groups)]
        grid = [(g, k) for k in range(p.prompts_per_group) for g in range(p.groups)] if p.order == "interleaved" \
            else [(g, k) for g in range(p.groups) for k in range(p.prompts_per_group)]
        suffixes = {(g, k): rng.choice(vocabulary, size=p.suffix_tokens).tolist()
                    for g in range(p.groups) for k in range(p.prompts_per_group)}
        samples = []
        for g, k in grid:
            ids = prefixes[g] + suffixes[(g, k)]
            samples.append(Sample(id=f"g{g}-p{k}", fields={
                "prompt": decode(tokenizer, ids), "group": g, "input_tokens": len(ids),
                "output_tokens": p.output_tokens}))
        if max_samples is not None:
            if max_samples > len(samples):
                raise ConfigError(f"--max-samples {max_samples} exceeds the {len(samples)} prompts "
                                  f"(groups x prompts_per_group)", source=f"task {self.spec.name}")
            samples = samples[:max_samples]
        return samples

    def build_requests(self, samples: Sequence[Sample], model: ModelSpec | None) -> list[Request]:
        profile = self.spec.input_profile
        return [Request(id=f"{s.id}#{i}", sample_id=s.id, prompt=s.fields["prompt"],
                        max_tokens=s.fields["output_tokens"], temperature=profile.temperature, top_p=profile.top_p,
                        ignore_eos=True) for i, s in enumerate(samples)]

    def prefix_cache_metrics(self, runs: Sequence[Any], block_size: int | None) -> MetricSet:
        return ideal_metrics(self, runs, block_size or self.parameters.block_size)

    def evaluate(self, samples: Sequence[Sample], records: Sequence[Record], model: ModelSpec | None) -> QualityResult:
        p = self.parameters
        result = QualityResult()
        check_exact_output_tokens(samples, records, result)
        ok = [r for r in records if r.ok]
        if ok:
            result.scores["input_tokens_mean"] = float(np.mean([r.input_tokens or 0 for r in ok]))
        result.details["quality"] = "none: a performance workload"
        result.details["workload"] = p.model_dump()
        result.details["ideal_hit_rate_formula"] = (
            "(P - 1) / P x B x floor(L / B) / (L + S); the reported ideal is worked out on the exact tokens of "
            "every prompt sent, the round's tag and the warmup requests included")
        result.details["ideal_hit_rate_of_the_parameters"] = shared_prefix_ideal_rate(
            p.prompts_per_group, p.prefix_tokens, p.suffix_tokens, p.block_size)
        result.details.update({"dataset_source": "generated: word tokens of the model's vocabulary",
                               "license": "n/a (generated)", "dataset_sha256": None})
        return result


def ideal_metrics(task: Task, runs: Sequence[Any], block_size: int) -> MetricSet:
    """The ideal prefix-cache hit rate over the plain prompts the rounds sent (each round
    on its own: the round's tag makes every round start cold), and the block size used."""
    tokenizer = tokenizer_for(task.model, task.spec.name)
    hits = tokens = 0
    for run in runs:
        prompts = [prompt_ids(tokenizer, r.prompt) for r in run.requests if r.prompt is not None]
        ideal = ideal_prefix_hits(prompts, block_size)
        hits, tokens = hits + ideal.hits, tokens + ideal.tokens
    if not tokens:
        return {}
    return {"ideal_prefix_cache_hit_rate": Metric(hits / tokens, "fraction", Better.NONE),
            "prefix_cache_block_size": Metric(float(block_size), "tokens", Better.NONE)}
