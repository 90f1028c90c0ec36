"""Pooling requests and tasks without a server: the request bodies, the answers' checks, the
task kinds' samples (drawn and from a dataset), the engine check, and the tables' columns."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from openaiperf.engines.hf import HFEngine
from openaiperf.engines.pooling import pooling_body, read_pooling_answer
from openaiperf.errors import ConfigError, EngineError
from openaiperf.metrics import Metric
from openaiperf.metrics.pooling import pooling_metrics, without_generation
from openaiperf.models import ModelSpec
from openaiperf.records import PoolingRequest, Record
from openaiperf.report.console import table_columns
from openaiperf.tasks import load_task_spec, task_kinds
from openaiperf.testing.contexts import endpoint_engine, engine_context


def embed(**changes: object) -> PoolingRequest:
    return PoolingRequest(**{"id": "e", "sample_id": "s", "max_tokens": 0, "inputs": ("a b", "c"), **changes})


def test_a_pooling_request_needs_its_inputs():
    with pytest.raises(ValueError, match="at least one input"):
        embed(inputs=())
    with pytest.raises(ValueError, match="query and at least one document"):
        PoolingRequest(id="r", sample_id="s", max_tokens=0, kind="rerank", query="q")
    assert embed().items == 2
    rerank = PoolingRequest(id="r", sample_id="s", max_tokens=0, kind="rerank", query="q", documents=("x",) * 3)
    assert rerank.items == 3


def test_salting_prefixes_every_input_and_keeps_token_lengths():
    request = embed(input_token_ids=((5, 6, 7, 8, 9), (5, 6)))
    salted = request.salted("[ab12]")
    assert salted.inputs == ("[ab12] a b", "[ab12] c") and salted.salt == "[ab12]"
    assert [len(ids) for ids in salted.input_token_ids or ()] == [5, 2]
    assert salted.input_token_ids != request.input_token_ids
    rerank = PoolingRequest(id="r", sample_id="s", max_tokens=0, kind="rerank", query="q", documents=("x", "y"))
    assert rerank.warmup_copy(0).documents == ("[warmup 0] x", "[warmup 0] y")


def test_the_bodies_of_embeddings_and_rerank_requests():
    request = embed(input_token_ids=((1, 2), (3,)), body={"dimensions": 4})
    assert pooling_body(request, "m", {"user": "u"}) == ("/v1/embeddings", {
        "user": "u", "model": "m", "input": ["a b", "c"], "encoding_format": "float", "dimensions": 4})
    assert pooling_body(request, "m", token_ids=True)[1]["input"] == [[1, 2], [3]]
    rerank = PoolingRequest(id="r", sample_id="s", max_tokens=0, kind="rerank", query="q", documents=("x", "y"))
    assert pooling_body(rerank, "m") == ("/v1/rerank", {"model": "m", "query": "q", "documents": ["x", "y"]})


@pytest.mark.parametrize(("answer", "problem"), [
    ({"data": [{"index": 0, "embedding": [0.1, 0.2]}, {"index": 1, "embedding": [0.3, 0.4]}]}, None),
    ({"data": [{"index": 0, "embedding": [0.1, 0.2]}]}, "1 embeddings for 2 inputs"),
    ({"data": [{"index": 0, "embedding": [0.1, math.nan]}, {"index": 1, "embedding": [0.3, 0.4]}]}, "finite"),
    ({"data": [{"index": 0, "embedding": [0.1]}, {"index": 1, "embedding": [0.3, 0.4]}]}, "different"),
    ({"data": [{"index": 0, "embedding": [0.1]}, {"index": 0, "embedding": [0.3]}]}, "do not cover"),
    ({"data": [{"index": 0, "embedding": "base64"}, {"index": 1, "embedding": [0.3]}]}, "no embedding list"),
    ({}, "no data list"),
])
def test_an_embeddings_answer_is_checked(answer, problem):
    record = Record(request_id="e", sample_id="s")
    read_pooling_answer(embed(), {**answer, "usage": {"prompt_tokens": 7}}, record)
    assert record.input_tokens == 7 and record.output_tokens == 0 and not record.timed_tokens
    found = record.pooling["problem"] if record.pooling else "missing"
    assert found == problem if problem is None else problem in str(found)


def test_a_rerank_answer_needs_one_finite_score_per_document():
    rerank = PoolingRequest(id="r", sample_id="s", max_tokens=0, kind="rerank", query="q", documents=("x", "y"))
    record = Record(request_id="r", sample_id="s")
    read_pooling_answer(rerank, {"usage": {"total_tokens": 5}, "results": [
        {"index": 1, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.1}]}, record)
    assert record.pooling == {"kind": "rerank", "inputs": 2, "outputs": 2, "dimension": None, "problem": None}
    assert record.input_tokens == 5
    read_pooling_answer(rerank, {"results": [{"index": 0, "relevance_score": None},
                                             {"index": 1, "relevance_score": 0.1}]}, record)
    assert record.pooling is not None and "not a finite number" in str(record.pooling["problem"])


def test_generation_metrics_are_left_out_of_a_pooling_case():
    metrics = {"ttft_p50": Metric(None, "ms"), "output_tokens_per_s": Metric(0.0, "tokens/s"),
               "decode_mfu": Metric(None, "fraction"), "mbu": Metric(None, "fraction"),
               "energy_per_output_token": Metric(None, "J/token"), "e2e_p50": Metric(5.0, "ms"),
               "output_tokens": Metric(0.0, "tokens"), "requests_per_s": Metric(1.0, "requests/s")}
    assert sorted(without_generation(metrics)) == ["e2e_p50", "output_tokens", "requests_per_s"]
    assert pooling_metrics([Record(request_id="x", sample_id="s")]) == {}


def write(path: Path, spec: dict) -> Path:
    path.write_text(json.dumps(spec))
    return path


def test_embeddings_from_a_dataset_batch_its_rows(tmp_path):
    (tmp_path / "texts.csv").write_text("text\n" + "\n".join(f"row {i}" for i in range(7)) + "\n")
    spec = load_task_spec(write(tmp_path / "e.yaml", {
        "name": "e.rows", "kind": "embeddings", "datasets": {"eval": {"source": "texts.csv"}},
        "parameters": {"batch_size": 3}, "scenarios": ["offline"]}))
    task = task_kinds.get("embeddings")(spec, base_dir=tmp_path)
    samples = task.load_samples(None, None)
    assert [s.fields["inputs"] for s in samples] == [["row 0", "row 1", "row 2"], ["row 3", "row 4", "row 5"],
                                                    ["row 6"]]
    requests = task.build_requests(samples, None)
    assert [r.items for r in requests] == [3, 3, 1] and {r.kind for r in requests} == {"embeddings"}


def test_rerank_from_a_dataset_and_a_bad_row(tmp_path):
    rows = [{"query": "capital of France", "documents": ["Paris", "Rome"]}, {"query": "q", "documents": ["x"]}]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    spec = load_task_spec(write(tmp_path / "r.yaml", {
        "name": "r.rows", "kind": "rerank", "datasets": {"eval": {"source": "r.jsonl", "format": "jsonl"}},
        "scenarios": ["offline"]}))
    task = task_kinds.get("rerank")(spec, base_dir=tmp_path)
    (first, second) = task.build_requests(task.load_samples(None, None), None)
    assert (first.query, first.documents, second.items) == ("capital of France", ("Paris", "Rome"), 1)
    (tmp_path / "r.jsonl").write_text(json.dumps({"query": "q", "documents": []}))
    with pytest.raises(ConfigError, match="documents must be a non-empty list"):
        task.load_samples(None, None)


def test_drawn_inputs_have_the_asked_lengths(tmp_path, word_tokenizer, monkeypatch):
    from transformers import AutoTokenizer

    import openaiperf.tasks.synthetic as synthetic
    from openaiperf.tasks.pooling import EmbeddingsTask, RerankTask

    # the word tokenizer (one token per word, the vocabulary "tok") as the case model's
    tokenizer = AutoTokenizer.from_pretrained(word_tokenizer)
    monkeypatch.setattr(synthetic, "tokenizer_for", lambda *args, **kwargs: tokenizer)
    model = ModelSpec(name="words", source="words", parameters=1)
    spec = load_task_spec(write(tmp_path / "e.yaml", {
        "name": "e.drawn", "kind": "embeddings", "parameters": {"batch_size": 2, "requests": 3, "input_length": 5},
        "scenarios": ["offline"]}))
    samples = EmbeddingsTask(spec, model=model).load_samples(None, None)
    rerank_spec = load_task_spec(write(tmp_path / "r.yaml", {
        "name": "r.drawn", "kind": "rerank", "scenarios": ["offline"],
        "parameters": {"requests": 2, "documents": 3, "query_length": 2, "document_length": 4}}))
    reranks = RerankTask(rerank_spec, model=model).load_samples(None, None)
    assert len(samples) == 3 and all(len(ids) == 5 for s in samples for ids in s.fields["input_token_ids"])
    assert all(text == "tok tok tok tok tok" for s in samples for text in s.fields["inputs"])
    assert [len(r.fields["documents"]) for r in reranks] == [3, 3]
    assert all(len(d.split()) == 4 for r in reranks for d in r.fields["documents"])


def test_an_engine_that_cannot_send_pooling_requests_is_refused(tmp_path):
    spec = load_task_spec(write(tmp_path / "e.yaml", {"name": "e.x", "kind": "embeddings", "scenarios": ["offline"]}))
    task = task_kinds.get("embeddings")(spec)
    with pytest.raises(EngineError, match="runner=pooling"):
        task.adapt_engine(HFEngine(engine_context(model="smollm2-135m")))
    engine = endpoint_engine("http://127.0.0.1:9/v1", prepare=False)
    assert task.adapt_engine(engine) is engine


def test_pooling_columns_only_in_tables_that_have_them(tmp_path):
    from fixtures.results import measured_case
    from openaiperf.result import MetricValue

    generation = measured_case(tmp_path, "summarization.xsum-offline-hf-m")
    pooling = measured_case(tmp_path, "embeddings.synthetic-offline-openai-m")
    pooling.metrics["inputs_per_s"] = MetricValue(value=12.0, unit="inputs/s", better="higher")
    assert "inputs/s" not in [c.header for c in table_columns([generation])]
    headers = [c.header for c in table_columns([generation, pooling])]
    # each column on its own: the case has inputs/s only
    assert "inputs/s" in headers and "in tok/s" not in headers and "TTFT p50 (ms)" in headers
