"""A thinking budget per sample, end to end: a task file whose JSONL dataset gives each
sample its own budget (a column; empty: the task's ``request_body`` budget), run through
``pytest benchmarks --endpoint`` against the scripted server. The server records the budget
each request carried and stops its reasoning there (12 reasoning tokens by its script, fewer
under a smaller budget; the answer's 8 tokens untouched): the truth per request is
``min(budget, 12)`` reasoning tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.suites import run_suite
from openaiperf.testing.scripted_server import Script, start_scripted_server

SCRIPT = {"tokens": 20, "reasoning_tokens": 12, "ttft_ms": 10.0, "gap_ms": 2.0}
TASK_DEFAULT = 8
#: sample id -> its budget in the dataset ("" and a missing key: the task's default)
BUDGETS: dict[str, object] = {"q1": 3, "q2": 0, "q3": "", "q4": 20, "q5": "5", "q6": None}


def expected_budget(sample: str) -> int:
    value = BUDGETS[sample]
    return TASK_DEFAULT if value in ("", None) else int(str(value))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, word_tokenizer: Path) -> tuple[dict, list[dict], list[dict]]:
    project = tmp_path_factory.mktemp("thinking-project")
    rows = []
    for sample, budget in BUDGETS.items():
        row: dict[str, object] = {"id": sample, "document": f"document {sample}", "summary": "a summary"}
        if budget is not None:
            row["thinking_budget"] = budget
        rows.append(row)
    (project / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = {"name": "reasoning.budgets", "kind": "summarization", "scenarios": ["single_stream"],
            "datasets": {"eval": {"source": "questions.jsonl", "format": "jsonl"}},
            "metrics": {"quality": []}, "warmup": {"samples": 0},
            "input_profile": {"max_new_tokens": 64, "request_body": {"max_thinking_tokens": TASK_DEFAULT},
                              "thinking_budget": {"column": "thinking_budget", "field": "max_thinking_tokens"}}}
    (project / "task.yaml").write_text(json.dumps(task))
    (project / "benchmarks").mkdir()
    (project / "benchmarks" / "matrix.yaml").write_text(json.dumps({"suites": [{
        "name": "budgets", "tasks": ["reasoning.budgets"], "scenarios": ["single_stream"], "engines": ["openai"],
        "models": ["thinker"], "engine_options": {"openai": {"extra_body": {"script": SCRIPT}}}}]}))
    (project / "models.yaml").write_text(f"thinker:\n  source: {word_tokenizer}\n  parameters: 1000000\n"
                                         "  dtype: float32\n  chat: true\n")
    with start_scripted_server(Script()) as server:
        suite = run_suite(project, "--task-file", "task.yaml", "--no-history", endpoint=server.url)
        received = server.stats()["received"]
    assert suite.proc.returncode == 0, suite.output
    case = suite.case()
    assert suite.run_dir is not None
    records = [json.loads(line) for line in (suite.run_dir / case["records_file"]).read_text().splitlines()]
    return case, [r for r in records if not (r["warmup"] or r["discarded"])], received


def test_each_request_carried_its_samples_budget(run):
    _, _, received = run
    by_sample = {}
    for body in received:
        text = json.dumps(body["messages"])
        (sample,) = [s for s in BUDGETS if f"document {s}" in text]
        by_sample.setdefault(sample, []).append(body.get("max_thinking_tokens"))
    assert by_sample == {s: [expected_budget(s)] for s in BUDGETS}


def test_each_request_reasoned_up_to_its_budget(run):
    case, records, _ = run
    assert case["status"] == "passed" and len(records) == len(BUDGETS)
    for record in records:
        reasoning = min(expected_budget(record["sample_id"]), 12)
        # the server's count (none reported for no reasoning) and the reasoning text streamed
        assert (record["reasoning_tokens"] or 0) == reasoning and record["reasoning"] == "tok " * reasoning, record
        assert record["output_tokens"] == reasoning + 8 and record["text"] == "tok " * 8
    total = sum(min(expected_budget(s), 12) for s in BUDGETS)
    assert case["metrics"]["reasoning_tokens"]["value"] == total
