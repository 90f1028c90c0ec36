"""A model's architecture: the numbers of its public ``config.json``.

The registry holds them for every model it knows, so that

- the parameter count (MFU's ``2 × parameters``, what fits on a device) is
  worked out from the architecture rather than copied by hand
  (:func:`count_parameters`: embeddings, every layer's attention and MLP
  projections and norms, the final norm, the output head unless tied);
- a model can be built with random weights from its configuration alone
  (``--weights random``: :func:`write_config_dir` writes a ``config.json`` an
  engine builds the model from, and no weights or tokenizer files are needed).
  Speed does not depend on the weights' values: a random-weights Llama 3 8B
  runs the same kernels on the same shapes as the real one.

The families covered are the decoder-only ones with rotary embeddings,
RMSNorm and a gated (SwiGLU) MLP that transformers names ``llama``, ``qwen2``
and ``mistral``: the same tensors, with q/k/v biases for ``qwen2``
(``attention_bias``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from openaiperf.specs import Spec

#: model_type -> the transformers class that builds it
ARCHITECTURE_CLASSES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "mistral": "MistralForCausalLM"}


class Architecture(Spec):
    """The shape of a decoder-only transformer, as its ``config.json`` gives it."""

    model_type: Literal["llama", "qwen2", "mistral"]
    num_hidden_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    num_key_value_heads: int = Field(gt=0)
    #: per-head size when it is not hidden_size / num_attention_heads
    head_dim: int | None = Field(default=None, gt=0)
    intermediate_size: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    max_position_embeddings: int = Field(gt=0)
    rope_theta: float = Field(default=10000.0, gt=0)
    #: e.g. Llama 3.1's {rope_type: llama3, factor: 8.0, ...}; None: plain RoPE
    rope_scaling: dict[str, Any] | None = None
    rms_norm_eps: float = Field(default=1e-5, gt=0)
    #: the output head shares the embedding matrix
    tie_word_embeddings: bool = False
    #: q/k/v projections carry a bias (qwen2 does)
    attention_bias: bool = False
    mlp_bias: bool = False
    hidden_act: str = "silu"
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None

    @model_validator(mode="after")
    def _check(self) -> Architecture:
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads})")
        if self.head_dim is None and self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) is not a multiple of num_attention_heads "
                             f"({self.num_attention_heads}): give head_dim")
        return self

    @property
    def head_size(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def special_token_ids(self) -> set[int]:
        """bos and eos ids (what random prompts leave out)."""
        eos = self.eos_token_id if isinstance(self.eos_token_id, list) else [self.eos_token_id]
        return {t for t in [self.bos_token_id, *eos] if t is not None}

    def hf_config(self, dtype: str = "bfloat16") -> dict[str, Any]:
        """The ``config.json`` transformers and vLLM build the model from."""
        config: dict[str, Any] = {
            "architectures": [ARCHITECTURE_CLASSES[self.model_type]],
            **self.model_dump(exclude_none=True),
            "torch_dtype": dtype, "dtype": dtype,
            "initializer_range": 0.02, "use_cache": True, "attention_dropout": 0.0,
        }
        config["rope_scaling"] = self.rope_scaling
        if self.model_type == "qwen2":
            # Qwen2 has no attention_bias switch: its q/k/v biases are always there.
            config.pop("attention_bias", None)
            config.pop("mlp_bias", None)
            config.update(use_sliding_window=False, sliding_window=None)
        if self.head_dim is None:
            config["head_dim"] = self.head_size
        return config

    def fingerprint(self) -> str:
        """A short hash of the architecture (what a random-weights model's identity is)."""
        text = json.dumps(self.model_dump(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def count_parameters(arch: Architecture) -> int:
    """The exact parameter count of the architecture: embeddings; per layer the q, k,
    v, o projections (+ q/k/v biases), the gated MLP's gate, up and down projections
    (+ biases) and two RMSNorm weights; the final norm; the output head unless tied."""
    hidden, heads, kv_heads, head = arch.hidden_size, arch.num_attention_heads, arch.num_key_value_heads, arch.head_size
    q_out, kv_out = heads * head, kv_heads * head
    qkv_bias = arch.model_type == "qwen2" or arch.attention_bias
    attention = hidden * q_out + 2 * hidden * kv_out + q_out * hidden
    if qkv_bias:
        attention += q_out + 2 * kv_out
    if arch.attention_bias and arch.model_type != "qwen2":
        attention += hidden  # llama's attention_bias puts a bias on o_proj too
    mlp = 3 * hidden * arch.intermediate_size
    if arch.mlp_bias:
        mlp += 2 * arch.intermediate_size + hidden
    layer = attention + mlp + 2 * hidden
    embeddings = arch.vocab_size * hidden
    head_params = 0 if arch.tie_word_embeddings else arch.vocab_size * hidden
    return embeddings + arch.num_hidden_layers * layer + hidden + head_params


def local_config(weights: str | Path | None) -> dict[str, Any] | None:
    """``<weights>/config.json`` when the weights are a local directory holding one (None
    otherwise, or when it cannot be read)."""
    if not weights:
        return None
    path = Path(weights) / "config.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def write_config_dir(directory: Path, arch: Architecture, dtype: str) -> Path:
    """A model folder holding only ``config.json`` (and ``generation_config.json``):
    what transformers' ``from_config`` and vLLM's ``load_format="dummy"`` build a
    random-weights model from. Written atomically; reused when already there."""
    config = arch.hf_config(dtype)
    generation = {"bos_token_id": arch.bos_token_id, "eos_token_id": arch.eos_token_id, "do_sample": False}
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in (("config.json", config), ("generation_config.json", generation)):
        text = json.dumps({k: v for k, v in content.items() if v is not None or k == "rope_scaling"}, indent=2)
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            staging = path.with_name(path.name + ".tmp")
            staging.write_text(text, encoding="utf-8")
            staging.replace(path)
    return directory


# -- FLOPs and bytes of a forward pass ------------------------------------------------------
#
# Counted as a matrix multiply counts them (2 FLOPs per multiply-add; torch's FlopCounterMode
# counts the same), per token and per layer:
#
#   projections  2 × hidden × (H × d  +  2 × KV × d  +  H × d)   q, k, v (GQA: KV heads), o
#   MLP          2 × 3 × hidden × intermediate                    gate, up, down
#   attention    4 × H × d × keys                                 scores (q·k) and values (p·v)
#
# where ``keys`` is the context the token attends to, itself included: token p of a prompt
# (1-based) attends to p keys (prefill computes the causal triangle, as flash attention does,
# not the square), a generated token after c tokens to c + 1. The LM head (2 × hidden × vocab)
# counts only where logits are computed: the prompt's last token and each generated token.
# Embeddings are a lookup: no FLOPs. Norms, rotary embeddings, activations and biases are
# element-wise (a few FLOPs per value against thousands per weight) and left out.


def projection_flops_per_token(arch: Architecture) -> int:
    """Every layer's q/k/v/o projections and gated MLP, per token."""
    hidden, head = arch.hidden_size, arch.head_size
    q_out, kv_out = arch.num_attention_heads * head, arch.num_key_value_heads * head
    per_layer = 2 * hidden * (2 * q_out + 2 * kv_out) + 2 * 3 * hidden * arch.intermediate_size
    return arch.num_hidden_layers * per_layer


def attention_flops_per_key(arch: Architecture) -> int:
    """Every layer's attention scores and weighted values, per query token and key."""
    return 4 * arch.num_hidden_layers * arch.num_attention_heads * arch.head_size


def lm_head_flops(arch: Architecture) -> int:
    return 2 * arch.hidden_size * arch.vocab_size


def prefill_flops(arch: Architecture, prompt_tokens: int) -> float:
    """A prompt's forward pass: every token through every layer, attention over the
    causal triangle (n (n + 1) / 2 query-key pairs), logits for the last token only."""
    n = max(int(prompt_tokens), 0)
    if n == 0:
        return 0.0
    return float(projection_flops_per_token(arch) * n + attention_flops_per_key(arch) * n * (n + 1) // 2
                 + lm_head_flops(arch))


def decode_flops(arch: Architecture, context_tokens: float) -> float:
    """One generated token after ``context_tokens`` tokens (it attends to those and itself), with its logits."""
    return float(projection_flops_per_token(arch) + attention_flops_per_key(arch) * (context_tokens + 1)
                 + lm_head_flops(arch))


def decode_phase_flops(arch: Architecture, prompt_tokens: int, output_tokens: int) -> float:
    """The decode steps of a request: the first output token comes from the prefill's
    logits; each later one is a step over the token before it, at contexts prompt,
    prompt + 1, ..., prompt + output - 2."""
    steps = max(int(output_tokens) - 1, 0)
    if steps == 0:
        return 0.0
    keys = steps * (prompt_tokens + 1) + steps * (steps - 1) / 2  # Σ (prompt + i + 1), i < steps
    return float((projection_flops_per_token(arch) + lm_head_flops(arch)) * steps
                 + attention_flops_per_key(arch) * keys)


def request_flops(arch: Architecture, prompt_tokens: int, output_tokens: int) -> float:
    """A whole request: its prefill and its decode steps."""
    return prefill_flops(arch, prompt_tokens) + decode_phase_flops(arch, prompt_tokens, output_tokens)


def weight_parameters_read(arch: Architecture) -> int:
    """The parameters a forward step reads in full: all but an untied embedding table,
    of which a step reads only its tokens' rows (the tied table is read whole, as the
    LM head)."""
    total = count_parameters(arch)
    return total if arch.tie_word_embeddings else total - arch.vocab_size * arch.hidden_size


def kv_values_per_token(arch: Architecture) -> int:
    """K and V values the cache holds per token: layers × 2 × KV heads × head size."""
    return arch.num_hidden_layers * 2 * arch.num_key_value_heads * arch.head_size
