"""Chunks and tokens: per-token times derived from chunks, tokens per chunk
worked out after the round, latencies that are unknown rather than 0, warmup
prompts of their own, and the records file rewritten with the final counts."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from openaiperf.metrics.latency import chunk_itl_s, itl_s, latency_metrics, timing_notes, tpot_s, ttft_s
from openaiperf.metrics.tokens import complete_chunk_tokens, spread, tokens_per_chunk
from openaiperf.records import Record, RecordWriter, Request, read_records


def chunked(times: list[float], tokens: list[int], texts: list[str] | None = None, **fields) -> Record:
    record = Record(request_id="r", sample_id="s", scheduled=0.0, sent=0.0, **fields)
    texts = texts or [""] * len(times)
    for when, count, text in zip(times, tokens, texts):
        record.mark_chunk(when, count, len(text))
    record.text = "".join(texts)
    record.done = times[-1]
    record.output_tokens = sum(tokens)
    return record


def test_a_chunk_of_k_tokens_after_a_gap_g_gives_k_gaps_of_g_over_k():
    record = chunked([0.05, 0.07, 0.09], [1, 2, 2])
    assert record.token_times == pytest.approx([0.05, 0.06, 0.07, 0.08, 0.09])
    assert itl_s(record) == pytest.approx([0.01] * 4)
    assert chunk_itl_s(record) == pytest.approx([0.02, 0.02])
    assert tpot_s(record) == pytest.approx(0.01)


def test_tokens_of_the_first_chunk_arrive_with_it_and_empty_chunks_add_no_token():
    record = chunked([0.05, 0.06, 0.08], [3, 0, 1])
    assert record.token_times == pytest.approx([0.05, 0.05, 0.05, 0.08])
    assert chunk_itl_s(record) == pytest.approx([0.01, 0.02])


def test_records_round_trip_and_old_files_still_read(tmp_path):
    path = tmp_path / "records.jsonl"
    with RecordWriter(path, t0=10.0) as writer:
        writer.write(chunked([10.5, 10.7], [1, 3], ["a", "bcd"]))
    (back,) = read_records(path)
    assert back.chunk_times == [0.5, 0.7] and back.chunk_tokens == [1, 3] and back.chunk_ends == [1, 4]
    assert back.first_token == 0.5
    legacy = {"request_id": "x", "sample_id": "s", "scheduled": 0.0, "sent": 0.0, "first_token": 0.1,
              "token_times": [0.1, 0.2], "done": 0.2, "output_tokens": 2}
    path.write_text(json.dumps(legacy) + "\n")
    (old,) = read_records(path)
    assert old.chunk_times == [0.1, 0.2] and old.token_times == [0.1, 0.2]


def test_rewrite_replaces_only_this_writers_lines(tmp_path):
    path = tmp_path / "records.jsonl"
    with RecordWriter(path, t0=0.0) as first:
        first.write(chunked([1.0], [1]))
    record = chunked([2.0, 3.0], [1, 1], ["a ", "b c "], token_source="pending")
    with RecordWriter(path, t0=0.0) as second:
        second.write(record)
        record.chunk_tokens, record.token_source = [1, 2], "tokenizer"
        second.rewrite()
        second.write(chunked([4.0], [1]))  # appends still work after a rewrite
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 3
    assert lines[1]["chunk_tokens"] == [1, 2] and lines[1]["token_source"] == "tokenizer"
    assert not list(tmp_path.glob("*.tmp"))


def test_spread_adds_up_keeps_shape_and_gives_the_first_chunk_a_token():
    assert spread([2, 4, 6], 6) == [2, 2, 2]
    assert spread([2, 4, 6], 7) == [2, 3, 2]
    assert spread([0, 5, 10], 10)[0] >= 1 and sum(spread([0, 5, 10], 10)) == 10
    assert spread([0, 0], 4) == [2, 2]  # nothing to go by: even
    assert all(c >= 0 for c in spread([1, 1, 1, 9], 3))


def test_a_token_belongs_to_the_chunk_where_it_starts():
    # text "ab cd ef" arrives as "ab c" | "d e" | "f"; tokens start at 0, 3, 6
    assert tokens_per_chunk([4, 7, 8], [0, 3, 6]) == [2, 1, 0]


class WordTokenizer:
    """A fast-tokenizer stand-in: one token per whitespace-separated word, with offsets."""

    is_fast = True

    def __call__(self, texts, add_special_tokens=False, return_offsets_mapping=False):
        def one(text):
            return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]

        if isinstance(texts, str):
            return {"input_ids": [0] * len(one(texts))}
        offsets = [one(t) for t in texts]
        return {"input_ids": [[0] * len(o) for o in offsets], "offset_mapping": offsets}


def pending(texts: list[str], usage_total: int | None) -> Record:
    record = chunked([0.1 * (i + 1) for i in range(len(texts))], [1] * len(texts), texts, token_source="pending")
    record.output_tokens = usage_total
    return record


def test_tokenizer_counts_per_chunk_after_the_round_and_the_server_total_wins():
    record = pending(["tok ", "tok tok ", "tok tok "], usage_total=5)
    complete_chunk_tokens([record], WordTokenizer())
    assert record.chunk_tokens == [1, 2, 2] and record.token_source == "tokenizer"
    assert record.client_output_tokens == 5
    # the server counted one more (a stop token with no text): the counts add up to its total
    extra = pending(["tok ", "tok tok ", "tok tok "], usage_total=6)
    complete_chunk_tokens([extra], WordTokenizer())
    assert sum(extra.chunk_tokens) == 6 and extra.chunk_tokens[0] >= 1 and extra.output_tokens == 6


def test_without_server_usage_the_tokenizer_count_is_the_output_count():
    record = pending(["tok tok ", "tok "], usage_total=None)
    complete_chunk_tokens([record], WordTokenizer())
    assert record.output_tokens == 3 and record.chunk_tokens == [2, 1]


def test_without_a_tokenizer_the_total_is_spread_by_text_length_and_noted():
    record = pending(["tok ", "tok tok tok "], usage_total=4)
    complete_chunk_tokens([record], None)
    assert record.chunk_tokens == [1, 3] and record.token_source == "text_length"
    assert any("estimated" in note for note in timing_notes([record]))
    neither = pending(["tok ", "tok tok "], usage_total=None)
    complete_chunk_tokens([neither], None)
    assert neither.chunk_tokens == [1, 1] and neither.output_tokens == 2 and neither.token_source == "chunks"


def test_exact_counts_are_kept_and_only_compared():
    record = chunked([0.1, 0.2], [1, 3], ["tok ", "tok tok "], token_source="usage")
    complete_chunk_tokens([record], WordTokenizer())
    assert record.chunk_tokens == [1, 3] and record.client_output_tokens == 3


def test_an_engine_without_per_token_times_reports_unknown_not_zero():
    """vLLM's LLM.generate hands outputs over at the end of the batch: one time per request."""
    record = Record(request_id="r", sample_id="s", scheduled=0.0, sent=0.0, done=2.0, output_tokens=40,
                    timed_tokens=False)
    assert ttft_s(record) is None and tpot_s(record) is None and itl_s(record) == []
    metrics = latency_metrics([record])
    assert metrics["ttft_p50"].value is None and metrics["tpot_p50"].value is None
    assert metrics["itl_p50"].value is None and metrics["e2e_p50"].value == pytest.approx(2000.0)
    assert any("unknown" in note for note in timing_notes([record]))


