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
