"""``--loadgen-workers 2``: two worker processes behind one global schedule, against the
scripted server, which records every arrival itself (the ground truth).

The server-side rate is a check of the schedule (its span), not of how fast the
machine is: with the clocks corrected, the arrivals span the schedule's span
whatever the split, so their rate is the target within 1%; a worker whose clock is
off by 250 ms, uncorrected, stretches the span by up to 250 ms (15% of it) and the
same check fails."""

from __future__ import annotations

import numpy as np
import pytest

from openaiperf.loadgen.arrivals import arrival_times
from openaiperf.loadgen.workers import CORRECTION_ENV, KILL_ENV, SKEW_ENV, assign_workers, plan_shards
from openaiperf.testing.scripted_server import start_scripted_server
from tests.loadgen.harness import COUNT, QPS, SCRIPT, global_schedule, loadgen_processes, requests, run_server_scenario

pytestmark = pytest.mark.timing


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(SCRIPT) as handle:
        yield handle


def test_the_shards_are_the_global_schedule_exactly():
    offsets = arrival_times(COUNT, QPS, seed=3)
    fake = type("E", (), {"name": "openai", "worker_spec": lambda self: {}})()
    plans = plan_shards(requests(), offsets, 3, seed=3, warmup=10, round_index=0, engine=fake)
    merged = sorted((i, o) for plan in plans for i, o in zip(plan.indexes, plan.offsets))
    assert [i for i, _ in merged] == list(range(COUNT))
    assert [o for _, o in merged] == offsets.tolist()
    # the warmup requests are each shard's first ones
    assert sum(plan.warmup for plan in plans) == 10
    assert all(all(i < 10 for i in plan.indexes[:plan.warmup]) for plan in plans)
    # seeded: the same split every time; another seed another split
    assert (assign_workers(COUNT, 3, 3) == assign_workers(COUNT, 3, 3)).all()
    assert (assign_workers(COUNT, 3, 3) != assign_workers(COUNT, 3, 4)).any()


def test_an_engine_that_cannot_leave_its_process_is_refused_naming_the_option():
    from openaiperf.errors import ConfigError

    fake = type("E", (), {"name": "hf", "worker_spec": lambda self: None})()
    with pytest.raises(ConfigError, match="--loadgen-workers"):
        plan_shards(requests(), arrival_times(COUNT, QPS), 2, seed=0, warmup=0, round_index=0, engine=fake)


def test_two_workers_send_the_global_schedule(server):
    outcome = run_server_scenario(server, workers=2)
    records = outcome.run.records
    assert len(records) == COUNT == len(outcome.sunk)
    assert len({r.request_id for r in records}) == COUNT
    assert {r.worker for r in records} == {0, 1}
    assert all(r.ok for r in records), next(r.error for r in records if not r.ok)
    # the merged schedule (driver's clock) is the global one, within the clocks' stated error
    scheduled = np.array([r.scheduled for r in records])
    error_s = outcome.loadgen["clock_error_ms"] / 1000
    assert np.abs((scheduled - scheduled[0]) - np.array(global_schedule())).max() <= 2 * error_s + 1e-6
    # the server saw every request once, at the target rate
    assert outcome.server["requests"] == COUNT
    assert outcome.server_rate() == pytest.approx(QPS, rel=0.01)
    assert outcome.run.valid, outcome.run.notes
    assert outcome.run.settings["client"]["processes"] == 3  # the driver and two workers
    assert not loadgen_processes()


@pytest.mark.parametrize("correction", ["on", "off"])
def test_a_worker_clock_off_by_250_ms_is_corrected(server, monkeypatch, correction):
    monkeypatch.setenv(SKEW_ENV, "1:0.25")
    monkeypatch.setenv(CORRECTION_ENV, correction)
    outcome = run_server_scenario(server, workers=2)
    clock = outcome.loadgen["per_worker"][1]["clock"]
    assert clock["before"]["offset_ms"] == pytest.approx(250, abs=5)
    assert outcome.server["requests"] == COUNT
    if correction == "on":
        assert outcome.server_rate() == pytest.approx(QPS, rel=0.01)
        assert outcome.run.constraints["clock_sync"] is True
    else:  # the same check fails: the test can tell
        assert outcome.server_rate() != pytest.approx(QPS, rel=0.01)
        assert outcome.run.constraints["clock_sync"] is False


def test_a_worker_killed_mid_run_loses_its_requests_and_is_never_replaced(server, monkeypatch):
    monkeypatch.setenv(KILL_ENV, "1:0.5")
    outcome = run_server_scenario(server, workers=2)
    records = outcome.run.records
    assert len(records) == COUNT and len({r.request_id for r in records}) == COUNT
    lost = [r for r in records if (r.error or "").startswith("lost:")]
    assert lost and all(r.worker == 1 and r.sent is None for r in lost)
    assert outcome.loadgen["lost_requests"] == len(lost)
    assert outcome.loadgen["dead_workers"] == [1]
    # never sent again elsewhere: the server saw at most the requests not reported lost, plus those in flight
    assert COUNT - len(lost) <= outcome.server["requests"] <= COUNT
    assert not outcome.run.valid
    assert outcome.run.constraints["loadgen_workers_alive"] is False
    assert any(f"{len(lost)} request(s) lost" in note for note in outcome.run.notes)
    # within the schedule's span plus the request timeout (10 s), start-up included
    assert outcome.seconds < COUNT / QPS + 10.0
    assert not loadgen_processes()


def test_a_multi_turn_session_goes_whole_to_one_worker(server):
    from openaiperf.records import Session, Turn
    from openaiperf.scenarios import scenario_config
    from openaiperf.scenarios.server import ServerScenario
    from tests.loadgen.harness import engine

    sessions = [Session(id=f"s{i}", sample_id=str(i), chat=True,
                        turns=(Turn(f"hello {i}", "a", 4), Turn(f"again {i}", "b", 4), Turn(f"bye {i}", "c", 4)))
                for i in range(12)]
    scenario = ServerScenario(scenario_config(
        {"qps_target": 20.0, "warmup_requests": 0, "latency_sla": "60000,60000", "loadgen_workers": "2"},
        source="test"))
    e = engine(server.url)
    server.reset()
    try:
        run = scenario.run(e, sessions, lambda r: None, 0)
    finally:
        e.teardown()
    assert len(run.records) == 36 == server.stats()["requests"]
    by_session: dict[str, set[int | None]] = {}
    for record in run.records:
        by_session.setdefault(record.session_id or "", set()).add(record.worker)
    assert all(len(workers) == 1 for workers in by_session.values())
    assert {w for workers in by_session.values() for w in workers} == {0, 1}
    assert len(run.requests) == 36 and run.settings["sessions_ended_early"] == 0


def test_a_worker_that_cannot_prepare_stops_the_round_naming_it():
    from openaiperf.loadgen.worker_core import ShardPlan, WorkerLost
    from openaiperf.loadgen.workers import ProcessTransport

    plan = ShardPlan(worker=0, indexes=[0], items=requests(1), offsets=[0.0], warmup=0, round_index=0,
                     sessions=False, engine_class="openaiperf.engines.openai:NoSuchEngine", engine_spec={})
    with pytest.raises(WorkerLost, match="worker 0 failed to prepare: ConfigError.*NoSuchEngine"):
        ProcessTransport().open([plan])
    assert not loadgen_processes()
