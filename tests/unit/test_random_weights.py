"""Random weights from the registry's architectures, and prompts as token ids.

The parameter counts are held to the published figures of the models (Llama 3 8B:
8.03 B, Llama 3 70B: 70.6 B, Qwen2.5 7B: 7.62 B) and, independently, to
transformers' own model built on the ``meta`` device from the generated
config.json. The tiny random-weights Llama runs through the real hf engine.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from openaiperf.models import (
    ModelSpec,
    load_registry,
    random_weights_dir,
    resolve_weights,
    weights_skip_reason,
)
from openaiperf.models.architecture import count_parameters
from openaiperf.records import Record, Request

PUBLISHED = {"llama3-8b": 8.03e9, "llama3-70b": 70.6e9, "qwen2.5-7b": 7.62e9}


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAIPERF_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_the_architectures_give_the_published_parameter_counts(name: str) -> None:
    spec = load_registry()[name]
    assert spec.architecture is not None
    counted = count_parameters(spec.architecture)
    assert abs(counted - PUBLISHED[name]) < 0.01 * PUBLISHED[name], f"{name}: {counted:_}"
    assert spec.parameters == counted  # the registry's count is the architecture's


@pytest.mark.parametrize("name", ["llama3-8b", "llama3-70b", "qwen2.5-7b", "smollm2-135m", "tiny-llama",
                                  "tiny-qwen2"])
def test_transformers_builds_the_same_parameter_count_from_the_generated_config(name: str) -> None:
    from openaiperf.engines.hf import build_random_model

    spec = load_registry()[name].with_weights("random")
    model = build_random_model(str(random_weights_dir(spec)), "bfloat16", "meta")
    assert all(p.device.type == "meta" for p in model.parameters())  # nothing materialised
    assert sum(p.numel() for p in model.parameters()) == count_parameters(spec.architecture)  # type: ignore[arg-type]
    assert type(model).__name__ == {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}[
        spec.architecture.model_type]  # type: ignore[union-attr]


def test_the_generated_config_keeps_llama3_rope_scaling_and_qwen2_biases() -> None:
    registry = load_registry()
    tiny = json.loads((random_weights_dir(registry["tiny-llama"]) / "config.json").read_text())
    assert tiny["rope_scaling"]["rope_type"] == "llama3" and tiny["num_key_value_heads"] == 1
    qwen = registry["qwen2.5-7b"].with_weights("random")
    assert resolve_weights(qwen).endswith(f"qwen2.5-7b-{qwen.architecture.fingerprint()}")  # type: ignore[union-attr]
    assert count_parameters(qwen.architecture) > count_parameters(  # type: ignore[arg-type]
        qwen.architecture.model_copy(update={"model_type": "llama"}))  # type: ignore[union-attr]


def test_a_stated_parameter_count_is_checked_against_the_architecture() -> None:
    entry = load_registry()["llama3-8b"].model_dump()
    with pytest.raises(ValueError, match="differs from the architecture's count"):
        ModelSpec.model_validate({**entry, "parameters": 7_000_000_000})
    with pytest.raises(ValueError, match="weights: random needs an architecture"):
        ModelSpec.model_validate({**entry, "architecture": None, "weights": "random"})
    counted = ModelSpec.model_validate({**entry, "parameters": None})
    assert counted.parameters == 8_030_261_248


def test_quality_tasks_skip_random_weights_and_performance_tasks_run() -> None:
    from openaiperf.tasks import task_class

    registry = load_registry()
    random = registry["llama3-8b"].with_weights("random")
    reason = weights_skip_reason(random, task_class("summarization").judges_quality, "summarization.xsum")
    assert reason and "random weights" in reason and "summarization.xsum" in reason
    assert weights_skip_reason(random, task_class("perplexity").judges_quality, "perplexity.corpus")
    assert weights_skip_reason(random, task_class("synthetic").judges_quality, "synthetic.random") is None
    assert weights_skip_reason(random, task_class("chat").judges_quality, "chat.sharegpt") is None
    assert weights_skip_reason(registry["llama3-8b"], True, "summarization.xsum") is None
    reason = weights_skip_reason(registry["tiny-llama"].with_weights("real"), task_class("synthetic").judges_quality)
    assert reason and "--weights random" in reason


def test_random_weights_never_compare_with_real_ones() -> None:
    from openaiperf.baselines.fingerprint import model_parts
    from openaiperf.result import CaseResult

    registry = load_registry()
    case = CaseResult.model_validate({"id": "c", "task": "t", "scenario": "offline", "engine": "hf",
                                      "model": "llama3-8b", "hardware": "cpu", "settings": {"dtype": "bfloat16"}})
    real = model_parts(case, registry["llama3-8b"])
    random = model_parts(case, registry["llama3-8b"].with_weights("random"))
    assert "model weights" not in real and random["model weights"] == "random"
    assert random["model architecture"] == registry["llama3-8b"].architecture.fingerprint()  # type: ignore[union-attr]


def test_synthetic_prompts_are_token_ids_of_the_architecture_without_a_tokenizer() -> None:
    from openaiperf.tasks import create_task, load_task_specs

    spec = load_registry()["tiny-llama"]
    task = create_task("synthetic.random", load_task_specs(include_user=False), {"model": spec})
    samples = task.load_samples(None, None)
    requests = task.build_requests(samples, spec)
    arch = spec.architecture
    assert arch is not None
    for sample, request in zip(samples, requests):
        ids = request.prompt_token_ids
        assert ids is not None and request.prompt is None  # no tokenizer: ids only
        assert len(ids) == sample.fields["input_tokens"]
        assert all(0 <= t < arch.vocab_size for t in ids) and not set(ids) & arch.special_token_ids


def test_a_warmup_copy_of_token_ids_keeps_the_length_and_starts_differently() -> None:
    request = Request(id="r", sample_id="r", prompt_token_ids=[5, 6, 7, 8], max_tokens=2)
    copy = request.warmup_copy(0)
    assert copy.prompt_token_ids is not None and sorted(copy.prompt_token_ids) == [5, 6, 7, 8]
    assert copy.prompt_token_ids[0] != 5
    with pytest.raises(ValueError, match="empty"):
        Request(id="e", sample_id="e", prompt_token_ids=[], max_tokens=1)


class DeviceTokens:
    """A tensor still on an accelerator: ``cpu()`` returns only once the device has
    produced it (here: after a delay), as a CUDA tensor's copy to the host does."""

    device = SimpleNamespace(type="cuda")

    def __init__(self, ready_after_s: float) -> None:
        self.ready_after_s = ready_after_s
        self.ready_at: float | None = None

    def cpu(self) -> Any:
        time.sleep(self.ready_after_s)
        self.ready_at = time.perf_counter()
        return SimpleNamespace(device=SimpleNamespace(type="cpu"))


