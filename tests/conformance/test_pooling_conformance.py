"""Embeddings and reranking against the scripted server (ground truth: a pooling request is
answered after exactly ``pool_base_ms + pool_token_ms × input tokens``, at most
``max_concurrency`` at once): the ``openai`` engine's latency per request, the input tokens
it reads from the usage, inputs/s at a scripted capacity, and the shape checks of the answers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fixtures.suites import run_suite
from openaiperf.metrics.latency import latency_metrics
from openaiperf.metrics.pooling import pooling_metrics, pooling_validity, without_generation
from openaiperf.records import PoolingRequest, Record
from openaiperf.scenarios import create_scenario, scenario_config
from openaiperf.testing.scripted_server import Script, start_scripted_server
from openaiperf.testing.scripted_server.pooling import pooling_latency_s
from tests.conformance.test_engine_conformance import engine
from tests.conformance.truth import MS, close_start

BASE_MS, TOKEN_MS = 20.0, 0.5
SCRIPT = {"pool_base_ms": BASE_MS, "pool_token_ms": TOKEN_MS, "pool_dimensions": 12}


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(Script()) as handle:
        yield handle


def embeddings(index: int, sizes: list[int]) -> PoolingRequest:
    return PoolingRequest(id=f"e{index}", sample_id=f"s{index}", max_tokens=0, kind="embeddings",
                          inputs=tuple(" ".join(["tok"] * n) for n in sizes))


def rerank(index: int, query_words: int, documents: list[int]) -> PoolingRequest:
    return PoolingRequest(id=f"r{index}", sample_id=f"s{index}", max_tokens=0, kind="rerank",
                          query=" ".join(["tok"] * query_words),
                          documents=tuple(" ".join(["tok"] * n) for n in documents))


def one_at_a_time(server, requests: list[PoolingRequest], script: dict) -> list[Record]:
    e = engine(server, script)
    records = []
    try:
        for request in requests:
            record = Record(request_id=request.id, sample_id=request.sample_id)
            e.run([request], [record], lambda r: None)
            records.append(record)
    finally:
        e.teardown()
    return records


def test_each_request_takes_base_plus_per_token_time_and_reads_the_usage(server):
    requests = [embeddings(i, [8 * (i + 1)] * 4) for i in range(4)]
    requests += [rerank(10 + i, 4, [10 * (i + 1)] * 5) for i in range(3)]
    records = one_at_a_time(server, requests, SCRIPT)
    truth_tokens = [4 * 8 * (i + 1) for i in range(4)] + [4 + 5 * 10 * (i + 1) for i in range(3)]
    for record, request, tokens in zip(records, requests, truth_tokens):
        assert record.ok, record.error
        assert record.input_tokens == tokens and record.output_tokens == 0
        truth = pooling_latency_s(Script(**SCRIPT), tokens)
        assert truth == pytest.approx((BASE_MS + TOKEN_MS * tokens) / MS)
        assert close_start((record.done - record.sent) * MS, truth), (request.id, record.done - record.sent, truth)
        assert record.first_token is None and not record.timed_tokens and record.chunk_times == []
        assert record.pooling == {"kind": request.kind, "inputs": request.items, "outputs": request.items,
                                  "dimension": 12 if request.kind == "embeddings" else None, "problem": None}
    # the timing metrics of generation do not apply: absent, never 0
    metrics = without_generation(latency_metrics(records)) | pooling_metrics(records)
    assert not any(name.startswith(("ttft", "tpot", "itl")) for name in metrics)
    assert metrics["inputs_per_request"].value == pytest.approx((4 * 4 + 3 * 5) / 7)
    assert metrics["embedding_dimension"].value == 12
    assert all(valid for valid, _ in pooling_validity(records).values())


def test_inputs_per_second_at_a_scripted_capacity(server):
    """Offline (every request at once) against a server that pools 2 requests at a time, each
    of 4 inputs of 40 words after 20 + 0.5 × 160 = 100 ms: 2 / 0.1 s × 4 = 80 inputs/s."""
    script = {**SCRIPT, "max_concurrency": 2}
    requests = [embeddings(i, [40] * 4) for i in range(16)]
    e = engine(server, script)
    try:
        run = create_scenario("offline", scenario_config({}, source="test")).run(e, requests, lambda r: None)
    finally:
        e.teardown()
    assert all(r.ok for r in run.records), [r.error for r in run.records if not r.ok]
    metrics = pooling_metrics(run.records)
    truth_inputs_per_s = 2 / pooling_latency_s(Script(**SCRIPT), 160) * 4
    assert truth_inputs_per_s == pytest.approx(80.0)
    # 8 waves of 100 ms: the client's start-up and loopback time only slow it
    assert truth_inputs_per_s * 0.9 <= metrics["inputs_per_s"].value <= truth_inputs_per_s * 1.01
    assert metrics["input_tokens_per_s"].value == pytest.approx(metrics["inputs_per_s"].value * 40)
    # the k-th wave of 2 requests ends k × 100 ms after the start
    waves = [0.1 * (k // 2 + 1) for k in range(16)]
    for q in (50, 90, 99):
        truth = float(np.percentile(waves, q))
        assert close_start(metrics[f"request_latency_p{q}"].value, truth), (q, metrics[f"request_latency_p{q}"], truth)


def test_inputs_per_second_at_a_scripted_rate(server):
    """The server scenario (Poisson arrivals) at 25 requests/s of 3 inputs, each answered in
    20 + 0.5 × 30 = 35 ms whatever else is in flight (no capacity limit): the window runs from
    the first scheduled arrival to the last one's answer, 35 ms after it."""
    requests = [embeddings(i, [10] * 3) for i in range(10)]
    s = create_scenario("server", scenario_config(
        {"warmup_requests": 0, "qps_target": 25.0, "min_queries": 50, "latency_sla": "100000,100000"},
        source="test"))
    e = engine(server, SCRIPT)
    try:
        run = s.run(e, requests, lambda r: None)
    finally:
        e.teardown()
    assert len(run.records) == 50 and all(r.ok for r in run.records)
    metrics = pooling_metrics(run.records)
    scheduled = [r.scheduled for r in run.records]
    truth = 50 * 3 / (max(scheduled) - min(scheduled) + pooling_latency_s(Script(**SCRIPT), 30))
    assert truth * 0.97 <= metrics["inputs_per_s"].value <= truth * 1.005, (metrics["inputs_per_s"], truth)
    assert close_start(metrics["request_latency_p50"].value, pooling_latency_s(Script(**SCRIPT), 30))


