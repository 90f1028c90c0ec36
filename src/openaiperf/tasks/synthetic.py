"""Synthetic prompts of chosen lengths, for pure performance cases (the usual
benchmark grid of input length × output length; the batch size is the
engine's ``batch_size`` option in the matrix).

Every grid point (input length × output length) gets ``samples_per_point``
prompts made of random tokens from the model's vocabulary (special tokens
excluded; seeded), and asks for exactly the output length (``ignore_eos``).
Lengths are fixed, or drawn per prompt around the grid value (uniform ±spread
or normal with std spread × length). The decoded random text can re-tokenize to
a slightly different length; the record's input tokens are the engine's count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from openaiperf.records import Record, Request
from openaiperf.registry import Options
from openaiperf.tasks import QualityResult, Sample, Task, select_subset
from openaiperf.tasks.tokenizer import tokenizer_for


class SyntheticParameters(Options):
    input_lengths: list[int] = Field(default_factory=lambda: [128], min_length=1)
    output_lengths: list[int] = Field(default_factory=lambda: [32], min_length=1)
    samples_per_point: int = Field(default=4, gt=0)
    distribution: Literal["fixed", "uniform", "normal"] = "fixed"
    #: relative spread of drawn lengths (uniform: ±spread × length; normal: std = spread × length)
    spread: float = Field(default=0.0, ge=0, lt=1)
    seed: int = 0


def draw_length(rng: np.random.Generator, length: int, p: SyntheticParameters) -> int:
    if p.distribution == "uniform":
        value = rng.uniform(length * (1 - p.spread), length * (1 + p.spread))
    elif p.distribution == "normal":
        value = rng.normal(length, p.spread * length)
    else:
        value = length
    return max(1, int(round(value)))


class SyntheticTask(Task):
    kind: ClassVar[str] = "synthetic"
    #: prompts are generated (no dataset), from the case model's vocabulary
    needs_dataset: ClassVar[bool] = False
    needs_model: ClassVar[bool] = True
    Options: ClassVar[type[Options]] = SyntheticParameters
    parameters: SyntheticParameters

    def load_samples(self, max_samples: int | None, seed: int | None) -> list[Sample]:
        p = self.parameters
        tokenizer = tokenizer_for(self.model, self.spec.name)
        special = set(tokenizer.all_special_ids)
        vocabulary = np.array([t for t in range(len(tokenizer)) if t not in special])
        rng = np.random.default_rng(p.seed)
        samples = []
        for input_length in p.input_lengths:
            for output_length in p.output_lengths:
                for k in range(p.samples_per_point):
                    n_in = draw_length(rng, input_length, p)
                    ids = rng.choice(vocabulary, size=n_in)
                    samples.append(Sample(id=f"in{input_length}-out{output_length}-{k}", fields={
                        "prompt": tokenizer.decode(ids.tolist()), "input_tokens": n_in,
                        "output_tokens": draw_length(rng, output_length, p),
                        "point": f"{input_length}x{output_length}"}))
        return select_subset(samples, max_samples, seed, source=f"task {self.spec.name} ({len(samples)} prompts)")

    def build_requests(self, samples: Sequence[Sample], model: Any) -> list[Request]:
        profile = self.spec.input_profile
        return [Request(id=f"{s.id}#{i}", sample_id=s.id, prompt=s.fields["prompt"],
                        max_tokens=s.fields["output_tokens"], temperature=profile.temperature, top_p=profile.top_p,
                        ignore_eos=True) for i, s in enumerate(samples)]

    def evaluate(self, samples: Sequence[Sample], records: Sequence[Record], model: Any) -> QualityResult:
        by_id = {s.id: s for s in samples}
        ok = [r for r in records if r.ok and r.sample_id in by_id]
        result = QualityResult()
        # A failed request generated nothing: it did not generate its requested tokens either.
        short = [r.request_id for r in records if r.sample_id in by_id and (
            not r.ok or (r.output_tokens or 0) != by_id[r.sample_id].fields["output_tokens"])]
        result.checks["exact_output_tokens"] = (
            not short, "every request generated exactly its requested tokens" if not short
            else f"{len(short)} request(s) did not generate their requested token count (ignore_eos, or the "
                 f"request failed): {short[:3]}")
        if ok:
            result.scores["input_tokens_mean"] = float(np.mean([r.input_tokens or 0 for r in ok]))
            result.scores["tokens_per_sample"] = float(np.mean([r.output_tokens or 0 for r in ok]))
        result.details["quality"] = "none: a performance workload"
        result.details["grid"] = self.parameters.model_dump()
        result.details.update({"dataset_source": "generated: random tokens from the model's vocabulary",
                               "license": "n/a (generated)", "dataset_sha256": None})
        return result
