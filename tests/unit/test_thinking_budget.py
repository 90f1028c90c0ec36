"""A thinking budget per sample (``input_profile.thinking_budget``): the values a dataset may
hold, where the budget goes in the body (over the task's ``request_body``), and the errors
that name the file, the column and the sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openaiperf.errors import ConfigError
from openaiperf.records import Request
from openaiperf.specs import build_spec
from openaiperf.tasks import Sample, TaskSpec, ThinkingBudgetSpec
from openaiperf.tasks.datasets import preflight
from openaiperf.tasks.thinking import budget_value, request_bodies, with_field


@pytest.mark.parametrize(("value", "count"), [(256, 256), ("256", 256), (" 7 ", 7), (3.0, 3), (0, 0), (None, None),
                                              ("", None), ("  ", None)])
def test_a_budget_is_a_whole_count_or_nothing(value, count):
    assert budget_value(value, source="f.jsonl", column="thinking_budget", sample="a") == count


@pytest.mark.parametrize("value", [-1, "-1", "abc", 2.5, "2.5", True, [4], {"n": 4}])
def test_a_bad_budget_names_the_file_the_column_and_the_sample(value):
    with pytest.raises(ConfigError) as caught:
        budget_value(value, source="data/q.jsonl", column="budget", sample="q7")
    message = str(caught.value)
    assert "data/q.jsonl" in message and "'budget'" in message and "'q7'" in message and ">= 0" in message


def test_a_nested_field_keeps_the_objects_other_keys():
    body = {"chat_template_kwargs": {"enable_thinking": True}, "top_k": 5}
    assert with_field(body, "chat_template_kwargs.thinking_budget", 64) == {
        "chat_template_kwargs": {"enable_thinking": True, "thinking_budget": 64}, "top_k": 5}
    assert body == {"chat_template_kwargs": {"enable_thinking": True}, "top_k": 5}  # a copy


def request(sample: str) -> Request:
    return Request(id=f"{sample}#0", sample_id=sample, max_tokens=8, prompt="hi")


def test_each_request_gets_its_samples_budget_and_the_task_default_otherwise():
    samples = [Sample("a", {"thinking_budget": "3"}), Sample("b", {"thinking_budget": ""}), Sample("c", {})]
    spec = ThinkingBudgetSpec(column="thinking_budget", field="max_thinking_tokens")
    out = request_bodies([request(s.id) for s in samples], samples, {"max_thinking_tokens": 8, "x": 1}, spec,
                         source="d.csv")
    assert [r.body for r in out] == [{"max_thinking_tokens": 3, "x": 1}, {"max_thinking_tokens": 8, "x": 1},
                                     {"max_thinking_tokens": 8, "x": 1}]
    # without a budget spec, the task's body alone (as before); without either, the requests untouched
    assert request_bodies([request("a")], samples, {"y": 2}, None, source="d.csv")[0].body == {"y": 2}
    assert request_bodies([request("a")], samples, {}, None, source="d.csv")[0].body is None


def test_a_bad_sample_value_is_refused_when_the_requests_are_built():
    samples = [Sample("bad-one", {"thinking_budget": "lots"})]
    with pytest.raises(ConfigError, match="d.csv.*'thinking_budget'.*'bad-one'"):
        request_bodies([request("bad-one")], samples, {}, ThinkingBudgetSpec(), source="d.csv")


TASK = {"name": "reasoning.mine", "kind": "summarization", "scenarios": ["single_stream"],
        "datasets": {"eval": {"source": "q.jsonl", "format": "jsonl"}},
        "input_profile": {"thinking_budget": {"column": "budget"}}}


def test_a_kind_that_reads_no_sample_column_is_refused_naming_the_ones_that_do():
    with pytest.raises(ConfigError, match="thinking_budget.*'synthetic'.*summarization"):
        build_spec(TaskSpec, {**TASK, "kind": "synthetic", "datasets": {}}, source="task.yaml")


def test_a_field_that_is_no_dotted_path_is_refused():
    with pytest.raises(ConfigError, match="thinking_budget.field"):
        build_spec(TaskSpec, {**TASK, "input_profile": {"thinking_budget": {"field": "a..b"}}}, source="task.yaml")


def test_a_bad_value_in_a_local_file_is_refused_at_collection(tmp_path: Path):
    rows = [{"id": "q1", "document": "d", "summary": "s", "budget": 4},
            {"id": "q2", "document": "d", "summary": "s", "budget": -3}]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = build_spec(TaskSpec, TASK, source="task.yaml")
    with pytest.raises(ConfigError, match="q.jsonl.*'budget'.*'q2'"):
        preflight(spec, max_samples=None, base_dir=tmp_path)
    rows[1]["budget"] = ""
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    preflight(spec, max_samples=None, base_dir=tmp_path)



def test_a_body_for_requests_that_carry_none_is_refused_naming_the_field():
    from openaiperf.records import Session, Turn

    session = Session(id="c1", sample_id="c1", turns=(Turn("hi", "hello", 4),))
    with pytest.raises(ConfigError, match="input_profile.request_body"):
        request_bodies([session], [Sample("c1", {})], {"max_thinking_tokens": 4}, None, source="chat.multiturn")
    assert request_bodies([session], [Sample("c1", {})], {}, None, source="chat.multiturn") == [session]


def test_the_kinds_that_take_a_budget_are_named_when_one_is_refused():
    with pytest.raises(ConfigError, match=r"'multiturn'.*\['chat', 'summarization', 'trace'\]"):
        build_spec(TaskSpec, {**TASK, "kind": "multiturn"}, source="task.yaml")


def trace_task(tmp_path: Path, lines: list[dict], fmt: str = "jsonl"):
    from openaiperf.tasks import task_kinds

    path = tmp_path / f"trace.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    else:
        columns = list(lines[0])
        path.write_text(",".join(columns) + "\n" + "".join(",".join(str(line[c]) for c in columns) + "\n"
                                                           for line in lines))
    spec = build_spec(TaskSpec, {**TASK, "kind": "trace", "datasets": {"eval": {"source": str(path), "format": fmt}}},
                      source="task.yaml")
    return task_kinds.get("trace")(spec), path


def test_a_trace_rows_budget_travels_with_its_row(tmp_path: Path):
    lines = [{"timestamp": 0, "input_length": 4, "output_length": 4, "budget": 7},
             {"timestamp": 5, "input_length": 4, "output_length": 4}]
    task, _ = trace_task(tmp_path, lines)
    assert [row.extra for row in task.read_rows()] == [{"budget": 7}, {}]
    burst = [{"Timestamp": 0.5, "Model": "m", "Request tokens": 4, "Response tokens": 3, "budget": "12"}]
    task, _ = trace_task(tmp_path, burst, fmt="csv")
    assert [row.extra for row in task.read_rows()] == [{"budget": "12"}]


def test_a_bad_budget_in_a_trace_names_the_file_and_its_line(tmp_path: Path):
    lines = [{"timestamp": 0, "input_length": 4, "output_length": 4, "budget": 7},
             {"timestamp": 5, "input_length": 4, "output_length": 4, "budget": "lots"}]
    task, path = trace_task(tmp_path, lines)
    with pytest.raises(ConfigError) as caught:
        task.read_rows()
    message = str(caught.value)
    assert f"{path}:2" in message and "'budget'" in message and "'lots'" in message, message


def test_a_chat_entrys_budget_is_kept_beside_its_conversation(tmp_path: Path):
    from openaiperf.tasks.chat import conversation_values

    entries = [{"id": "a", "conversations": [{"from": "human", "value": "q"}], "budget": 1},
               {"id": "b", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "r"}],
                "budget": 5},
               {"id": "c", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "r"}]}]
    path = tmp_path / "chats.json"
    path.write_text(json.dumps(entries))
    # aligned with the conversations of two turns or more (the one-turn entry is dropped)
    assert conversation_values(str(path), "budget") == (5, None)


def test_a_cut_off_sharegpt_file_is_checked_as_it_loads_not_refused_at_collection(tmp_path: Path):
    path = tmp_path / "chats.json"
    path.write_text('[{"id": "a", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "r"}],'
                    ' "budget": 3}, {"id": "b", "conversa')
    spec = build_spec(TaskSpec, {**TASK, "kind": "chat", "datasets": {"eval": {"source": str(path), "format": "json"}}},
                      source="task.yaml")
    preflight(spec, max_samples=None)
    from openaiperf.tasks.chat import conversation_values

    assert conversation_values(str(path), "budget") == (3,)
