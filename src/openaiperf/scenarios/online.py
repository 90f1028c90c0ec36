"""What the online scenarios (multi_stream, server, interactive) share: warmup
requests, validity, and the notes a report needs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from openaiperf.engines import Engine
from openaiperf.loadgen.client_load import client_summary
from openaiperf.loadgen.dispatcher import DispatchResult
from openaiperf.loadgen.sessions import SessionDispatch
from openaiperf.records import Request, Session
from openaiperf.scenarios import ScenarioConfig, ScenarioRun, check_minimums, in_send_order


def with_warmup(requests: Sequence[Request], warmup: int, min_queries: int = 1) -> list[Request]:
    """``warmup`` extra requests (the case's requests again, with new ids and a tag
    at the start of their prompt, so that a prefix cache cannot serve the measured
    ones from them) in front of the measured ones; the measured ones are repeated
    until there are ``min_queries`` of them, each repeat with a salt of its own (``~1``...)."""
    measured = list(requests)
    if requests:
        cycle = 1
        while len(measured) < min_queries:
            # a repeat starts with a salt of its own: a prefix cache must not serve it from the first pass
            measured += [replace(r.salted(f"~{cycle}"), id=f"{r.id}~{cycle}")
                         for r in requests[: min_queries - len(measured)]]
            cycle += 1
    head = [requests[i % len(requests)].warmup_copy(i) for i in range(warmup)] if requests else []
    return head + measured


def with_warmup_sessions(sessions: Sequence[Session], warmup: int, min_queries: int = 1,
                         warmup_turns: int = 1) -> list[Session]:
    """``warmup`` warmup sessions (the case's sessions again, with new ids, a tag of
    their own at the start, and only their first ``warmup_turns`` turns) in front of
    the measured ones; the measured sessions are repeated until they hold at least
    ``min_queries`` turns."""
    measured = list(sessions)
    if sessions:
        cycle = 1
        while sum(len(s.turns) for s in measured) < min_queries:
            measured += [s.repeat(cycle).salted(f"~{cycle}") for s in sessions]
            cycle += 1
    head = [sessions[i % len(sessions)].warmup_copy(i, warmup_turns) for i in range(warmup)] if sessions else []
    return head + measured


def default_warmup(concurrency: float) -> int:
    """MLPerf: warmup at least the concurrency, so measurement starts in steady state."""
    return max(1, math.ceil(concurrency))


def finish_run(result: DispatchResult, config: ScenarioConfig, settings: dict[str, Any],
               engine: Engine, requests: Sequence[Request] = ()) -> ScenarioRun:
    """The round's run: ``requests`` are the ones dispatched (records aligned), unless
    the dispatch kept them itself (sessions, whose requests are made as they go)."""
    sent = result.requests if isinstance(result, SessionDispatch) else in_send_order(requests, result.records)
    run = ScenarioRun(records=result.records, start=result.start, end=result.end, settings=settings, requests=sent)
    check_minimums(run, config)
    warmup = sum(r.warmup for r in result.records)
    if isinstance(result, SessionDispatch):
        sessions = len({r.session_id for r in result.records if r.warmup})
        run.notes.append(f"{warmup} warmup request(s) of {sessions} warmup session(s) sent first and not measured")
        run.settings["sessions_ended_early"] = result.ended_early
        if result.ended_early:
            run.notes.append(f"{result.ended_early} session(s) ended early: a failed turn leaves nothing to "
                             "continue the conversation with")
    else:
        run.notes.append(f"{warmup} warmup request(s) sent first and not measured")
    if not engine.concurrent:
        # The runner notes that the engine queues requests; say here that the queueing is measured.
        run.settings["queued_in_front_of_engine"] = True
    check_client(run, result, config, engine)
    return run


def check_client(run: ScenarioRun, result: DispatchResult, config: ScenarioConfig, engine: Engine) -> None:
    """The client's own load over the round, and whether it (not the server) set the limit:
    ``client-bound`` makes the round INVALID unless ``--allow-client-bound``."""
    # an engine in the client's process (hf, vllm) spends its compute there: the client cannot be told apart
    summary = client_summary(result.client, result.records, judged=engine.online)
    run.settings["client"] = summary
    if summary["client_bound"]:
        allowed = config.allow_client_bound
        run.constraints["client_not_bound"] = allowed
        run.notes.append(f"client-bound: {summary['reason']}: the rate measured is the client's, not the server's"
                         + (" (allowed: --allow-client-bound)" if allowed else
                            "; send from more processes (--loadgen-workers) or hosts (--loadgen-cluster)"))