def test_vllm_offline_llm_api_leaves_ttft_and_tpot_unknown():
    from openaiperf.engines import EngineContext
    from openaiperf.engines.vllm import VLLMEngine
    from openaiperf.models import ModelSpec

    engine = VLLMEngine(EngineContext(model=ModelSpec(name="m", source="w", parameters=1), weights="w",
                                      hardware=SimpleNamespace(device="cpu"), dtype="float32",
                                      options={"offline_api": "llm"}))
    completion = SimpleNamespace(token_ids=list(range(12)), text="twelve tokens")
    engine.llm = SimpleNamespace(generate=lambda prompts, params, use_tqdm: [
        SimpleNamespace(outputs=[completion]) for _ in prompts])
    engine.prompt_ids = lambda request: [1, 2, 3]
    engine.sampling = lambda request, delta=True: None
    requests = [Request(id=f"q{i}", sample_id="s", max_tokens=12, prompt="p") for i in range(3)]
    records = [Record(request_id=r.id, sample_id="s") for r in requests]
    engine.run(requests, records, lambda r: None)
    assert all(r.ok and r.output_tokens == 12 and not r.timed_tokens for r in records)
    metrics = latency_metrics(records)
    assert metrics["tpot_p50"].value is None and metrics["ttft_p50"].value is None


def test_vllm_prefix_caching_is_off_unless_asked():
    from openaiperf.engines import EngineContext
    from openaiperf.engines.vllm import VLLMEngine
    from openaiperf.models import ModelSpec

    def kwargs(**options):
        return VLLMEngine(EngineContext(model=ModelSpec(name="m", source="w", parameters=1), weights="w",
                                        hardware=SimpleNamespace(device="cpu"), dtype="float32",
                                        options=options)).engine_kwargs()

    assert kwargs()["enable_prefix_caching"] is False
    assert kwargs(enable_prefix_caching=True)["enable_prefix_caching"] is True


