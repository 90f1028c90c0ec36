"""Synthetic prompts of chosen lengths, for pure performance cases (the usual
benchmark grid of input length × output length; the batch size is the
engine's ``batch_size`` option in the matrix).

Every grid point (input length × output length) gets ``samples_per_point``
prompts made of random tokens from the model's vocabulary (special tokens
excluded; seeded), and asks for exactly the output length (``ignore_eos``).
Lengths are fixed, or drawn per prompt around the grid value (uniform ±spread
or normal with std spread × length).

Prompts are token ids (``Request.prompt_token_ids``): engines that take ids
(``hf``, ``vllm``, ``openai`` to a server that accepts token arrays) process
exactly the drawn length, and no tokenizer is needed. The vocabulary is the
tokenizer's when one is at hand, else the architecture's ``vocab_size`` (a
random-weights model without tokenizer files), bos/eos left out. With a
tokenizer the prompt also comes as text (the ids decoded), for engines that only
take text; that text can re-tokenize to a slightly different length, and the
record's input tokens are then the engine's count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from openaiperf.errors import ConfigError
from openaiperf.models import ModelSpec
from openaiperf.records import Record, Request
from openaiperf.registry import Options
from openaiperf.tasks import QualityResult, Sample, Task, select_subset
from openaiperf.tasks.quality import check_exact_output_tokens
from openaiperf.tasks.tokenizer import tokenizer_for


class LengthDistribution(Options):
    """How drawn lengths spread around their nominal value (seeded)."""

    distribution: Literal["fixed", "uniform", "normal"] = "fixed"
    #: relative spread of drawn lengths (uniform: ±spread × length; normal: std = spread × length)
    spread: float = Field(default=0.0, ge=0, lt=1)
    seed: int = 0


class SyntheticParameters(LengthDistribution):
    input_lengths: list[int] = Field(default_factory=lambda: [128], min_length=1)
    output_lengths: list[int] = Field(default_factory=lambda: [32], min_length=1)
    samples_per_point: int = Field(default=4, gt=0)


def draw_length(rng: np.random.Generator, length: int, p: LengthDistribution) -> int:
    if p.distribution == "uniform":
        value = rng.uniform(length * (1 - p.spread), length * (1 + p.spread))
    elif p.distribution == "normal":
        value = rng.normal(length, p.spread * length)
    else:
        value = length
    return max(1, int(round(value)))


def model_vocabulary(model: ModelSpec | None, task_name: str) -> tuple[np.ndarray, Any]:
    """(the token ids of ``model``'s vocabulary that random prompts are drawn from, special
    tokens left out; its tokenizer, or None for a random-weights model without one)."""
    random = model is not None and model.random_weights
    tokenizer = tokenizer_for(model, task_name, required=not random)
    architecture = model.architecture if model is not None else None
    if tokenizer is not None:
        size = len(tokenizer)
        if architecture is not None:
            size = min(size, architecture.vocab_size)  # ids the model's embedding has
        special = set(tokenizer.all_special_ids)
    else:
        if architecture is None:
            name = model.name if model is not None else "(none)"
            raise ConfigError(f"model {name} has neither a tokenizer nor an architecture to draw token ids from",
                              source=f"task {task_name}")
        size, special = architecture.vocab_size, architecture.special_token_ids
    return np.array([t for t in range(size) if t not in special]), tokenizer


class SyntheticTask(Task):
    kind: ClassVar[str] = "synthetic"
    #: a performance workload: random-weights models run it
    judges_quality: ClassVar[bool] = False
    #: prompts are generated (no dataset), from the case model's vocabulary
    needs_dataset: ClassVar[bool] = False
    needs_model: ClassVar[bool] = True
    Options: ClassVar[type[Options]] = SyntheticParameters
    parameters: SyntheticParameters

    def vocabulary(self) -> tuple[np.ndarray, Any]:
        """(the token ids prompts are drawn from, the tokenizer or None)."""
        return model_vocabulary(self.model, self.spec.name)

    def load_samples(self, max_samples: int | None, seed: int | None) -> list[Sample]:
        p = self.parameters
        vocabulary, tokenizer = self.vocabulary()
        rng = np.random.default_rng(p.seed)
        samples = []
        for input_length in p.input_lengths:
            for output_length in p.output_lengths:
                for k in range(p.samples_per_point):
                    n_in = draw_length(rng, input_length, p)
                    ids = [int(t) for t in rng.choice(vocabulary, size=n_in)]
                    samples.append(Sample(id=f"in{input_length}-out{output_length}-{k}", fields={
                        "prompt_token_ids": ids,
                        "prompt": tokenizer.decode(ids) if tokenizer is not None else None,
                        "input_tokens": n_in, "output_tokens": draw_length(rng, output_length, p),
                        "point": f"{input_length}x{output_length}"}))
        return select_subset(samples, max_samples, seed, source=f"task {self.spec.name} ({len(samples)} prompts)")

    def build_requests(self, samples: Sequence[Sample], model: ModelSpec | None) -> list[Request]:
        profile = self.spec.input_profile
        return [Request(id=f"{s.id}#{i}", sample_id=s.id, prompt=s.fields["prompt"],
                        prompt_token_ids=s.fields["prompt_token_ids"], max_tokens=s.fields["output_tokens"],
                        temperature=profile.temperature, top_p=profile.top_p, ignore_eos=True)
                for i, s in enumerate(samples)]

    def evaluate(self, samples: Sequence[Sample], records: Sequence[Record], model: ModelSpec | None) -> QualityResult:
        by_id = {s.id: s for s in samples}
        ok = [r for r in records if r.ok and r.sample_id in by_id]
        result = QualityResult()
        check_exact_output_tokens(samples, records, result)
        if ok:
            result.scores["input_tokens_mean"] = float(np.mean([r.input_tokens or 0 for r in ok]))
            result.scores["tokens_per_sample"] = float(np.mean([r.output_tokens or 0 for r in ok]))
        result.details["quality"] = "none: a performance workload"
        result.details["grid"] = self.parameters.model_dump()
        result.details["prompts"] = "token ids" + (" (and their decoded text)" if samples and
                                                    samples[0].fields.get("prompt") is not None else "")
        result.details.update({"dataset_source": "generated: random tokens from the model's vocabulary",
                               "license": "n/a (generated)", "dataset_sha256": None})
        return result
