"""The prefix cache's hit rate per session, against the scripted server: it reports a
chat request's history (every message before the last) as cached prompt tokens, so a
session's truth is its turns' history words over their prompt words, known from the
sessions' own messages; the suite recovers every turn's cached tokens, each session's
rate and their distribution exactly."""

from __future__ import annotations

import numpy as np
import pytest

from openaiperf.metrics.sessions import session_cache_hits, session_metrics, session_table
from openaiperf.records import Session, Turn
from openaiperf.result import SessionSummary
from openaiperf.scenarios import create_scenario, scenario_config
from openaiperf.testing.scripted_server import Script, start_scripted_server
from tests.conformance.test_engine_conformance import engine

ANSWER_TOKENS = 5
SCRIPT = {"tokens": ANSWER_TOKENS, "ttft_ms": 2.0, "gap_ms": 1.0, "prompt_words": True, "cached_usage": "history"}


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(Script()) as handle:
        yield handle


def sessions() -> list[Session]:
    """Six sessions of 1 to 4 turns whose user messages have 1 to 9 words: rates from 0 to about 0.8."""
    rng = np.random.default_rng(7)
    made = []
    for index, turns in enumerate((1, 2, 3, 4, 2, 3)):
        users = [" ".join(f"s{index}w{j}" for j in range(int(rng.integers(1, 10)))) for _ in range(turns)]
        made.append(Session(id=f"s{index}", sample_id=f"s{index}",
                            turns=tuple(Turn(user=u, reply="", max_tokens=ANSWER_TOKENS) for u in users)))
    return made


def truth(session: Session) -> tuple[list[int], list[int]]:
    """Per turn: (history words, prompt words) as the script counts them (``role: content``,
    every answer the script's ANSWER_TOKENS words)."""
    def words(content: str) -> int:
        return 1 + len(content.split())

    history, prompts, before = [], [], 0
    for turn in session.turns:
        history.append(before)
        prompts.append(before + words(turn.user))
        before += words(turn.user) + 1 + ANSWER_TOKENS
    return history, prompts


def test_per_session_cache_hit_rates_recover_the_script(server):
    server.reset()
    made = sessions()
    scenario = create_scenario("multi_stream", scenario_config(
        {"stream_count": 2, "warmup_requests": 0, "min_queries": 1}, source="test"))
    e = engine(server, SCRIPT)
    try:
        run = scenario.run(e, made, lambda r: None)
    finally:
        e.teardown()
    records = {r.request_id: r for r in run.records}
    assert len(records) == sum(len(s.turns) for s in made) and all(r.ok for r in records.values())
    rates, cached_total, prompt_total = [], 0, 0
    for session in made:
        history, prompts = truth(session)
        for turn, (cached, prompt) in enumerate(zip(history, prompts), start=1):
            record = records[session.request_id(turn)]
            assert (record.cached_tokens, record.input_tokens) == (cached, prompt), record.request_id
        rates.append(sum(history) / sum(prompts))
        cached_total += sum(history)
        prompt_total += sum(prompts)
    hits = session_cache_hits(run.records)
    assert hits is not None and hits["sessions"] == len(made)
    assert hits["rate"] == pytest.approx(cached_total / prompt_total, abs=1e-12)
    assert hits["rate_mean"] == pytest.approx(np.mean(rates), abs=1e-12)
    assert hits["rate_p50"] == pytest.approx(np.percentile(rates, 50), abs=1e-12)
    assert hits["rate_p10"] == pytest.approx(np.percentile(rates, 10), abs=1e-12)
    assert min(rates) == 0.0 and max(rates) > 0.5  # a one-turn session reuses nothing
    metrics = session_metrics(run.records)
    assert metrics["session_cache_hit_rate"].value == hits["rate"]
    assert metrics["session_cache_hit_rate_p10"].value == hits["rate_p10"]
    summary = SessionSummary.model_validate(session_table(run.records))  # as results.json holds it
    assert summary.cache_hits is not None and summary.cache_hits.cached_tokens == cached_total


def test_no_cached_tokens_reported_means_no_session_hit_rate(server):
    server.reset()
    scenario = create_scenario("multi_stream", scenario_config(
        {"stream_count": 2, "warmup_requests": 0, "min_queries": 1}, source="test"))
    e = engine(server, {**SCRIPT, "cached_usage": ""})
    try:
        run = scenario.run(e, sessions()[:2], lambda r: None)
    finally:
        e.teardown()
    assert all(r.ok and r.cached_tokens is None for r in run.records)
    assert session_cache_hits(run.records) is None
    assert "session_cache_hit_rate" not in session_metrics(run.records)
