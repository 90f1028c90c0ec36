"""Metrics of multi-turn sessions: per turn index and per session.

Every turn is a request with its own TTFT, TPOT and E2E (from its scheduled
time: when the turn before it was answered plus the think time). By turn index
they show what the conversation so far costs: with prefix caching the history's
prefill is a cache hit, and TTFT stays flat as the prompt grows; without it,
TTFT grows with the history. Per session: how long a conversation took (its
first turn's scheduled send to its last answer, think times included) and how
many of its turns were answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.metrics.latency import MS, e2e_s, tpot_s, ttft_s
from openaiperf.metrics.stats import percentile
from openaiperf.records import Record


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def turn_table(records: Sequence[Record]) -> list[dict[str, Any]]:
    """One row per turn index (1, 2, ...): requests, answered, mean input/output tokens,
    TTFT mean/p50/p90, TPOT and E2E means (ms)."""
    by_turn: dict[int, list[Record]] = {}
    for record in records:
        if record.turn is not None:
            by_turn.setdefault(record.turn, []).append(record)
    rows = []
    for turn in sorted(by_turn):
        members = by_turn[turn]
        ok = [r for r in members if r.ok]
        ttfts = [v * MS for r in ok if (v := ttft_s(r)) is not None]
        rows.append({
            "turn": turn, "requests": len(members), "ok": len(ok),
            "input_tokens_mean": _mean([float(r.input_tokens) for r in ok if r.input_tokens is not None]),
            "output_tokens_mean": _mean([float(r.output_tokens) for r in ok if r.output_tokens is not None]),
            "ttft_mean_ms": _mean(ttfts), "ttft_p50_ms": percentile(ttfts, 50), "ttft_p90_ms": percentile(ttfts, 90),
            "tpot_mean_ms": _mean([v * MS for r in ok if (v := tpot_s(r)) is not None]),
            "e2e_mean_ms": _mean([v * MS for r in ok if (v := e2e_s(r)) is not None]),
        })
    return rows


def session_table(records: Sequence[Record]) -> dict[str, Any] | None:
    """Sessions, how many had every turn answered (the highest turn index seen in the
    records is taken as a session's length when none of its turns failed), turns per
    session, and session durations (s, first scheduled send to last answer)."""
    sessions: dict[tuple[int, str], list[Record]] = {}
    for record in records:
        if record.session_id is not None:
            sessions.setdefault((record.round, record.session_id), []).append(record)
    if not sessions:
        return None
    durations, turns, completed = [], [], 0
    for members in sessions.values():
        turns.append(len(members))
        done = [r.done for r in members if r.done is not None]
        if done:
            durations.append(max(done) - min(r.scheduled for r in members))
        completed += all(r.ok for r in members)
    return {"sessions": len(sessions), "completed": completed, "turns_mean": _mean([float(t) for t in turns]),
            "duration_mean_s": _mean(durations), "duration_p50_s": percentile(durations, 50),
            "duration_p90_s": percentile(durations, 90), "by_turn": turn_table(records)}


def session_metrics(records: Sequence[Record]) -> MetricSet:
    """Headline numbers of a session workload (empty for single requests)."""
    table = session_table(records)
    if table is None:
        return {}
    first = [v * MS for r in records if r.ok and r.turn == 1 and (v := ttft_s(r)) is not None]
    later = [v * MS for r in records if r.ok and (r.turn or 0) > 1 and (v := ttft_s(r)) is not None]
    return {
        "sessions": Metric(float(table["sessions"]), "sessions", Better.NONE),
        "turns_per_session": Metric(table["turns_mean"], "turns", Better.NONE),
        "session_duration_mean": Metric(table["duration_mean_s"], "s", Better.LOWER),
        "session_duration_p90": Metric(table["duration_p90_s"], "s", Better.LOWER),
        "ttft_first_turn_mean": Metric(_mean(first), "ms", Better.LOWER),
        "ttft_later_turns_mean": Metric(_mean(later), "ms", Better.LOWER),
    }
