"""Summarization (XSum-style): one-sentence summaries judged by
ROUGE-1/2/L/Lsum (``rouge-score``, stemmed F1) with seeded bootstrap
confidence intervals, plus mean output tokens per sample."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from openaiperf.metrics.stats import bootstrap_ci
from openaiperf.models import ModelSpec
from openaiperf.records import Record, Request
from openaiperf.registry import Requirement, requirement
from openaiperf.tasks import QualityResult, Sample, Task, TaskSpec, select_subset
from openaiperf.tasks.datasets import load_rows
from openaiperf.tasks.quality import apply_targets, failed_samples, record_per_sample, sample_fingerprint

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
DEFAULT_USER_PROMPT = "Summarize the following article in one sentence.\n\n{document}"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> str:
    """rougeLsum treats newlines as sentence boundaries."""
    return "\n".join(s for s in _SENTENCE_END.split(text.strip()) if s)


class SummarizationTask(Task):
    kind: ClassVar[str] = "summarization"
    requires: ClassVar[tuple[Requirement, ...]] = (requirement("rouge-score>=0.1.2", module="rouge_score"),)
    fields: ClassVar[tuple[str, ...]] = ("id", "document", "summary")
    sample_columns: ClassVar[bool] = True

    def __init__(self, spec: TaskSpec, *, dataset_source: str | None = None, base_dir: Path | None = None,
                 model: ModelSpec | None = None, bootstrap_seed: int = 0) -> None:
        super().__init__(spec, dataset_source=dataset_source, base_dir=base_dir, model=model)
        self.bootstrap_seed = bootstrap_seed
        self.source: str | None = None

    def load_samples(self, max_samples: int | None, seed: int | None) -> list[Sample]:
        budget = self.spec.input_profile.thinking_budget
        rows, self.source = load_rows(
            self.spec.datasets["eval"], self.fields, source_override=self.dataset_source, base_dir=self.base_dir,
            optional=(budget.column,) if budget else ())
        samples = [Sample(id=str(row["id"]), fields=row) for row in rows]
        return select_subset(samples, max_samples, seed, source=self.source)

    def build_requests(self, samples: Sequence[Sample], model: ModelSpec | None) -> list[Request]:
        prompt = self.spec.prompt
        user_template = prompt.user if prompt else DEFAULT_USER_PROMPT
        system = prompt.system if prompt else None
        profile = self.spec.input_profile
        requests = []
        for i, sample in enumerate(samples):
            user = user_template.format(**sample.fields)
            common: dict[str, Any] = dict(id=f"{sample.id}#{i}", sample_id=sample.id, max_tokens=profile.max_new_tokens,
                          temperature=profile.temperature, top_p=profile.top_p)
            if model is None or model.chat:
                messages = ([{"role": "system", "content": system}] if system else []) + [
                    {"role": "user", "content": user}
                ]
                requests.append(Request(messages=messages, **common))
            else:
                requests.append(Request(prompt=f"{system + chr(10) if system else ''}{user}\nSummary:", **common))
        return requests

    def evaluate(self, samples: Sequence[Sample], records: Sequence[Record], model: ModelSpec | None) -> QualityResult:
        """ROUGE of every requested sample against its reference summary; a sample
        whose request failed scores 0 (and 0 output tokens), so the quality gate
        still applies to the sample set asked for."""
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
        per_record = record_per_sample(samples, records)
        per_sample: dict[str, list[float]] = {t: [] for t in ROUGE_TYPES}
        tokens: list[float] = []
        for sample in samples:
            record = per_record[sample.id]
            if record is None or not record.ok:
                for t in ROUGE_TYPES:
                    per_sample[t].append(0.0)
                tokens.append(0.0)
                continue
            reference = str(sample.fields["summary"])
            scores = scorer.score(split_sentences(reference), split_sentences(record.text))
            for t in ROUGE_TYPES:
                per_sample[t].append(scores[t].fmeasure)
            tokens.append(float(record.output_tokens or 0))
        result = QualityResult()
        for t in ROUGE_TYPES:
            if per_sample[t]:
                result.scores[t] = float(np.mean(per_sample[t]))
                ci = bootstrap_ci(per_sample[t], seed=self.bootstrap_seed)
                if ci:
                    result.intervals[t] = ci
        if tokens:
            result.scores["tokens_per_sample"] = float(np.mean(tokens))
        failed = failed_samples(per_record)
        result.details["scored_samples"] = len(samples) - len(failed)
        if failed:
            result.details["failed_samples"] = failed
            result.details["failed_sample_score"] = "ROUGE 0 and 0 output tokens for each failed sample"
        result.details.update(self.data_details())
        fingerprint = sample_fingerprint([s.id for s in samples], self.spec.input_profile.max_new_tokens)
        apply_targets(self.spec, model.name if model is not None else None, fingerprint, result)
        return result
