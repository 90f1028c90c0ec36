"""Perplexity: log-likelihood of a text corpus under the model, with a sliding
window (the Hugging Face "perplexity of fixed-length models" method).

The corpus is tokenized once; window ``i`` covers tokens
``[i*stride, i*stride + context_length)`` and scores only the tokens the
previous window did not (the last ``trg_len`` of it), each conditioned on up to
``context_length`` tokens of left context. Perplexity = exp(total NLL / scored
tokens). Each window is one request (one sample), so ``--max-samples`` and
``--subset-seed`` pick windows.

Serving a scoring workload: the task wraps the case's engine in a
:class:`ScoringEngine` (the runner's ``adapt_engine`` hook) that sends token
windows to the engine's ``score(windows) -> per-token logprobs`` method (the
``hf`` engine has one; an engine holding a ``vllm.LLM`` as ``.llm`` is scored
through prompt logprobs, :mod:`openaiperf.engines.vllm_scoring`). A record is
one window: its latency is the window's scoring time, input tokens the window's
length, no tokens are generated; throughput is reported as scored tokens/s.

A window whose request failed is scored as a model that knows nothing would
score it: every one of its target tokens gets the uniform probability 1/V over
the vocabulary (ln V nats). That is the perplexity equivalent of a ROUGE 0: it
raises the perplexity by what was not measured instead of dropping the window,
so the quality gate keeps the sample set it was asked for (a window cannot get
an infinite NLL without making one failure end every comparison).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from openaiperf.engines import Engine, Scorer
from openaiperf.errors import ConfigError, EngineError
from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.models import ModelSpec
from openaiperf.records import Record, RecordSink, Request
from openaiperf.registry import Options
from openaiperf.scenarios import ScenarioRun
from openaiperf.tasks import QualityResult, Sample, Task, TaskSpec, select_subset
from openaiperf.tasks.datasets import load_rows
from openaiperf.tasks.quality import apply_targets, record_per_sample, sample_fingerprint
from openaiperf.tasks.tokenizer import tokenizer_for


class PerplexityParameters(Options):
    #: tokens per window (the model's context for the scored tokens)
    context_length: int = Field(default=512, gt=1)
    #: tokens the window advances by; stride < context_length gives every scored token more context
    stride: int = Field(default=256, gt=0)
    #: windows per engine call in the offline scenario
    batch_size: int = Field(default=4, gt=0)

    @model_validator(mode="after")
    def _check(self) -> PerplexityParameters:
        if self.stride > self.context_length:
            raise ValueError(f"stride ({self.stride}) must be <= context_length ({self.context_length})")
        return self


@dataclass(frozen=True)
class ScoringRequest(Request):
    """One window: its token ids, and how many of its last tokens are scored."""

    token_ids: tuple[int, ...] = ()
    target_tokens: int = 0


def sliding_windows(n_tokens: int, context_length: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, target_tokens) of each window, as in the HF guide: every token
    after the first is scored exactly once."""
    windows = []
    previous_end = 0
    for begin in range(0, n_tokens, stride):
        end = min(begin + context_length, n_tokens)
        target = end - previous_end
        if begin == 0:
            target -= 1  # the first token has no context to be predicted from
        if target > 0:
            windows.append((begin, end, target))
        previous_end = end
        if end == n_tokens:
            break
    return windows


def scorer_of(engine: Engine) -> Scorer:
    """The engine's scoring function, or a clear error naming the engine."""
    scorer = engine.scorer()
    if scorer is None:
        raise EngineError(f"engine {engine.name!r} cannot score tokens: the perplexity task needs a "
                          "score(windows) -> per-token logprobs method (see docs/new-engine.md)")
    return scorer


class ScoringEngine(Engine):
    """Serves :class:`ScoringRequest` windows through an engine's scorer and keeps
    each window's logprobs for the task's evaluation."""

    concurrent: ClassVar[bool] = False

    def __init__(self, engine: Engine, batch_size: int, logprobs: dict[str, list[float]]) -> None:
        self.engine = engine
        self.context = engine.context
        self.name = engine.name  # type: ignore[misc]
        self.batch_size = batch_size
        self.logprobs = logprobs
        self.score_windows = scorer_of(engine)

    def run(self, requests: Sequence[ScoringRequest], records: Sequence[Record],  # type: ignore[override]
            on_done: RecordSink) -> None:
        # Every window is handed to the engine now; batches queue inside it.
        sent = time.perf_counter()
        for record in records:
            record.sent = sent
        for start in range(0, len(requests), self.batch_size):
            batch = list(zip(requests[start:start + self.batch_size], records[start:start + self.batch_size]))
            try:
                scored = self.score_windows([request.token_ids for request, _ in batch])
            except Exception as exc:  # keep the case's other windows
                for _, record in batch:
                    record.fail(f"{type(exc).__name__}: {exc}")
                    on_done(record)
                continue
            done = time.perf_counter()
            for (request, record), logprobs in zip(batch, scored):
                record.input_tokens = len(request.token_ids)
                record.output_tokens = 0
                record.first_token = done
                record.done = done
                if not record.warmup:
                    self.logprobs.setdefault(request.id, list(logprobs))
                on_done(record)

    async def stream(self, request: ScoringRequest, record: Record) -> None:  # type: ignore[override]
        import asyncio

        await asyncio.to_thread(self.run, [request], [record], lambda r: None)

    def prepare(self) -> None:
        pass

    def teardown(self) -> None:
        pass

    def info(self) -> dict[str, Any]:
        return {**self.engine.info(), "workload": "scoring (prompt log-likelihood, no generation)",
                "scoring_batch_size": self.batch_size}


