"""Salts: a cold workload's prompts are unique from their first tokens in every round,
attempt and run; a workload that shares prefixes on purpose keeps its structure under
a fresh salt; token-id prompts are salted in ids, keeping their length; a cold case
whose server served its prompts from a prefix cache is INVALID."""

from __future__ import annotations

from pathlib import Path

from fixtures.engines import xsum_case_runner
from openaiperf.matrix import Case
from openaiperf.metrics import Better, Metric
from openaiperf.records import SALT_TOKENS, Request, Session, Turn
from openaiperf.result import CaseResult, metric_values
from openaiperf.runner import CaseRunner, RunSettings, round_tag
from openaiperf.tasks import Task, request_salt


def text(i: int) -> Request:
    return Request(id=f"r{i}", sample_id=f"s{i}", max_tokens=4, prompt=f"the same words {i}")


def ids(i: int) -> Request:
    return Request(id=f"r{i}", sample_id=f"s{i}", max_tokens=4, prompt_token_ids=tuple(range(10 + i, 40 + i)))


class Cold(Task):
    pass


class Shared(Task):
    shares_prefixes = True


class Unsalted(Task):
    salts_prompts = False


def task(kind: type[Task]) -> Task:
    task = kind.__new__(kind)
    return task


def first_words(requests: list[Request]) -> list[str]:
    return [(r.prompt or "").split()[0] for r in requests]


def test_round_tags_differ_between_runs_rounds_and_attempts_and_are_reproducible_from_the_salt():
    tags = {round_tag("case", r, a, salt) for r in range(3) for a in range(2) for salt in ("aa", "bb")}
    assert len(tags) == 12
    assert round_tag("case", 1, 0, "aa") == round_tag("case", 1, 0, "aa")
    assert len({len(round_tag("case", 0, a, s)) for a in range(3) for s in ("aa", "bb")}) == 1
    assert RunSettings().salt != RunSettings().salt


def test_a_cold_workload_salts_every_request_on_its_own_at_the_very_start():
    requests = [text(i) for i in range(5)]
    salted = task(Cold).for_round(requests, "[tag r0]")
    assert len(set(first_words(salted))) == 5
    assert all(r.prompt.startswith(r.salt + " ") for r in salted)  # type: ignore[union-attr]
    assert salted[0].salt == request_salt("[tag r0]", 0) and len(salted[0].salt) == 10
    again = task(Cold).for_round(requests, "[tag r1]")
    assert not set(first_words(salted)) & set(first_words(again))


def test_a_sharing_workload_keeps_its_shared_prefix_under_one_fresh_salt():
    requests = [Request(id=f"r{i}", sample_id="g", max_tokens=4, prompt=f"shared prefix words {i}") for i in range(3)]
    salted = task(Shared).for_round(requests, "[tag r0]")
    assert {r.prompt.rsplit(" ", 1)[0] for r in salted} == {"[tag r0] shared prefix words"}  # type: ignore[union-attr]
    sessions = [Session(id="s", sample_id="s", turns=(Turn("hello", "hi", 2),))]
    (session,) = task(Shared).for_round(sessions, "[tag r0]")
    request = session.request(1, [])
    assert request.messages[0]["content"].startswith("[tag r0] hello") and request.salt == "[tag r0]"  # type: ignore[index]


def test_a_task_that_does_not_salt_sends_its_prompts_as_they_are():
    requests = [text(0)]
    assert task(Unsalted).for_round(requests, "[tag r0]") == requests


def test_token_ids_are_salted_in_ids_keeping_the_length_and_the_vocabulary():
    request = ids(0)
    first, second = request.salted("[a]"), request.salted("[b]")
    assert len(first.prompt_token_ids) == len(request.prompt_token_ids)  # type: ignore[arg-type]
    assert first.prompt_token_ids[SALT_TOKENS:] == request.prompt_token_ids[SALT_TOKENS:]  # type: ignore[index]
    assert first.prompt_token_ids[:SALT_TOKENS] != second.prompt_token_ids[:SALT_TOKENS]  # type: ignore[index]
    assert set(first.prompt_token_ids) <= set(request.prompt_token_ids)  # type: ignore[arg-type]
    assert request.salted("[a]") == first
    both = Request(id="r", sample_id="s", max_tokens=4, prompt_token_ids=(5, 6, 7, 8, 9), prompt="five words here")
    assert both.salted("[a]").prompt == "[a] five words here"


def test_a_warmup_copy_of_a_salted_prompt_starts_unlike_the_measured_one():
    for request in (text(0), ids(0)):
        salted = request.salted("[run1]")
        warm = salted.warmup_copy(0)
        key = (lambda r: r.prompt_token_ids[:SALT_TOKENS]) if request.prompt is None else first_words_of
        assert key(warm) != key(salted)
        assert key(request.salted("[run2]").warmup_copy(0)) != key(warm)


def first_words_of(request: Request) -> str:
    return (request.prompt or "").split()[0] + (request.prompt or "").split()[2]


def runner(tmp_path: Path, sharing: bool, rate: float) -> tuple[CaseRunner, CaseResult]:
    case_runner = xsum_case_runner(tmp_path, Case("summarization.xsum", "offline", "scripted", "m"),
                                   settings=RunSettings(max_cold_hit_rate=0.05, monitor=False, stall_limit_ms=None))
    case_runner.task.shares_prefixes = sharing
    result = CaseResult.model_validate({"id": "c", "task": "t", "scenario": "offline", "engine": "openai",
                                        "model": "m", "hardware": "cpu"})
    result.metrics = metric_values({"prefix_cache_hit_rate": Metric(rate, "fraction", Better.NONE)})
    return case_runner, result


def test_a_cold_case_served_from_the_cache_is_invalid_naming_the_rate_and_a_sharing_one_is_not(tmp_path):
    case_runner, result = runner(tmp_path, sharing=False, rate=0.95)
    case_runner.check_cold(result)
    assert result.validity["cold_prefix_cache"] is False
    assert any("95.0%" in note for note in result.notes)
    case_runner, result = runner(tmp_path, sharing=False, rate=0.02)
    case_runner.check_cold(result)
    assert result.validity["cold_prefix_cache"] is True
    case_runner, result = runner(tmp_path, sharing=True, rate=0.95)
    case_runner.check_cold(result)
    assert "cold_prefix_cache" not in result.validity


def test_every_find_peak_trial_sends_prompts_no_earlier_trial_began_with():
    from fixtures.engines import ScriptedEngine
    from openaiperf.scenarios import create_scenario, scenario_config

    seen: list[str] = []

    class Recording(ScriptedEngine):
        concurrent = True

        async def stream(self, request: Request, record) -> None:  # type: ignore[no-untyped-def]
            seen.append(request.prompt or "")
            await super().stream(request, record)

    config = scenario_config({"qps_target": 200, "find_peak": True, "peak_max_trials": 3, "warmup_requests": 0},
                             source="test")
    scenario = create_scenario("server", config)
    scenario.run(Recording(token_s=0.0), task(Cold).for_round([text(i) for i in range(4)], "[tag r0]"),
                 lambda record: None)
    starts = [" ".join(prompt.split()[:3]) for prompt in seen]
    assert len(seen) >= 8 and len(set(starts)) == len(starts)
