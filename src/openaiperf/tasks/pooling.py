"""Pooling workloads: embeddings and reranking, the ``embeddings`` and ``rerank`` task kinds.

``embeddings``: each request carries ``batch_size`` inputs to embed (``/v1/embeddings``);
``rerank``: each request carries a query and ``documents`` documents to rank against it
(``/v1/rerank``, the Jina/Cohere-style API that vLLM serves). The inputs come from the task
file's dataset when it names one (embeddings: a ``text`` column, ``batch_size`` rows per
request; rerank: a ``query`` and a ``documents`` list per row, JSON or JSONL), else they are
drawn: ``requests`` requests of random tokens from the case model's vocabulary, of
``input_length`` tokens each (rerank: ``query_length`` and ``document_length``), fixed or
spread around it (``distribution``, ``spread``, ``seed``, as the ``synthetic`` kind). Drawn
inputs travel as token ids to a server that takes them (the managed vLLM server), else as
their text.

The requests go through the ``openai`` engine (:mod:`openaiperf.engines.pooling`), whose
managed vLLM server serves them with ``runner=pooling`` and ``convert=embed`` (an embedding
model made of a generative checkpoint; its embeddings serve ``/v1/rerank`` too, as a
bi-encoder) or ``convert=classify`` (a score head). Their metrics are
:mod:`openaiperf.metrics.pooling`'s (inputs/s, input tokens/s, request latency); the shape
of the answers (one finite output per input, one embedding dimension, the model's hidden
size) is the case's validity (:meth:`PoolingTask.validity`). Nothing is judged: a
performance workload.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from openaiperf.errors import ConfigError, EngineError
from openaiperf.metrics.pooling import pooling_validity
from openaiperf.records import PoolingRequest, Record
from openaiperf.registry import Options
from openaiperf.tasks import QualityResult, Sample, Task, dataset_details, select_subset
from openaiperf.tasks.datasets import load_rows
from openaiperf.tasks.synthetic import LengthDistribution, draw_length, model_vocabulary


class EmbeddingsParameters(LengthDistribution):
    #: inputs per request (the batch a client sends in one /v1/embeddings call)
    batch_size: int = Field(default=1, gt=0)
    #: drawn inputs: how many requests, and the tokens of each input
    requests: int = Field(default=16, gt=0)
    input_length: int = Field(default=64, gt=0)


class RerankParameters(LengthDistribution):
    #: drawn requests: how many, the documents of each, and the tokens of a query and of a document
    requests: int = Field(default=16, gt=0)
    documents: int = Field(default=8, gt=0)
    query_length: int = Field(default=16, gt=0)
    document_length: int = Field(default=64, gt=0)


class PoolingTask(Task):
    """What the embeddings and rerank kinds share: drawn or dataset inputs, pooling
    requests through an engine that sends them, no quality judged, the answers' shape checked."""

    pooling_kind: ClassVar[Literal["embeddings", "rerank"]] = "embeddings"
    judges_quality: ClassVar[bool] = False
    #: a dataset is optional: without one the inputs are drawn from the model's vocabulary
    needs_dataset: ClassVar[bool] = False
    needs_model: ClassVar[bool] = True
    parameters: LengthDistribution

    def has_dataset(self) -> bool:
        return "eval" in self.spec.datasets or self.dataset_source is not None

    def draw(self, rng: np.random.Generator, vocabulary: np.ndarray, tokenizer: Any, length: int
             ) -> tuple[list[int], str | None]:
        """One drawn input: its token ids, and their text (None without a tokenizer)."""
        ids = [int(t) for t in rng.choice(vocabulary, size=draw_length(rng, length, self.parameters))]
        return ids, tokenizer.decode(ids) if tokenizer is not None else None

    def adapt_engine(self, engine: Any) -> Any:
        if not engine.serves_pooling:
            raise EngineError(f"engine {engine.name!r} does not send {self.pooling_kind} requests: the task "
                              f"{self.spec.name} runs on the openai engine (an --endpoint that serves "
                              f"/v1/{self.pooling_kind}, or the managed vLLM server with the engine options "
                              "runner=pooling and convert=embed or classify)")
        return engine

    def build_requests(self, samples: Sequence[Sample], model: Any) -> list[PoolingRequest]:
        body = self.spec.input_profile.request_body or None
        requests = []
        for index, s in enumerate(samples):
            ids = s.fields.get("input_token_ids")
            requests.append(PoolingRequest(
                id=f"{s.id}#{index}", sample_id=s.id, max_tokens=0, kind=self.pooling_kind, body=body,
                inputs=tuple(s.fields.get("inputs") or ()),
                input_token_ids=tuple(tuple(i) for i in ids) if ids else None,
                query=s.fields.get("query", ""), documents=tuple(s.fields.get("documents") or ())))
        return requests

    def evaluate(self, samples: Sequence[Sample], records: Sequence[Record], model: Any) -> QualityResult:
        result = QualityResult()
        result.details["quality"] = "none: a performance workload (the answers' shape is the case's validity)"
        result.details["parameters"] = self.parameters.model_dump()
        if self.has_dataset():
            result.details.update(dataset_details(self.spec.datasets["eval"], self.dataset_source)
                                  if "eval" in self.spec.datasets else {"dataset_source": self.dataset_source})
        else:
            result.details.update({"dataset_source": "generated: random tokens from the model's vocabulary",
                                   "license": "n/a (generated)", "dataset_sha256": None})
        return result

    def validity(self, records: Sequence[Record]) -> dict[str, tuple[bool, str]]:
        """name -> (valid, why) of the measured answers' shape (see :func:`pooling_validity`):
        embeddings are expected to have the model's hidden size when its architecture is known."""
        architecture = self.model.architecture if self.model is not None else None
        return pooling_validity(records, architecture.hidden_size if architecture is not None else None)