def test_a_step_timestamp_is_never_taken_before_the_device_produced_the_token() -> None:
    from openaiperf.engines.hf import StepClock

    stamps: list[float] = []
    clock = StepClock(lambda now, value: stamps.append(now))
    clock.put(SimpleNamespace(device=SimpleNamespace(type="cpu")))  # the prompt
    tokens = DeviceTokens(0.05)
    clock.put(tokens)
    assert tokens.ready_at is not None and clock.times[0] >= tokens.ready_at and stamps == clock.times


def test_the_tiny_random_llama_runs_through_the_hf_engine_on_token_ids() -> None:
    from openaiperf.engines.hf import HFEngine
    from openaiperf.testing.contexts import engine_context

    spec = load_registry()["tiny-llama"]
    engine = HFEngine(engine_context({"batch_size": 2}, model=spec, weights=resolve_weights(spec)))
    engine.prepare()
    try:
        assert sum(p.numel() for p in engine.model.parameters()) == spec.parameters
        assert engine.tokenizer is None and "random" in engine.info()["weights"]
        requests = [Request(id=f"r{i}", sample_id=f"r{i}", prompt_token_ids=list(range(10, 10 + n)), max_tokens=5,
                            ignore_eos=True) for i, n in enumerate((7, 12))]
        records = [Record(request_id=r.id, sample_id=r.id) for r in requests]
        engine.run(requests, records, lambda record: None)
        for request, record in zip(requests, records):
            assert record.ok, record.error
            assert record.input_tokens == len(request.prompt_token_ids or ())
            assert record.output_tokens == 5 and record.text == ""
            assert record.first_token is not None and record.done is not None and record.done >= record.first_token
    finally:
        engine.teardown()


def test_the_openai_engine_sends_token_arrays_where_the_server_takes_them() -> None:
    from openaiperf.engines.openai import OpenAIEngine, RequestFailed
    from openaiperf.testing.contexts import engine_context

    spec = load_registry()["tiny-llama"]

    def engine(**options: Any) -> OpenAIEngine:
        return OpenAIEngine(engine_context(options, model=spec, weights="w"))

    request = Request(id="r", sample_id="r", prompt_token_ids=[11, 12, 13], max_tokens=4, ignore_eos=True)
    managed = engine()
    path, body = managed.payload(request)
    assert path == "/v1/completions" and body["prompt"] == [11, 12, 13] and body["return_token_ids"] is True
    with pytest.raises(RequestFailed, match="token_prompts=true"):
        engine(endpoint="http://127.0.0.1:9/v1").payload(request)
    path, body = engine(endpoint="http://127.0.0.1:9/v1", token_prompts=True).payload(request)
    assert body["prompt"] == [11, 12, 13] and "return_token_ids" not in body


def test_chunks_that_carry_token_ids_count_tokens_without_text() -> None:
    from openaiperf.engines.openai import StreamReader

    record = Record(request_id="r", sample_id="r")
    reader = StreamReader(record, continuous=False)
    for t, ids in ((1.0, [5]), (2.0, [6, 7]), (3.0, [8])):
        reader.feed(b"data: " + json.dumps({"choices": [{"text": "", "token_ids": ids}]}).encode(), t)
    reader.feed(b"data: " + json.dumps({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
                .encode(), 3.1)
    reader.feed(b"data: [DONE]", 3.2)
    reader.finish()
    assert record.chunk_tokens == [1, 2, 1] and record.output_tokens == 4 and record.input_tokens == 3
    assert record.token_source == "engine"


def test_vllm_builds_a_random_weights_model_from_the_config_alone() -> None:
    pytest.importorskip("vllm")
    from openaiperf.engines.vllm import VLLMEngine
    from openaiperf.testing.contexts import engine_context

    spec = load_registry()["tiny-llama"]
    engine = VLLMEngine(engine_context(model=spec, weights=resolve_weights(spec)))
    args = engine.engine_kwargs()
    assert args["load_format"] == "dummy" and args["skip_tokenizer_init"] is True
    assert engine.prompt_ids(Request(id="r", sample_id="r", prompt_token_ids=[3, 4], max_tokens=1)) == [3, 4]