class PerplexityTask(Task):
    kind: ClassVar[str] = "perplexity"
    #: windows are cut with the case model's tokenizer
    needs_model: ClassVar[bool] = True
    #: a salt would change the text whose perplexity is the score
    salts_prompts: ClassVar[bool] = False
    Options: ClassVar[type[Options]] = PerplexityParameters
    parameters: PerplexityParameters

    def __init__(self, spec: TaskSpec, *, dataset_source: str | None = None, base_dir: Path | None = None,
                 model: ModelSpec | None = None) -> None:
        super().__init__(spec, dataset_source=dataset_source, base_dir=base_dir, model=model)
        self.source: str | None = None
        self.logprobs: dict[str, list[float]] = {}
        self.targets: dict[str, int] = {}
        self.vocab_size: int | None = None

    def load_samples(self, max_samples: int | None, seed: int | None) -> list[Sample]:
        dataset = self.spec.datasets["eval"]
        rows, self.source = load_rows(dataset, ("text",), source_override=self.dataset_source, base_dir=self.base_dir)
        text = "\n\n".join(str(row["text"]) for row in rows)
        tokenizer = tokenizer_for(self.model, self.spec.name)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        self.vocab_size = len(tokenizer)
        p = self.parameters
        if len(ids) < 2:
            raise ConfigError("the corpus has fewer than 2 tokens", source=self.source)
        samples = [
            Sample(id=f"c{p.context_length}s{p.stride}-w{i:04d}",
                   fields={"token_ids": tuple(ids[begin:end]), "target_tokens": target, "begin": begin})
            for i, (begin, end, target) in enumerate(sliding_windows(len(ids), p.context_length, p.stride))
        ]
        return select_subset(samples, max_samples, seed, source=f"{self.source} ({len(ids)} tokens, "
                             f"{len(samples)} windows of {p.context_length} tokens, stride {p.stride})")

    def build_requests(self, samples: Sequence[Sample], model: ModelSpec | None) -> list[ScoringRequest]:
        self.targets = {s.id: s.fields["target_tokens"] for s in samples}
        return [ScoringRequest(id=s.id, sample_id=s.id, max_tokens=0, prompt="", token_ids=s.fields["token_ids"],
                               target_tokens=s.fields["target_tokens"]) for s in samples]

    def adapt_engine(self, engine: Engine) -> ScoringEngine:
        return ScoringEngine(engine, self.parameters.batch_size, self.logprobs)

    def evaluate(self, samples: Sequence[Sample], records: Sequence[Record], model: ModelSpec | None) -> QualityResult:
        """Perplexity over every requested window; a failed window's target tokens
        count ln(vocabulary size) nats each (the uniform guess)."""
        per_record = record_per_sample(samples, records)
        nll = 0.0
        scored_tokens = 0
        windows = 0
        failed: list[str] = []
        for sample in samples:
            record = per_record[sample.id]
            target = sample.fields["target_tokens"]
            logprobs = self.logprobs.get(record.request_id) if record is not None and record.ok else None
            if logprobs is None:
                failed.append(sample.id)
                nll += target * math.log(self.vocab_size) if self.vocab_size else math.inf
            else:
                nll -= sum(logprobs[-target:])
                windows += 1
            scored_tokens += target
        result = QualityResult()
        if scored_tokens and math.isfinite(nll):
            result.scores["perplexity"] = math.exp(nll / scored_tokens)
            result.scores["nll_per_token"] = nll / scored_tokens
        p = self.parameters
        result.details.update(self.data_details())
        result.details.update({"scored_windows": windows, "scored_tokens": scored_tokens,
                               "context_length": p.context_length, "stride": p.stride})
        if failed:
            result.details["failed_windows"] = failed
            result.details["failed_window_score"] = (f"uniform over the {self.vocab_size}-token vocabulary: "
                                                     f"ln {self.vocab_size} nats per target token")
        fingerprint = sample_fingerprint([s.id for s in samples], 0)
        apply_targets(self.spec, model.name if model is not None else None, fingerprint, result)
        return result

    def case_metrics(self, records: Sequence[Record], runs: Sequence[ScenarioRun]) -> MetricSet:
        """Scored tokens per second over the measured rounds: the scoring workload's
        throughput (``e2e_*`` is the latency per window, ``total_tokens_per_s`` counts
        every window token, context included)."""
        seconds = sum(run.end - run.start for run in runs) or None
        scored = sum(self.targets.get(r.request_id, 0) for r in records if r.ok)
        return {"scored_tokens_per_s": Metric(scored / seconds if seconds else None, "tokens/s", Better.HIGHER)}
