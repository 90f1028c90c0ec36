"""The workloads' parts, each against a truth it can be held to: sessions carry
their history and respect think times, a trace's schedule is replayed, the ideal
prefix-cache rate matches its closed form, the servers' Prometheus pages parse
into the right per-request means, batch invariance counts what differs, and the
Pareto front is the set of undominated points."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from openaiperf.loadgen.arrivals import trace_offsets
from openaiperf.loadgen.sessions import dispatch_sessions_closed
from openaiperf.metrics import Better, Metric
from openaiperf.metrics.invariance import compare_outputs, first_difference
from openaiperf.metrics.prefix_cache import ideal_prefix_hits, shared_prefix_ideal_rate
from openaiperf.metrics.server import server_metrics
from openaiperf.metrics.sessions import session_table
from openaiperf.monitor.prometheus import delta, parse_exposition
from openaiperf.records import Record, Request, Session, Turn
from openaiperf.result import CaseResult, CaseSettings, EfficiencyBasis, metric_values
from openaiperf.sweeps.pareto import ParetoPoint, curve_of, mark_front, pareto_points

# -- sessions ---------------------------------------------------------------------------


def session(history: str = "model", think_time_s: float = 0.0, chat: bool = True) -> Session:
    turns = (Turn("hello", "hi there", 4), Turn("how are you", "fine", 3), Turn("bye", "goodbye", 2))
    return Session(id="s0", sample_id="c0", turns=turns, system="be brief", chat=chat, history=history,  # type: ignore[arg-type]
                   think_time_s=think_time_s)


def test_a_turn_carries_the_conversation_so_far_with_the_models_answers():
    request = session().request(3, ["A1", "A2"])
    assert request.messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"},
                                {"role": "assistant", "content": "A1"}, {"role": "user", "content": "how are you"},
                                {"role": "assistant", "content": "A2"}, {"role": "user", "content": "bye"}]
    assert (request.id, request.session_id, request.turn, request.max_tokens) == ("s0/t3", "s0", 3, 2)


def test_recorded_history_keeps_the_datasets_answers_and_plain_prompts_have_the_same_turns():
    s = session(history="recorded", chat=False)
    record = Record(request_id="s0/t1", sample_id="c0", text="what the model said")
    assert s.answer(1, record) == "hi there"
    assert s.request(2, ["hi there"]).prompt == (
        "be brief\nUser: hello\nAssistant: hi there\nUser: how are you\nAssistant:")
    with pytest.raises(ValueError, match="turn 3 needs 2 earlier answer"):
        s.request(3, ["x"])


def test_a_warmup_session_has_its_own_prefix_in_every_turn():
    warm = session().warmup_copy(0, turns=2)
    assert len(warm.turns) == 2 and warm.id.startswith("warmup-0:")
    assert warm.request(2, ["a"]).messages[1]["content"].startswith("[warmup 0] hello")  # type: ignore[index]


def run_sessions(sessions: list[Session], streams: int, reply_s: float) -> tuple[list[Record], list[Request]]:
    """Sessions through the closed-loop driver; each answer (``answer to <last user message>``)
    takes ``reply_s``."""

    async def send(request: Request, record: Record) -> None:
        await asyncio.sleep(reply_s)
        last = (request.messages or [{}])[-1].get("content", "")
        record.text = f"answer to {last}"
        record.output_tokens = 3
        record.mark_token(time.perf_counter())
        record.done = time.perf_counter()

    result = asyncio.run(dispatch_sessions_closed(sessions, streams, send, lambda r: None))
    return result.records, result.requests


def test_each_turn_waits_for_the_answer_and_the_think_time_and_carries_the_answer():
    think = 0.05
    records, requests = run_sessions([session(think_time_s=think)], 1, reply_s=0.01)
    assert [r.turn for r in records] == [1, 2, 3]
    for before, after in zip(records, records[1:]):
        # scheduled exactly a think time after the answer; sent no earlier than that
        assert after.scheduled == pytest.approx(before.done + think, abs=1e-9)
        assert after.sent >= after.scheduled
    assert requests[2].messages[2] == {"role": "assistant", "content": "answer to hello"}
    assert requests[2].messages[4] == {"role": "assistant", "content": "answer to how are you"}


def test_exponential_think_times_are_seeded_per_session():
    s = Session(id="s", sample_id="c", turns=(Turn("a", "b", 1),) * 5, think_time_s=1.0, think_time="exponential",
                seed=3)
    assert s.think_times() == s.think_times() and len(set(s.think_times())) == 4


def test_concurrent_sessions_overlap_and_the_table_counts_turns():
    sessions = [session().repeat(i) for i in range(4)]
    records, _ = run_sessions(sessions, 4, reply_s=0.02)
    first_turns = [r.sent for r in records if r.turn == 1]
    assert max(first_turns) - min(first_turns) < 0.02  # the four streams start together
    table = session_table(records)
    assert table is not None
    assert (table["sessions"], table["completed"], table["turns_mean"]) == (4, 4, 3.0)
    assert [t["turn"] for t in table["by_turn"]] == [1, 2, 3]


# -- trace replay --------------------------------------------------------------------------


def test_trace_offsets_replay_the_trace_scaled_and_cycle_after_its_end():
    trace = [10.0, 10.5, 12.0, 14.0]
    offsets = trace_offsets(trace, 6, time_scale=0.5, warmup=2)
    gap = (2.0 / 3)  # mean scaled gap: span 2 s / 3 gaps
    np.testing.assert_allclose(offsets[:2], [0.0, gap])
    measured = offsets[2:] - offsets[2]
    np.testing.assert_allclose(measured[:4], [0.0, 0.25, 1.0, 2.0])
    np.testing.assert_allclose(measured[4:], [2.0 + gap, 2.25 + gap])


# -- the ideal prefix cache ------------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 4, 16])
@pytest.mark.parametrize("order", ["interleaved", "grouped"])
def test_the_ideal_hit_rate_of_shared_prefix_groups_is_the_closed_form(block, order):
    groups, per_group, prefix, suffix = 3, 4, 37, 5
    rng = np.random.default_rng(0)
    prefixes = [rng.integers(0, 10**6, prefix).tolist() for _ in range(groups)]
    grid = [(g, k) for k in range(per_group) for g in range(groups)] if order == "interleaved" else \
        [(g, k) for g in range(groups) for k in range(per_group)]
    prompts = [prefixes[g] + rng.integers(0, 10**6, suffix).tolist() for g, _ in grid]
    ideal = ideal_prefix_hits(prompts, block)
    assert ideal.rate == pytest.approx(shared_prefix_ideal_rate(per_group, prefix, suffix, block))


def test_a_prompt_never_hits_its_last_token():
    ideal = ideal_prefix_hits([[1, 2, 3, 4], [1, 2, 3, 4]], 2)
    assert ideal.per_prompt == (0, 2)  # the second could take both blocks, but computes its last token


# -- the server's Prometheus page -----------------------------------------------------------

VLLM = """# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{model_name="m"}} {running}
vllm:num_requests_waiting{{model_name="m"}} 1
vllm:request_success_total{{finished_reason="length",model_name="m"}} {finished}
vllm:request_success_total{{finished_reason="stop",model_name="m"}} 1
vllm:num_preemptions_total{{model_name="m"}} 0
vllm:prefix_cache_queries_total{{model_name="m"}} {queries}
vllm:prefix_cache_hits_total{{model_name="m"}} {hits}
vllm:cache_config_info{{block_size="128",enable_prefix_caching="True"}} 1.0
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{{le="+Inf",model_name="m"}} {finished}
vllm:time_to_first_token_seconds_count{{model_name="m"}} {finished}
vllm:time_to_first_token_seconds_sum{{model_name="m"}} {ttft_sum}
"""
SGLANG = """# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="m"} 3
sglang:num_queue_reqs{model_name="m"} 2
sglang:num_requests_total{model_name="m"} 10
sglang:prompt_tokens_total{model_name="m"} 1000
sglang:cached_tokens_total{model_name="m"} 250
# TYPE sglang:time_to_first_token_seconds histogram
sglang:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 10
sglang:time_to_first_token_seconds_sum{model_name="m"} 0.5
sglang:time_to_first_token_seconds_count{model_name="m"} 10
"""
TGI = """# TYPE tgi_request_success counter
tgi_request_success 7
# TYPE tgi_queue_size gauge
tgi_queue_size 4
# TYPE tgi_batch_current_size gauge
tgi_batch_current_size 6
# TYPE tgi_request_queue_duration histogram
tgi_request_queue_duration_bucket{le="+Inf"} 7
tgi_request_queue_duration_sum 0.7
tgi_request_queue_duration_count 7
"""


def test_vllm_deltas_give_per_request_means_and_the_hit_rate():
    before = parse_exposition(VLLM.format(running=0, finished=3, queries=100, hits=0, ttft_sum=0.3), t=0.0)
    after = parse_exposition(VLLM.format(running=4, finished=13, queries=600, hits=300, ttft_sum=1.3), t=5.0)
    assert before is not None and after is not None
    assert (after.server, after.block_size, after.values["requests_finished"]) == ("vllm", 128, 14.0)
    round_delta = delta(before, after, 0)
    assert round_delta.counters["requests_finished"] == 10
    assert round_delta.mean_s("ttft") == pytest.approx(0.1)
    records = [Record(request_id=f"r{i}", sample_id="s", scheduled=0.0, sent=0.0, output_tokens=1) for i in range(2)]
    for record in records:
        record.mark_token(0.125)
        record.done = 0.125
    out = server_metrics(round_delta, records)
    assert out["prefix_cache_hit_rate"].value == pytest.approx(300 / 500)
    assert out["server_ttft_mean"].value == pytest.approx(100.0)
    assert out["client_minus_server_ttft"].value == pytest.approx(25.0)
    assert out["server_running_peak"].value == 4


def test_sglang_and_tgi_names_map_onto_ours():
    sglang = parse_exposition(SGLANG)
    assert sglang is not None and sglang.server == "sglang"
    assert {k: sglang.values[k] for k in ("running", "waiting", "requests_finished", "prefix_queries",
                                          "prefix_hits", "ttft_sum", "ttft_count")} == {
        "running": 3, "waiting": 2, "requests_finished": 10, "prefix_queries": 1000, "prefix_hits": 250,
        "ttft_sum": 0.5, "ttft_count": 10}
    tgi = parse_exposition(TGI)
    assert tgi is not None and tgi.server == "tgi"
    assert tgi.values == {"requests_finished": 7, "running": 6, "waiting": 4, "queue_time_sum": 0.7,
                          "queue_time_count": 7}
    assert parse_exposition("# nothing we know\nfoo_total 1\n") is None


# -- batch invariance ------------------------------------------------------------------------


def test_batch_invariance_counts_identical_answers_and_where_the_others_part():
    def rec(request_id: str, text: str) -> Record:
        return Record(request_id=request_id, sample_id="s", text=text, done=1.0)

    reference = {"a": rec("a", "one two three"), "b": rec("b", "one two three"), "c": rec("c", "x")}
    measured = [rec("a", "one two three"), rec("b~1", "one two four"), rec("c", "x"), rec("d", "no reference")]
    outcome = compare_outputs(measured, reference, lambda text: [hash(w) for w in text.split()])
    assert (outcome.compared, outcome.identical, outcome.unmatched) == (3, 2, 1)
    assert outcome.rate == pytest.approx(2 / 3)
    assert outcome.first_difference == [2]
    assert first_difference("abc", "abcd") == 3 and first_difference("abc", "abc") is None


# -- Pareto ---------------------------------------------------------------------------------


def point(x: float, y: float) -> ParetoPoint:
    return ParetoPoint("s", "", "stream_count", 1, 1, x, x, y, None, "passed")


def test_the_front_is_the_undominated_points():
    points = [point(10, 50), point(20, 40), point(15, 30), point(30, 10), point(30, 5)]
    mark_front(points)
    assert [p.on_front for p in points] == [True, True, False, True, False]


def test_pareto_points_of_a_concurrency_sweep_divide_by_the_devices():
    results = []
    for count, (total, per_user) in {1: (20.0, 20.0), 2: (36.0, 18.0), 4: (30.0, 7.5)}.items():
        result = CaseResult(id=f"t-multi_stream-e-m[stream_count={count}]", task="t", scenario="multi_stream",
                            engine="e", model="m", hardware="cpu", status="passed", variant=f"stream_count={count}",
                            base_id="t-multi_stream-e-m", settings=CaseSettings(efficiency=EfficiencyBasis(
                                compute_dtype="bf16", activation_dtype="bf16", weight_bytes_per_parameter=2,
                                kv_bytes_per_value=2, devices=2)),
                            metrics=metric_values({
                                "output_tokens_per_s": Metric(total, "tokens/s", Better.HIGHER),
                                "output_tokens_per_s_per_user": Metric(per_user, "tokens/s", Better.HIGHER)}))
        results.append(result)
    points = pareto_points(results)
    assert [(p.load, p.output_tokens_per_s_per_device, p.on_front) for p in points] == [
        (1.0, 10.0, True), (2.0, 18.0, True), (4.0, 15.0, False)]


def test_each_value_of_another_swept_key_draws_a_curve_of_its_own():
    def variant(text: str) -> CaseResult:
        return CaseResult(id=f"t-s-e-m[{text}]", task="t", scenario="s", engine="e", model="m", hardware="cpu",
                          status="passed", variant=text, base_id="t-s-e-m")

    assert curve_of(variant("enable_prefix_caching=True,stream_count=2")) == "t-s-e-m[enable_prefix_caching=True]"
    assert curve_of(variant("stream_count=2")) == "t-s-e-m"


def test_the_sampler_skips_a_missed_scrape_and_gives_up_on_a_server_that_is_gone():
    import socket

    from openaiperf.monitor.prometheus import PrometheusSampler

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sampler = PrometheusSampler(f"http://127.0.0.1:{port}/metrics", min_interval_s=0.0, timeout_s=1.0)
    assert [sampler.sample() for _ in range(PrometheusSampler.max_failures - 1)] == [{}] * 4
    with pytest.raises(OSError):
        sampler.sample()