@pytest.mark.parametrize(("fault", "kind", "check"), [
    ("nan", "embeddings", "pooling_outputs"), ("short", "embeddings", "pooling_outputs"),
    ("dimension", "embeddings", "pooling_outputs"), ("nan", "rerank", "pooling_outputs"),
    ("short", "rerank", "pooling_outputs")])
def test_malformed_answers_make_the_case_invalid(server, fault, kind, check):
    request = embeddings(0, [3, 3]) if kind == "embeddings" else rerank(0, 2, [3, 3])
    (record,) = one_at_a_time(server, [request], {**SCRIPT, "pool_fault": fault})
    assert record.ok and record.pooling is not None and record.pooling["problem"]
    valid, why = pooling_validity([record])[check]
    assert not valid and "malformed" in why


def test_the_embedding_dimension_must_be_the_models_hidden_size(server):
    records = one_at_a_time(server, [embeddings(0, [3]), embeddings(1, [5])], SCRIPT)
    assert pooling_validity(records, dimension=12)["embedding_dimension"][0]
    valid, why = pooling_validity(records, dimension=576)["embedding_dimension"]
    assert not valid and "576" in why


def test_an_http_error_fails_the_request_with_the_status(server):
    (record,) = one_at_a_time(server, [embeddings(0, [3])], {**SCRIPT, "http_status": 503})
    assert record.failed and record.error is not None and record.error.startswith("HTTP 503")
    assert record.pooling is None


# -- as a user runs it: task files, pytest benchmarks --endpoint, the reports ------------------------
SUITE_SCRIPT = {**SCRIPT, "max_concurrency": 2}
EMBED_BATCH, EMBED_TOKENS, EMBED_REQUESTS = 4, 30, 12
TASKS = {
    "embed.yaml": {"name": "embed.words", "kind": "embeddings", "datasets": {},
                   "parameters": {"batch_size": EMBED_BATCH, "requests": EMBED_REQUESTS,
                                  "input_length": EMBED_TOKENS},
                   "scenarios": ["offline"], "warmup": {"samples": 1}},
    "rerank.yaml": {"name": "rerank.words", "kind": "rerank", "datasets": {},
                    "parameters": {"requests": 8, "documents": 5, "query_length": 6, "document_length": 20},
                    "scenarios": ["offline", "single_stream"], "warmup": {"samples": 1}},
}
MATRIX = {"suites": [{"name": "pooling", "tasks": ["embed.words", "rerank.words"],
                      "scenarios": ["offline", "single_stream"], "engines": ["openai"], "models": ["words"],
                      "engine_options": {"openai": {"extra_body": {"script": SUITE_SCRIPT}}}}]}


def write_project(project: Path, matrix: dict) -> list[str]:
    """A project folder: the matrix, the word-tokenizer model ``words`` and the task files;
    returns the ``--task-file`` arguments."""
    from openaiperf.testing.word_tokenizer import write_word_tokenizer

    tokenizer = write_word_tokenizer(project / "tokenizer", ["tok"])
    (project / "benchmarks").mkdir()
    (project / "benchmarks" / "matrix.yaml").write_text(json.dumps(matrix))
    (project / "models.yaml").write_text(f"words:\n  source: {tokenizer}\n  parameters: 1000000\n"
                                         "  dtype: float32\n  chat: false\n")
    args = []
    for name, spec in TASKS.items():
        (project / name).write_text(json.dumps(spec))
        args += ["--task-file", name]
    return args


