"""The FLOP formulas of :mod:`openaiperf.models.architecture` held to PyTorch's own
count (``torch.utils.flop_counter.FlopCounterMode``) of the registry's tiny llama and
qwen2 models, built from their architecture with random weights, and to the published
per-token FLOPs of Llama 3 8B.

PyTorch counts what the kernels are asked to multiply: a prompt's forward pass with
the eager attention computes the whole square of scores (the masked half included),
which no serving kernel does. So the prefill's causal triangle is held to the count of
the same prompt fed one token at a time through the KV cache (token p attends to p
keys: exactly the triangle), and its LM head to one token's logits."""

from __future__ import annotations

import pytest

from openaiperf.metrics.efficiency import KVGeometry, ModelCost, efficiency_metrics
from openaiperf.models import load_registry
from openaiperf.models.architecture import (
    count_parameters,
    decode_flops,
    lm_head_flops,
    prefill_flops,
    projection_flops_per_token,
    request_flops,
    weight_parameters_read,
)
from openaiperf.records import Record

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

PROMPT = 48


def build(name: str):
    arch = load_registry()[name].architecture
    config = transformers.AutoConfig.for_model(**arch.hf_config("float32"))
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    return arch, model


def counted(function) -> int:
    with FlopCounterMode(display=False) as counter:
        function()
    return counter.get_total_flops()


@pytest.fixture(scope="module", params=["tiny-llama", "tiny-qwen2"])
def tiny(request):
    return build(request.param)


def test_a_decode_step_counts_as_torch_counts_it(tiny):
    arch, model = tiny
    ids = torch.randint(10, arch.vocab_size - 10, (1, PROMPT))
    with torch.no_grad():
        cache = model(ids, use_cache=True).past_key_values
        step = torch.tensor([[11]])
        measured = counted(lambda: model(step, past_key_values=cache, use_cache=True, logits_to_keep=1))
    assert decode_flops(arch, PROMPT) == pytest.approx(measured, rel=0.02)


def test_a_prefill_is_the_causal_triangle_with_the_last_tokens_logits(tiny):
    arch, model = tiny
    ids = torch.randint(10, arch.vocab_size - 10, (1, PROMPT))
    body = model.model
    total = 0
    with torch.no_grad():
        cache = None
        for position in range(PROMPT):
            def step(position: int = position) -> None:
                nonlocal cache, hidden
                out = body(ids[:, position:position + 1], past_key_values=cache, use_cache=True)
                cache, hidden = out.past_key_values, out.last_hidden_state
            hidden = None
            total += counted(step)
        total += counted(lambda: model.lm_head(hidden))
        # the same prompt in one pass computes the same projections (PyTorch counts its attention as a square)
        whole = counted(lambda: model(ids, logits_to_keep=1))
    assert prefill_flops(arch, PROMPT) == pytest.approx(total, rel=0.02)
    square_attention = 4 * arch.num_hidden_layers * arch.num_attention_heads * arch.head_size * PROMPT * PROMPT
    assert projection_flops_per_token(arch) * PROMPT + square_attention + lm_head_flops(arch) == pytest.approx(
        whole, rel=0.02)


def test_embeddings_cost_nothing_and_the_lm_head_counts_once_per_logit(tiny):
    arch, _ = tiny
    # the old rule (2 x every parameter x token) counted the embedding table and a head per prompt token
    old = 2 * count_parameters(arch) * (PROMPT + 8)
    exact = request_flops(arch, PROMPT, 8)
    assert exact < 0.75 * old
    assert exact == pytest.approx(prefill_flops(arch, PROMPT) + sum(decode_flops(arch, PROMPT + i) for i in range(7)))


def test_llama3_8b_matches_its_published_flops_per_token():
    """Llama 3 8B: 8.03 B parameters (Meta's model card), of which the embedding table and
    the untied LM head hold 128,256 x 4,096 = 525 M each, so the non-embedding parameters
    are N = 6.98 B, and a token's forward pass costs 2N = 13.96 GFLOP plus attention (Kaplan
    et al. 2020, "Scaling Laws for Neural Language Models", Table 1: C_forward ≈ 2N +
    2 n_layer n_ctx d_attn) and, where logits are computed, the head's 2 x 525 M = 1.05 GFLOP.
    Attention: PaLM (Chowdhery et al. 2022, appendix B) counts 12 L H Q T per token for
    training, 3 x the forward's 4 L H Q T (L layers, H heads of size Q, T keys): at 8,192
    keys that is 4 x 32 x 32 x 128 x 8192 = 4.29 GFLOP."""
    arch = load_registry()["llama3-8b"].architecture
    assert count_parameters(arch) == 8_030_261_248
    assert projection_flops_per_token(arch) == pytest.approx(13.96e9, rel=0.002)
    assert lm_head_flops(arch) == pytest.approx(1.05e9, rel=0.002)
    assert decode_flops(arch, 8191) - decode_flops(arch, 0) == pytest.approx(4 * 32 * 32 * 128 * 8191)
    assert weight_parameters_read(arch) == 8_030_261_248 - 128_256 * 4096


def finished(sent: float, first: float, done: float, prompt: int, output: int) -> Record:
    record = Record(request_id="r", sample_id="s", scheduled=sent, sent=sent)
    record.first_token, record.done, record.input_tokens, record.output_tokens = first, done, prompt, output
    return record


def test_prefill_and_decode_mfu_and_mbu_come_from_the_phases_times():
    arch = load_registry()["llama3-8b"].architecture
    cost = ModelCost(parameters=count_parameters(arch), weight_bytes_per_parameter=2, kv_bytes_per_value=2,
                     architecture=arch)
    # one request alone: 1000-token prompt in 0.1 s, then 11 tokens at 0.02 s per step
    records = [finished(0.0, 0.1, 0.3, 1000, 11)]
    peak, bandwidth = 1e15, 3e12
    metrics = efficiency_metrics(records, cost, 0.3, peak, bandwidth)
    assert metrics["prefill_mfu"].value == pytest.approx(prefill_flops(arch, 1000) / 0.1 / peak)
    context = 1000 + 11 / 2
    assert metrics["decode_mfu"].value == pytest.approx(decode_flops(arch, context) / 0.02 / peak)
    kv = KVGeometry(32, 8, 128).bytes_per_token(2)
    step_bytes = weight_parameters_read(arch) * 2 + kv * context
    assert metrics["mbu"].value == pytest.approx(step_bytes / 0.02 / bandwidth)
    assert metrics["decode_intensity"].value == pytest.approx(decode_flops(arch, context) / step_bytes)
    assert metrics["mfu"].value == pytest.approx(request_flops(arch, 1000, 11) / 0.3 / peak)
    assert metrics["prefill_mfu"].unit == "fraction" and metrics["prefill_tflops"].unit == "TFLOP/s"