def test_warmup_copies_start_differently_and_keep_their_ids_apart():
    plain = Request(id="a", sample_id="s", max_tokens=4, prompt="Summarize this")
    chat = Request(id="b", sample_id="s", max_tokens=4, messages=[{"role": "system", "content": "You edit."},
                                                                  {"role": "user", "content": "Hi"}])
    parts = Request(id="c", sample_id="s", max_tokens=4,
                    messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}]}])
    warm_plain, warm_chat, warm_parts = plain.warmup_copy(0), chat.warmup_copy(1), parts.warmup_copy(2)
    assert warm_plain.prompt.startswith("[warmup 0] ") and warm_plain.prompt.endswith(plain.prompt)
    assert warm_chat.messages[0]["content"].startswith("[warmup 1] ") and warm_chat.messages[1:] == chat.messages[1:]
    assert warm_parts.messages[0]["content"][0] == {"type": "text", "text": "[warmup 2] "}
    assert chat.messages[0]["content"] == "You edit."  # the measured request is untouched
    assert len({plain.id, warm_plain.id, chat.id, warm_chat.id}) == 4


def test_online_and_runner_warmup_requests_share_no_prompt_start_with_measured_ones():
    from openaiperf.runner import CaseRunner
    from openaiperf.scenarios.online import with_warmup

    requests = [Request(id=f"r{i}", sample_id=f"s{i}", max_tokens=1, prompt=f"article {i}") for i in range(2)]
    online = with_warmup(requests, 3)
    assert all(r.prompt.startswith("[warmup ") for r in online[:3])
    assert [r.prompt for r in online[3:]] == ["article 0", "article 1"]

    seen: list[Request] = []
    engine = SimpleNamespace(run=lambda reqs, records, sink: seen.extend(reqs))
    completed: list[list[Record]] = []
    from openaiperf.progress import CaseProgress

    runner = SimpleNamespace(engine=engine, complete_records=completed.append, progress=CaseProgress("case", None))
    CaseRunner.warmup(runner, requests)
    assert [r.prompt for r in seen] == ["[warmup 0] article 0", "[warmup 1] article 1"]
    assert len(completed) == 1 and all(r.warmup for r in completed[0])


def test_managed_server_flags_prefix_caching_both_ways_and_masks_secrets_in_its_log(tmp_path, monkeypatch):
    import sys

    from openaiperf.engines import managed_server
    from openaiperf.engines.managed_server import ManagedServer, ServerStartError

    off = ManagedServer("/m", "m", log_dir=tmp_path)
    assert "--no-enable-prefix-caching" in off.command and not off.prefix_caching
    on = ManagedServer("/m", "m", log_dir=tmp_path, args={"enable_prefix_caching": True})
    assert "--enable-prefix-caching" in on.command and on.prefix_caching
    assert ManagedServer("/m", "m", log_dir=tmp_path, extra_argv=["--enable-prefix-caching"]).prefix_caching

    # A "server" that exits at once: its log's first line is the command, secrets masked.
    monkeypatch.setattr(managed_server, "server_command",
                        lambda *a, **k: [sys.executable, "-c", "raise SystemExit(3)"])
    server = ManagedServer("/m", "m", log_dir=tmp_path, extra_argv=["--api-key", "sk-managed-secret-0123456789"],
                           start_timeout_s=30)
    assert server.command[-1] == "sk-managed-secret-0123456789"  # the server itself gets the key
    with pytest.raises(ServerStartError) as failed:
        server.start()
    log = server.log_path.read_text()
    assert "sk-managed-secret-0123456789" not in log and "--api-key ***" in log
    assert "sk-managed-secret-0123456789" not in str(failed.value)


def test_openai_engine_sends_the_managed_servers_key_but_never_shows_it(monkeypatch):
    from openaiperf.engines import EngineContext
    from openaiperf.engines.openai import OpenAIEngine

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    engine = OpenAIEngine(EngineContext(model=None, weights="w",
                                        hardware=SimpleNamespace(device="cpu"), dtype="float32",
                                        options={"server_args": "--api-key sk-managed-secret-0123456789"}))
    assert engine.headers()["Authorization"] == "Bearer sk-managed-secret-0123456789"
    assert "sk-managed-secret-0123456789" not in json.dumps(engine.info(), default=str)