class EmbeddingsTask(PoolingTask):
    kind: ClassVar[str] = "embeddings"
    pooling_kind: ClassVar[Literal["embeddings", "rerank"]] = "embeddings"
    Options: ClassVar[type[Options]] = EmbeddingsParameters
    parameters: EmbeddingsParameters

    def load_samples(self, max_samples: int | None, seed: int | None) -> list[Sample]:
        p = self.parameters
        samples: list[Sample] = []
        if self.has_dataset():
            rows, source = load_rows(self.spec.datasets["eval"], ("text",), source_override=self.dataset_source,
                                     base_dir=self.base_dir)
            texts = [str(row["text"]) for row in rows]
            for index in range(math.ceil(len(texts) / p.batch_size)):
                batch = texts[index * p.batch_size:(index + 1) * p.batch_size]
                samples.append(Sample(id=f"b{index:04d}", fields={"inputs": batch}))
            return select_subset(samples, max_samples, seed, source=f"{source} ({len(texts)} texts, "
                                 f"{len(samples)} requests of {p.batch_size})")
        vocabulary, tokenizer = model_vocabulary(self.model, self.spec.name)
        rng = np.random.default_rng(p.seed)
        for index in range(p.requests):
            drawn = [self.draw(rng, vocabulary, tokenizer, p.input_length) for _ in range(p.batch_size)]
            samples.append(Sample(id=f"in{p.input_length}x{p.batch_size}-{index}", fields={
                "input_token_ids": [ids for ids, _ in drawn],
                "inputs": [text for _, text in drawn] if tokenizer is not None else None}))
        return select_subset(samples, max_samples, seed, source=f"task {self.spec.name} ({len(samples)} requests)")


class RerankTask(PoolingTask):
    kind: ClassVar[str] = "rerank"
    pooling_kind: ClassVar[Literal["embeddings", "rerank"]] = "rerank"
    Options: ClassVar[type[Options]] = RerankParameters
    parameters: RerankParameters

    def load_samples(self, max_samples: int | None, seed: int | None) -> list[Sample]:
        p = self.parameters
        samples: list[Sample] = []
        if self.has_dataset():
            rows, source = load_rows(self.spec.datasets["eval"], ("query", "documents"),
                                     source_override=self.dataset_source, base_dir=self.base_dir)
            for index, row in enumerate(rows):
                documents = row["documents"]
                if isinstance(documents, str):  # a CSV cell: one document per line
                    documents = [d for d in documents.splitlines() if d.strip()]
                if not isinstance(documents, list) or not documents:
                    raise ConfigError(f"row {index}: documents must be a non-empty list of texts", source=source)
                samples.append(Sample(id=f"q{index:04d}", fields={"query": str(row["query"]),
                                                                  "documents": [str(d) for d in documents]}))
            return select_subset(samples, max_samples, seed, source=f"{source} ({len(samples)} queries)")
        vocabulary, tokenizer = model_vocabulary(self.model, self.spec.name)
        if tokenizer is None:
            name = self.model.name if self.model is not None else "?"
            raise ConfigError(f"model {name} has no tokenizer: rerank requests are texts, drawn from the "
                              "tokenizer's vocabulary", source=f"task {self.spec.name}")
        rng = np.random.default_rng(p.seed)
        for index in range(p.requests):
            _, query = self.draw(rng, vocabulary, tokenizer, p.query_length)
            documents = [self.draw(rng, vocabulary, tokenizer, p.document_length)[1] for _ in range(p.documents)]
            samples.append(Sample(id=f"q{p.query_length}d{p.document_length}x{p.documents}-{index}",
                                  fields={"query": query, "documents": documents}))
        return select_subset(samples, max_samples, seed, source=f"task {self.spec.name} ({len(samples)} requests)")