def run_project(project: Path, url: str, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One ``pytest benchmarks`` run of the project against ``url``; its process and run folder."""
    suite = run_suite(project, "--no-monitor", "--no-history", *args, endpoint=url)
    assert suite.run_dir is not None, suite.output
    return suite.proc, suite.run_dir


def run_cases(run_dir: Path) -> dict[str, dict]:
    return {c["id"]: c for c in json.loads((run_dir / "results.json").read_text())["cases"]}


@pytest.fixture(scope="module")
def suite_run(server, tmp_path_factory):
    project = tmp_path_factory.mktemp("pooling-project")
    task_files = write_project(project, MATRIX)
    server.reset()
    proc, run_dir = run_project(project, server.url, *task_files)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc.stdout, run_dir, run_cases(run_dir)


def test_the_suite_reports_pooling_metrics_and_no_generation_metrics(suite_run):
    _, _, cases = suite_run
    embed = cases["embed.words-offline-openai-words"]
    assert embed["status"] == "passed" and embed["valid"], embed.get("notes")
    metrics = {name: m["value"] for name, m in embed["metrics"].items()}
    # each input: its drawn words and the round's salt word in front; 2 requests at a time
    tokens = EMBED_BATCH * (EMBED_TOKENS + 1)
    truth_inputs_per_s = 2 / pooling_latency_s(Script(**SUITE_SCRIPT), tokens) * EMBED_BATCH
    assert truth_inputs_per_s * 0.85 <= metrics["inputs_per_s"] <= truth_inputs_per_s * 1.01, metrics
    assert metrics["input_tokens_per_s"] == pytest.approx(metrics["inputs_per_s"] * (EMBED_TOKENS + 1))
    assert metrics["inputs_per_request"] == EMBED_BATCH and metrics["embedding_dimension"] == 12
    assert not [name for name in metrics if name.startswith(("ttft", "tpot", "itl", "output_tokens_per_"))]
    assert embed["validity"]["pooling_outputs"] and embed["validity"]["embedding_dimension"]
    single = cases["rerank.words-single_stream-openai-words"]
    values = {name: m["value"] for name, m in single["metrics"].items()}
    # one request at a time: the query (6 words and a salt) and 5 documents of 21 words each
    truth = pooling_latency_s(Script(**SUITE_SCRIPT), 7 + 5 * 21)
    assert close_start(values["request_latency_p50"], truth), (values["request_latency_p50"], truth)
    assert values["input_tokens_per_s"] == pytest.approx(values["inputs_per_s"] * (7 + 5 * 21) / 5, rel=1e-6)


def test_the_reports_show_the_pooling_columns(suite_run):
    stdout, run_dir, _ = suite_run
    for text in (stdout, (run_dir / "pr-comment.md").read_text(), (run_dir / "report.html").read_text()):
        assert "inputs/s" in text and "in tok/s" in text and "req latency p99 (ms)" in text


def test_the_gate_calls_slower_pooling_a_regression_of_inputs_per_s(tmp_path):
    """``--baseline-save`` then ``--baseline-compare`` with the catalogue's defaults: a server
    whose per-token time grew by half (the same port: the same configuration) pools 1/1.3 as
    many inputs per second, a regression of ``inputs_per_s`` and ``input_tokens_per_s``."""
    from openaiperf.engines.managed_server import free_port

    matrix = {"suites": [{"name": "pooling", "tasks": ["embed.words"], "scenarios": ["offline"],
                          "engines": ["openai"], "models": ["words"]}]}
    task_files = write_project(tmp_path, matrix)
    args = [*task_files, "--model", "words", "--task", "embed.words", "--repeats", "3", "--max-samples", "6"]
    port = free_port()
    case_id = "embed.words-offline-openai-words"
    with start_scripted_server(Script(pool_base_ms=10.0, pool_token_ms=0.5, max_concurrency=2), port=port) as s:
        saved, _ = run_project(tmp_path, s.url, *args, "--baseline-save")
        assert saved.returncode == 0, saved.stdout[-3000:]
    # 10 + 0.75 x 124 = 103 ms instead of 10 + 0.5 x 124 = 72 ms per request
    with start_scripted_server(Script(pool_base_ms=10.0, pool_token_ms=0.75, max_concurrency=2), port=port) as s:
        slow, run_dir = run_project(tmp_path, s.url, *args, "--baseline-compare")
    assert slow.returncode == 1, slow.stdout[-3000:]
    verdict = run_cases(run_dir)[case_id]["baseline"]
    assert verdict["outcome"] == "regression", verdict["comparison"]["summary"]
    assert {"inputs_per_s", "input_tokens_per_s"} <= set(verdict["comparison"]["regressions"])
    ratio = next(m["ratio"] for m in verdict["comparison"]["metrics"] if m["metric"] == "inputs_per_s")
    assert 0.6 < ratio < 0.8
