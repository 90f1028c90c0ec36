"""Scoring token windows on the embedded model: the hf engine's ``score`` agrees
with transformers' own loss, padding does not change a window's scores, and
vLLM's prompt logprobs (engines/vllm_scoring.py) give the same perplexity
within a few percent."""

from __future__ import annotations

import math
import os

import pytest

from fixtures.vllm import ONE_PROCESS_VLLM

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup():
    from openaiperf.engines import EngineContext
    from openaiperf.engines.hf import HFEngine
    from openaiperf.hardware import load_profile
    from openaiperf.models import get_model, resolve_weights
    from openaiperf.tasks import load_task_specs
    from openaiperf.tasks.perplexity import PerplexityTask

    model = get_model("smollm2-135m")
    weights = resolve_weights(model)
    engine = HFEngine(EngineContext(model=model, weights=weights, hardware=load_profile("cpu"), dtype="float32"))
    engine.prepare()
    task = PerplexityTask(load_task_specs(include_user=False)["perplexity.corpus"], model=model)
    ids = task.load_samples(1, None)[0].fields["token_ids"]
    windows = [ids[:96], ids[100:164], ids[200:296]]
    yield engine, weights, windows
    engine.teardown()


def perplexity(logprobs: list[list[float]]) -> float:
    flat = [x for window in logprobs for x in window]
    return math.exp(-sum(flat) / len(flat))


def test_hf_score_matches_transformers_loss(setup):
    import torch

    engine, _, windows = setup
    scored = engine.score(windows)
    assert [len(s) for s in scored] == [len(w) - 1 for w in windows]
    for window, logprobs in zip(windows, scored):
        ids = torch.tensor([list(window)])
        with torch.inference_mode():
            loss = engine.model(input_ids=ids, labels=ids).loss.item()
        assert -sum(logprobs) / len(logprobs) == pytest.approx(loss, rel=1e-4)
    # right padding in a batch of unequal windows leaves each window's scores unchanged
    alone = engine.score([windows[1]])[0]
    assert scored[1] == pytest.approx(alone, abs=1e-3)


def test_vllm_prompt_logprobs_agree_with_hf(setup, monkeypatch):
    pytest.importorskip("vllm")
    for name, value in ONE_PROCESS_VLLM.items():  # the engine in this process (fixtures/vllm.py)
        monkeypatch.setenv(name, value)
    from openaiperf.engines.vllm_scoring import score_windows

    engine, weights, windows = setup
    hf_ppl = perplexity(engine.score(windows))
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from vllm import LLM

    llm = LLM(model=weights, dtype="bfloat16", max_model_len=2048, enforce_eager=True, gpu_memory_utilization=0.5,
              distributed_executor_backend="uni")
    try:
        vllm_scored = score_windows(llm, windows)
    finally:
        del llm
    assert [len(s) for s in vllm_scored] == [len(w) - 1 for w in windows]
    vllm_ppl = perplexity(vllm_scored)
    assert vllm_ppl == pytest.approx(hf_ppl, rel=0.03), (hf_ppl, vllm_ppl)
