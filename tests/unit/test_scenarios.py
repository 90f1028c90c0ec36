"""Scenario semantics with a scripted engine: offline sends everything at once,
single_stream sends the next request only when the previous one is done."""

from __future__ import annotations

import pytest

from fixtures.engines import ScriptedEngine
from openaiperf.errors import UnknownNameError
from openaiperf.records import Request
from openaiperf.scenarios import ScenarioConfig, create_scenario


def requests(n: int) -> list[Request]:
    return [Request(id=f"r{i}", sample_id=f"s{i}", max_tokens=8, prompt="hi") for i in range(n)]


def test_offline_schedules_all_at_once_and_engine_batches():
    engine, sunk = ScriptedEngine(), []
    run = create_scenario("offline", ScenarioConfig()).run(engine, requests(5), sunk.append)
    assert engine.calls == [["r0", "r1", "r2", "r3", "r4"]]  # one batch: the engine batches
    assert len({r.scheduled for r in run.records}) == 1
    assert [r.request_id for r in sunk] == ["r0", "r1", "r2", "r3", "r4"]
    assert run.valid


def test_single_stream_waits_for_each_completion():
    engine, sunk = ScriptedEngine(), []
    run = create_scenario("single_stream", ScenarioConfig()).run(engine, requests(4), sunk.append, round_index=2)
    assert engine.calls == [["r0"], ["r1"], ["r2"], ["r3"]]
    for previous, current in zip(run.records, run.records[1:]):
        assert current.scheduled >= previous.done
    assert all(r.round == 2 for r in run.records)
    assert len(sunk) == 4


def test_minimum_query_count_makes_a_run_invalid():
    run = create_scenario("offline", ScenarioConfig(min_queries=10)).run(ScriptedEngine(), requests(3), lambda r: None)
    assert run.constraints["min_queries"] is False
    assert not run.valid


def test_records_already_finished_reach_the_sink_before_a_failure():
    engine, sunk = ScriptedEngine(fail_after=2), []
    with pytest.raises(RuntimeError):
        create_scenario("single_stream", ScenarioConfig()).run(engine, requests(4), sunk.append)
    assert [r.request_id for r in sunk] == ["r0", "r1"]


def test_unknown_scenario_lists_known():
    with pytest.raises(UnknownNameError, match="known scenarios: .*offline.*single_stream"):
        create_scenario("burst", ScenarioConfig())


def test_a_scenario_that_cannot_drive_sessions_skips_a_multi_turn_task(monkeypatch: pytest.MonkeyPatch):
    """The ``builds_sessions`` capability of a task kind is checked against the scenario's
    ``sessions`` when cases are collected: the case skips with the reason instead of
    crashing in the scenario."""
    from openaiperf.scenarios import scenario_class
    from openaiperf.tasks.multiturn import MultiTurnTask
    from openaiperf.tasks.synthetic import SyntheticTask

    assert MultiTurnTask.workload_skip_reason("offline") is None
    monkeypatch.setattr(scenario_class("offline"), "sessions", False)
    reason = MultiTurnTask.workload_skip_reason("offline")
    assert reason is not None and "cannot drive multi-turn sessions" in reason and "server" in reason
    assert SyntheticTask.workload_skip_reason("offline") is None
