"""Metrics of multi-turn sessions: per turn index and per session.

Every turn is a request with its own TTFT, TPOT and E2E (from its scheduled
time: when the turn before it was answered plus the think time). By turn index
they show what the conversation so far costs: with prefix caching the history's
prefill is a cache hit, and TTFT stays flat as the prompt grows; without it,
TTFT grows with the history. Per session: how long a conversation took (its
first turn's scheduled send to its last answer, think times included) and how
many of its turns were answered.

The prefix cache's share of a session (:func:`session_cache_hits`): where the
server reports each response's cached prompt tokens
(``usage.prompt_tokens_details.cached_tokens``), a session's hit rate is its
turns' cached prompt tokens over their prompt tokens; the sessions' rates are
summed up as a distribution (mean, p50, p10: the sessions that reused least),
beside the token-weighted rate of all sessions together. Unlike the server's
Prometheus counters (one rate for the whole run, warmup and other clients
included), it is per session and counts only the measured turns.
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
            "duration_p90_s": percentile(durations, 90), "by_turn": turn_table(records),
            "cache_hits": session_cache_hits(records)}


def session_cache_hits(records: Sequence[Record]) -> dict[str, Any] | None:
    """Per-session prefix-cache hit rates from the answered turns that report cached tokens:
    sessions counted, mean / p50 / p10 of the per-session rates, and the token-weighted rate
    (all cached tokens over all prompt tokens); None when no turn reports them."""
    sessions: dict[tuple[int, str], list[int]] = {}
    for record in records:
        if (record.session_id is None or not record.ok or record.cached_tokens is None
                or not record.input_tokens):
            continue
        totals = sessions.setdefault((record.round, record.session_id), [0, 0])
        totals[0] += record.cached_tokens
        totals[1] += record.input_tokens
    if not sessions:
        return None
    rates = [cached / prompt for cached, prompt in sessions.values()]
    cached = sum(t[0] for t in sessions.values())
    prompt = sum(t[1] for t in sessions.values())
    return {"sessions": len(sessions), "rate_mean": _mean(rates), "rate_p50": percentile(rates, 50),
            "rate_p10": percentile(rates, 10), "rate": cached / prompt, "cached_tokens": cached,
            "prompt_tokens": prompt}


def session_metrics(records: Sequence[Record]) -> MetricSet:
    """Headline numbers of a session workload (empty for single requests)."""
    table = session_table(records)
    if table is None:
        return {}
    first = [v * MS for r in records if r.ok and r.turn == 1 and (v := ttft_s(r)) is not None]
    later = [v * MS for r in records if r.ok and (r.turn or 0) > 1 and (v := ttft_s(r)) is not None]
    hits = session_cache_hits(records)
    cache: MetricSet = {} if hits is None else {
        "session_cache_hit_rate": Metric(hits["rate"], "fraction", Better.NONE),
        "session_cache_hit_rate_mean": Metric(hits["rate_mean"], "fraction", Better.NONE),
        "session_cache_hit_rate_p50": Metric(hits["rate_p50"], "fraction", Better.NONE),
        "session_cache_hit_rate_p10": Metric(hits["rate_p10"], "fraction", Better.NONE),
    }
    return cache | {
        "sessions": Metric(float(table["sessions"]), "sessions", Better.NONE),
        "turns_per_session": Metric(table["turns_mean"], "turns", Better.NONE),
        "session_duration_mean": Metric(table["duration_mean_s"], "s", Better.LOWER),
        "session_duration_p90": Metric(table["duration_p90_s"], "s", Better.LOWER),
        "ttft_first_turn_mean": Metric(_mean(first), "ms", Better.LOWER),
        "ttft_later_turns_mean": Metric(_mean(later), "ms", Better.LOWER),
    }
