"""Pooling requests over HTTP: ``/v1/embeddings`` and ``/v1/rerank`` (the Jina/Cohere-style
reranking API that vLLM serves for score models), for the ``openai`` engine.

A pooling request is sent whole and answered with one JSON document (no stream): its
record gets the time the answer was read in full (``done``), the server's input token
count (``usage.prompt_tokens``; a rerank answer that gives only ``total_tokens`` counts
those, all of them prompt tokens), no output tokens, and no first-token time
(``timed_tokens`` False: TTFT, TPOT and ITL do not apply and are absent). What came back is
checked where it is cheap (``Record.pooling``): one output per input, embeddings of one
dimension with finite values, one finite relevance score per document, indexes that
cover the inputs. The vectors themselves are not kept.
"""

from __future__ import annotations

import math
from typing import Any

from openaiperf.records import PoolingRequest, Record

#: the server path of each kind of pooling request
POOLING_PATHS = {"embeddings": "/v1/embeddings", "rerank": "/v1/rerank"}


def pooling_body(request: PoolingRequest, model: str, extra: dict[str, Any] | None = None, *,
                 token_ids: bool = False) -> tuple[str, dict[str, Any]]:
    """(path, JSON body) of ``request`` for a server that serves ``model``; inputs as token
    ids when the request has them and ``token_ids`` (the server takes them), else as texts."""
    body: dict[str, Any] = {**(extra or {}), "model": model}
    if request.kind == "rerank":
        body |= {"query": request.query, "documents": list(request.documents)}
    elif request.input_token_ids and (token_ids or not request.inputs):
        body |= {"input": [list(ids) for ids in request.input_token_ids], "encoding_format": "float"}
    else:
        body |= {"input": list(request.inputs), "encoding_format": "float"}
    if request.body:
        body.update(request.body)
    return POOLING_PATHS[request.kind], body


def embeddings_problem(data: Any, expected: int) -> tuple[int, int | None, str | None]:
    """(outputs, dimension, problem) of an embeddings answer's ``data``."""
    if not isinstance(data, list):
        return 0, None, "the answer has no data list"
    vectors: list[Any] = [item.get("embedding") if isinstance(item, dict) else None for item in data]
    dimensions = {len(v) for v in vectors if isinstance(v, list)}
    dimension = next(iter(dimensions)) if len(dimensions) == 1 else None
    if len(vectors) != expected:
        return len(vectors), dimension, f"{len(vectors)} embeddings for {expected} inputs"
    if any(not isinstance(v, list) for v in vectors):
        return len(vectors), dimension, "an item has no embedding list (encoding_format float was asked)"
    if len(dimensions) != 1 or dimension == 0:
        return len(vectors), dimension, f"embeddings of different or empty dimensions {sorted(dimensions)}"
    if any(not (isinstance(x, (int, float)) and math.isfinite(x)) for v in vectors for x in v):
        return len(vectors), dimension, "an embedding has a value that is not a finite number"
    indexes = sorted(item.get("index", i) if isinstance(item, dict) else -1 for i, item in enumerate(data))
    if indexes != list(range(expected)):
        return len(vectors), dimension, f"indexes {indexes} do not cover the {expected} inputs"
    return len(vectors), dimension, None


def rerank_problem(results: Any, expected: int) -> tuple[int, str | None]:
    """(outputs, problem) of a rerank answer's ``results``: one finite score per document."""
    if not isinstance(results, list):
        return 0, "the answer has no results list"
    scores = [item.get("relevance_score") if isinstance(item, dict) else None for item in results]
    if len(scores) != expected:
        return len(scores), f"{len(scores)} scores for {expected} documents"
    if any(not (isinstance(s, (int, float)) and math.isfinite(s)) for s in scores):
        return len(scores), "a relevance score is not a finite number"
    indexes = sorted(item.get("index", -1) for item in results)
    if indexes != list(range(expected)):
        return len(scores), f"indexes {indexes} do not cover the {expected} documents"
    return len(scores), None


def read_pooling_answer(request: PoolingRequest, answer: Any, record: Record) -> None:
    """Fill ``record`` from the server's JSON ``answer`` (its ``done`` is already set)."""
    record.timed_tokens = False
    record.output_tokens = 0
    answer = answer if isinstance(answer, dict) else {}
    usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
    tokens = usage.get("prompt_tokens", usage.get("total_tokens"))
    if isinstance(tokens, int):
        record.input_tokens = tokens
    expected = request.items
    if request.kind == "rerank":
        outputs, problem = rerank_problem(answer.get("results"), expected)
        dimension = None
    else:
        outputs, dimension, problem = embeddings_problem(answer.get("data"), expected)
    record.pooling = {"kind": request.kind, "inputs": expected, "outputs": outputs, "dimension": dimension,
                      "problem": problem}
