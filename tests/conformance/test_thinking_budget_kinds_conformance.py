"""A thinking budget per sample for the ``chat`` kind (a key of each ShareGPT conversation
entry) and the ``trace`` kind (an extra key of each Mooncake trace line), end to end through
``pytest benchmarks --endpoint`` against the scripted server. The server records the budget
each request carried and stops its reasoning there (12 reasoning tokens by its script): the
truth per request is ``min(budget, 12)`` reasoning tokens; a sample without a value is sent
the task's ``request_body`` budget. A ``multiturn`` task is refused at start-up, naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fixtures.suites import run_suite
from openaiperf.errors import ConfigError
from openaiperf.testing.scripted_server import Script, start_scripted_server

SCRIPT = {"tokens": 20, "reasoning_tokens": 12, "ttft_ms": 5.0, "gap_ms": 1.0}
TASK_DEFAULT = 8
#: sample -> its budget in the dataset ("" and a missing key: the task's default)
BUDGETS: dict[int, object] = {1: 3, 2: 0, 3: "", 4: 20, 5: "5", 6: None}


def expected_budget(key: int) -> int:
    value = BUDGETS[key]
    return TASK_DEFAULT if value in ("", None) else int(str(value))


def chat_dataset(project: Path) -> str:
    """ShareGPT entries whose prompt names the sample (``question k``: k words of padding)."""
    entries = []
    for key, budget in BUDGETS.items():
        entry: dict[str, Any] = {"id": f"c{key}", "conversations": [
            {"from": "human", "value": f"question {key} " + "word " * 6},
            {"from": "gpt", "value": "answer " * 30}]}
        if budget is not None:
            entry["thinking_budget"] = budget
        entries.append(entry)
    (project / "chats.json").write_text(json.dumps(entries))
    return "chats.json"


def trace_dataset(project: Path) -> str:
    """Mooncake lines; line k asks for 4 + k input tokens (how the server's record names it) and
    20 output tokens: room for 12 reasoning and 8 answer tokens, so a budget shows as fewer."""
    lines = []
    for key, budget in BUDGETS.items():
        line: dict[str, Any] = {"timestamp": key * 10, "input_length": 4 + key, "output_length": 20, "hash_ids": []}
        if budget is not None:
            line["thinking_budget"] = budget
        lines.append(json.dumps(line) + "\n")
    (project / "trace.jsonl").write_text("".join(lines))
    return "trace.jsonl"


def run_kind(project: Path, kind: str, tokenizer: Path) -> tuple[dict, list[dict], list[dict]]:
    source, fmt = (chat_dataset(project), "json") if kind == "chat" else (trace_dataset(project), "jsonl")
    task = {"name": f"reasoning.{kind}", "kind": kind, "scenarios": ["single_stream"],
            "datasets": {"eval": {"source": source, "format": fmt}},
            "metrics": {"quality": []}, "warmup": {"samples": 0}, "parameters": {"num_prompts": len(BUDGETS)}
            if kind == "chat" else {},
            "input_profile": {"max_new_tokens": 64, "request_body": {"max_thinking_tokens": TASK_DEFAULT},
                              "thinking_budget": {"column": "thinking_budget", "field": "max_thinking_tokens"}}}
    (project / "task.yaml").write_text(json.dumps(task))
    (project / "benchmarks").mkdir()
    (project / "benchmarks" / "matrix.yaml").write_text(json.dumps({"suites": [{
        "name": "budgets", "tasks": [f"reasoning.{kind}"], "scenarios": ["single_stream"], "engines": ["openai"],
        "models": ["thinker"], "engine_options": {"openai": {"extra_body": {"script": SCRIPT}}}}]}))
    (project / "models.yaml").write_text(f"thinker:\n  source: {tokenizer}\n  parameters: 1000000\n"
                                         f"  dtype: float32\n  chat: {'true' if kind == 'chat' else 'false'}\n")
    with start_scripted_server(Script()) as server:
        suite = run_suite(project, "--task-file", "task.yaml", "--no-history", endpoint=server.url)
        received = server.stats()["received"]
    case, folder, proc = suite.case(), suite.run_dir, suite.proc
    assert folder is not None, suite.output
    if kind == "trace":
        # a trace asks each request for exactly its output length (ignore_eos, as vLLM honours it):
        # the scripted server ends its answer early under a budget, so that check alone fails
        failing = [name for name, check in case["quality"]["checks"].items() if not check["passed"]]
        assert failing == ["exact_output_tokens"], proc.stdout[-6000:]
    else:
        assert proc.returncode == 0, suite.output
    records = [json.loads(line) for line in (folder / case["records_file"]).read_text().splitlines()]
    return case, [r for r in records if not (r["warmup"] or r["discarded"])], received


def sample_key(kind: str, body: dict) -> int:
    """Which sample a request the server received was made from."""
    if kind == "chat":
        text = json.dumps(body["messages"])
        (key,) = [k for k in BUDGETS if f"question {k} " in text]
        return key
    return len(str(body["prompt"]).split()) - 5  # 4 + k words after the round's salt


@pytest.fixture(scope="module", params=["chat", "trace"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        word_tokenizer: Path) -> tuple[str, dict, list[dict], list[dict]]:
    kind = str(request.param)
    return (kind, *run_kind(tmp_path_factory.mktemp(f"thinking-{kind}"), kind, word_tokenizer))


def test_each_request_carried_its_samples_budget(run):
    kind, _, _, received = run
    by_sample: dict[int, list[object]] = {}
    for body in received:
        by_sample.setdefault(sample_key(kind, body), []).append(body.get("max_thinking_tokens"))
    # every sample sent as often as the others (a round, a repeat), each time with its own budget
    assert {k: set(v) for k, v in by_sample.items()} == {k: {expected_budget(k)} for k in BUDGETS}
    assert len({len(v) for v in by_sample.values()}) == 1


def test_each_request_reasoned_up_to_its_budget(run):
    kind, case, records, _ = run
    assert len(records) == len(BUDGETS)
    reasoning = []
    for record in records:
        # the sample's id names its row: a trace line number, a conversation's place in the file
        key = int(record["sample_id"].rsplit("-", 1)[1]) + (0 if kind == "trace" else 1)
        truth = min(expected_budget(key), 12)
        # the server stopped thinking at the budget and answered its 8 tokens
        assert record["output_tokens"] == truth + 8, record
        if kind == "chat":  # a completion (a trace's prompt) streams no reasoning apart: the total says it
            assert (record["reasoning_tokens"] or 0) == truth and record["text"] == "tok " * 8, record
        reasoning.append(truth)
    if kind == "chat":
        assert case["metrics"]["reasoning_tokens"]["value"] == sum(reasoning)


def test_a_multiturn_task_refuses_a_budget_naming_the_field():
    from openaiperf.records import Session, Turn
    from openaiperf.tasks import ThinkingBudgetSpec
    from openaiperf.tasks.thinking import request_bodies

    with pytest.raises(ConfigError, match="input_profile.thinking_budget"):
        session = Session(id="s", sample_id="s", turns=(Turn(user="hi", reply="", max_tokens=4),))
        request_bodies([session], [], {}, ThinkingBudgetSpec(), source="task.yaml")
