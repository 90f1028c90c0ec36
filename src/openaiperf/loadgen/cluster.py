"""Load generator workers on a Ray cluster (``--loadgen-cluster ADDRESS|auto``).

The same driver as worker processes (:func:`openaiperf.loadgen.workers.run_workers`):
only the transport differs. Each worker is a Ray actor pinned to one node
(``NodeAffinitySchedulingStrategy``, not soft: a worker never moves), the
workers spread over the cluster's live nodes in turn (one per node unless
``--loadgen-workers`` asks for more). An actor runs the same
:class:`~openaiperf.loadgen.worker_core.WorkerCore` on its own event loop; the
driver reads its clock (ping-pong over actor calls), starts it at an instant of
its own clock, and collects its records in batches (``drain``). An actor that
dies (its process killed, its node removed) loses the requests it did not
report, exactly as a worker process does; every actor is killed at the end.

Ray has no clock synchronisation of its own: on several hosts the monotonic
clocks differ by arbitrary amounts, which the measured offsets correct.
Ray is the optional extra ``cluster`` (``pip install 'openaiperf[cluster]'``,
version pinned: ``ray.cluster_utils`` used by the tests is a developer API).
``auto`` reads ``$RAY_ADDRESS``.

Actors ask for no CPU of the cluster's (``num_cpus=0``), so that load generator
workers are placed even on nodes whose CPUs the serving engine holds; give the
client cores of its own when measuring high rates.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from openaiperf.errors import ConfigError
from openaiperf.loadgen.worker_core import BATCH_S, READY_TIMEOUT_S, Link, ShardPlan, WorkerCore, WorkerLost, apply_skew

OPTION = "--loadgen-cluster"
INSTALL = "pip install 'openaiperf[cluster]' (ray==2.60.0)"


def cluster_address(value: str) -> str:
    """The address ``ray.init`` takes: ``value``, or ``$RAY_ADDRESS`` for ``auto``."""
    if value == "auto":
        address = os.environ.get("RAY_ADDRESS", "")
        if not address:
            raise ConfigError("auto reads $RAY_ADDRESS, which is not set (give the address: HOST:PORT or ray://...)",
                              source=OPTION)
        return address
    return value


def check_cluster_option(value: str) -> None:
    """At start-up: Ray installed, and an address to join."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ConfigError(f"Ray is not installed: {INSTALL}", source=OPTION)
    cluster_address(value)


class WorkerActor:
    """A load generator worker as a Ray actor (async methods: one event loop)."""

    def __init__(self, plan: ShardPlan) -> None:
        apply_skew(plan.skew_s)
        self.core = WorkerCore(plan)

    async def prepare(self) -> str:
        await self.core.prepare()
        import socket

        return socket.gethostname()

    async def clock(self) -> float:
        return time.perf_counter()

    async def run(self, t0: float) -> dict[str, Any]:
        return await self.core.run(t0)

    async def drain(self) -> list[Any]:
        return self.core.drain()

    async def halt(self) -> None:
        self.core.halt()


class RayLink:
    """The driver's handle on one actor."""

    def __init__(self, actor: Any, worker: int, node: str) -> None:
        self.actor = actor
        self.worker = worker
        self.node: str | None = node
        self.run_ref: Any = None
        self.drain_ref: Any = None
        self.drained_at = 0.0

    def clock(self) -> float:
        import ray

        try:
            return float(ray.get(self.actor.clock.remote(), timeout=30))
        except (ray.exceptions.RayError, TimeoutError) as exc:
            raise WorkerLost(f"worker {self.worker} on {self.node}: {type(exc).__name__}") from None

    def start(self, t0: float) -> None:
        self.run_ref = self.actor.run.remote(t0)

    def halt(self) -> None:
        self.actor.halt.remote()

    def poll(self) -> list[tuple[str, Any]]:
        import ray

        out: list[tuple[str, Any]] = []
        try:
            now = time.perf_counter()
            if self.drain_ref is None and now - self.drained_at >= BATCH_S:
                self.drain_ref, self.drained_at = self.actor.drain.remote(), now
            if self.drain_ref is not None and ray.wait([self.drain_ref], timeout=0)[0]:
                out.append(("records", ray.get(self.drain_ref)))
                self.drain_ref = None
            if ray.wait([self.run_ref], timeout=0)[0]:
                summary = ray.get(self.run_ref)
                if self.drain_ref is not None:
                    out.append(("records", ray.get(self.drain_ref)))
                    self.drain_ref = None
                out.append(("records", ray.get(self.actor.drain.remote())))
                out.append(("done", summary))
        except ray.exceptions.RayError as exc:
            out.append(("lost", f"worker {self.worker} on node {self.node}: {type(exc).__name__}"))
        return [(kind, value) for kind, value in out if kind != "records" or value]

    def close(self) -> None:
        import ray

        try:
            ray.kill(self.actor, no_restart=True)
        except Exception:  # noqa: S110 - already dead
            pass


class RayTransport:
    """Actors on the Ray cluster at ``address`` (joined once per process; a process that
    is already connected to Ray uses that connection)."""

    name = "ray"

    def __init__(self, address: str) -> None:
        check_cluster_option(address)
        self.address = cluster_address(address)

    def connect(self) -> list[dict[str, Any]]:
        """The cluster's live nodes, joining it first if this process has not."""
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False, namespace="openaiperf-loadgen")
        nodes = sorted((n for n in ray.nodes() if n.get("Alive")),
                       key=lambda n: str(n["NodeID"]))
        if not nodes:
            raise ConfigError(f"the Ray cluster at {self.address} has no live node", source=OPTION)
        return nodes

    def worker_count(self, requested: int) -> int:
        """One worker per node, or ``requested`` when more are asked for."""
        return max(requested, len(self.connect()))

    def open(self, plans: Sequence[ShardPlan]) -> list[Link]:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = self.connect()
        remote = ray.remote(WorkerActor)
        links = []
        for plan in plans:
            node = nodes[plan.worker % len(nodes)]
            actor = remote.options(num_cpus=0, max_restarts=0, max_task_retries=0,
                                   scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
                                   name=None).remote(plan)
            links.append(RayLink(actor, plan.worker, str(node.get("NodeManagerAddress"))))
        try:
            hosts = ray.get([link.actor.prepare.remote() for link in links], timeout=READY_TIMEOUT_S)
        except Exception as exc:
            for link in links:
                link.close()
            raise WorkerLost(f"load generator actors failed to prepare: {type(exc).__name__}: {exc}") from None
        for link, host in zip(links, hosts):
            link.node = f"{host} ({link.node})"
        return list(links)
