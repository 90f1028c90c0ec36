"""``--loadgen-cluster``: worker actors pinned to the nodes of a local two-node Ray
cluster (both nodes on 127.0.0.2: Ray rewrites 127.0.0.1 to the host's address, and
``node_ip_address=127.0.0.1`` hangs ``ray.init``), the same assertions as with worker
processes, against the scripted server that records its own arrivals."""

from __future__ import annotations

import pytest

from openaiperf.loadgen.workers import CORRECTION_ENV, KILL_ENV, SKEW_ENV
from openaiperf.testing.scripted_server import start_scripted_server
from tests.loadgen.harness import COUNT, QPS, SCRIPT, run_server_scenario

ray = pytest.importorskip("ray", reason="Ray is the optional 'cluster' extra")

pytestmark = pytest.mark.timing


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    local = Cluster(initialize_head=True, head_node_args={"node_ip_address": "127.0.0.2", "num_cpus": 1,
                                                          "include_dashboard": False})
    try:
        local.add_node(node_ip_address="127.0.0.2", num_cpus=1)
        local.wait_for_nodes()
        ray.init(address=local.address, log_to_driver=False)
        yield local
    finally:
        ray.shutdown()
        local.shutdown()


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(SCRIPT) as handle:
        yield handle


def alive_actors() -> list[str]:
    from ray._private import state

    return [actor_id for actor_id, info in state.actors().items() if info.get("State") == "ALIVE"]


def test_one_pinned_actor_per_node_sends_the_global_schedule(cluster, server):
    outcome = run_server_scenario(server, workers=1, cluster=cluster.address)
    records = outcome.run.records
    assert outcome.loadgen["transport"] == "ray" and outcome.loadgen["workers"] == 2
    assert len(records) == COUNT and len({r.request_id for r in records}) == COUNT
    assert {r.worker for r in records} == {0, 1}
    assert all(r.ok for r in records), next(r.error for r in records if not r.ok)
    assert outcome.server["requests"] == COUNT
    assert outcome.server_rate() == pytest.approx(QPS, rel=0.01)
    assert outcome.run.valid, outcome.run.notes
    assert not alive_actors()


@pytest.mark.parametrize("correction", ["on", "off"])
def test_an_actor_clock_off_by_250_ms_is_corrected(cluster, server, monkeypatch, correction):
    monkeypatch.setenv(SKEW_ENV, "1:0.25")
    monkeypatch.setenv(CORRECTION_ENV, correction)
    outcome = run_server_scenario(server, workers=1, cluster=cluster.address)
    assert outcome.loadgen["per_worker"][1]["clock"]["before"]["offset_ms"] == pytest.approx(250, abs=5)
    assert outcome.server["requests"] == COUNT
    if correction == "on":
        assert outcome.server_rate() == pytest.approx(QPS, rel=0.01)
    else:
        assert outcome.server_rate() != pytest.approx(QPS, rel=0.01)


def test_an_actor_killed_mid_run_loses_its_requests(cluster, server, monkeypatch):
    monkeypatch.setenv(KILL_ENV, "1:0.5")
    outcome = run_server_scenario(server, workers=1, cluster=cluster.address)
    records = outcome.run.records
    assert len(records) == COUNT and len({r.request_id for r in records}) == COUNT
    lost = [r for r in records if (r.error or "").startswith("lost:")]
    assert lost and all(r.worker == 1 and r.sent is None for r in lost)
    assert outcome.loadgen["dead_workers"] == [1]
    assert COUNT - len(lost) <= outcome.server["requests"] <= COUNT
    assert not outcome.run.valid
    assert outcome.seconds < COUNT / QPS + 10.0
    assert not alive_actors()


def test_a_node_removed_mid_run_loses_its_actor_requests(cluster, server):
    nodes = sorted((n for n in ray.nodes() if n.get("Alive")), key=lambda n: str(n["NodeID"]))
    # the actor of worker i runs on nodes[i % 2]: remove the node that is not the head, mid-run
    removable = next(iter(cluster.worker_nodes))
    worker = next(i for i, n in enumerate(nodes) if n["NodeID"] == removable.node_id)
    removed: list[bool] = []

    def remove_after_some(record) -> None:
        if not removed and record.worker == worker:
            removed.append(True)
            cluster.remove_node(removable)

    try:
        outcome = run_server_scenario(server, workers=1, cluster=cluster.address, on_record=remove_after_some)
    finally:
        cluster.add_node(node_ip_address="127.0.0.2", num_cpus=1)  # for the tests after this one
        cluster.wait_for_nodes()
    records = outcome.run.records
    assert removed
    assert len(records) == COUNT and len({r.request_id for r in records}) == COUNT
    lost = [r for r in records if (r.error or "").startswith("lost:")]
    assert lost and all(r.worker == worker for r in lost)
    assert outcome.loadgen["dead_workers"] == [worker]
    assert COUNT - len(lost) <= outcome.server["requests"] <= COUNT
    assert not outcome.run.valid
    assert outcome.seconds < COUNT / QPS + 10.0


def test_actors_take_cancellations_probes_and_the_saturation_stop(cluster):
    """The driver halts actors as it halts processes (an actor call beside its running shard);
    the first actor's probes come back with its summary; the cancellations are the global ones."""
    from tests.loadgen.test_worker_scenario_features import CAPACITY_QPS, CAPACITY_SCRIPT, LONG_SCRIPT, run

    with start_scripted_server(SCRIPT) as scripted:
        scenario, ramp, _ = run(scripted, CAPACITY_SCRIPT, 64, qps_target=45.0, rate_ramp="linear",
                                ramp_start_qps=5.0, ramp_duration_s=6.0, probe_rate=2.0,
                                loadgen_cluster=cluster.address)
        _, alone, _ = run(scripted, LONG_SCRIPT, 40, qps_target=20.0, cancel_fraction=0.5, cancel_after_ms=60.0)
        _, split, stats = run(scripted, LONG_SCRIPT, 40, qps_target=20.0, cancel_fraction=0.5, cancel_after_ms=60.0,
                              loadgen_cluster=cluster.address)
    assert ramp.settings["loadgen"]["transport"] == "ray" and "halted_after_s" in ramp.settings["loadgen"]
    assert ramp.settings["stopped_early"]["sent"] < ramp.settings["stopped_early"]["scheduled"]
    assert ramp.settings["saturation"]["saturation_qps"] == pytest.approx(CAPACITY_QPS, rel=0.10)
    assert ramp.settings["probes"]["sent"] >= 2 and all(r.output_tokens == 1 for r in scenario.probe_records)
    cancelled = {r.request_id for r in split.records if r.cancelled}
    assert cancelled == {r.request_id for r in alone.records if r.cancelled}
    assert len(cancelled) == split.settings["cancellations"]["chosen"] == len(stats["cancelled"])
    assert not alive_actors()
