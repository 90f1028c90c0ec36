"""Efficiency against the hardware's limits: MFU (compute), MBU (memory bandwidth), energy.

MFU, model FLOPs utilisation (the usual serving definition, from the model's parameter count):

MFU = 2 × parameters × processed tokens / time / peak FLOP/s.
``2 × parameters`` is the FLOPs of one forward pass per token (a multiply and an
add per weight); processed tokens are prompt plus generated tokens, since the
prompt's tokens go through the same weights during prefill. The peak is that of
every device the engine spans, in the dtype it computes in, and MBU's bytes are
the stored precision's (:mod:`openaiperf.metrics.precision` works both out).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openaiperf.metrics import Better, Metric


def model_flops(parameters: int, tokens: int) -> float:
    return 2.0 * parameters * tokens


def mfu(parameters: int, tokens: int, seconds: float | None, peak_flops: float | None) -> Metric:
    if not seconds or not peak_flops:
        return Metric(None, "fraction", Better.HIGHER)
    return Metric(model_flops(parameters, tokens) / seconds / peak_flops, "fraction", Better.HIGHER)


# -- MBU (model bandwidth utilisation) --------------------------------------------------
#
# A decode step reads every weight once and, for each sequence in the batch, the KV
# cache of its context so far. MBU = bytes read per step / step time / peak bandwidth.
# Step time is the mean TPOT; the batch is the mean number of sequences decoding at
# once (sum of the records' decode times over the wall time); the context is the mean
# prompt length plus half the mean output (the average over the decode).


@dataclass(frozen=True)
class KVGeometry:
    """What sizes the KV cache: per token it holds layers × 2 (K and V) × kv_heads × head_dim values."""

    layers: int
    kv_heads: int
    head_dim: int

    def bytes_per_token(self, dtype_bytes: float) -> float:
        return self.layers * 2 * self.kv_heads * self.head_dim * dtype_bytes


def kv_geometry_from_config(config: dict[str, Any]) -> KVGeometry | None:
    """From a Hugging Face ``config.json`` (llama/qwen/mistral-style keys), or None."""
    config = config.get("text_config", config)
    layers = config.get("num_hidden_layers") or config.get("n_layer") or config.get("num_layers")
    heads = config.get("num_attention_heads") or config.get("n_head")
    hidden = config.get("hidden_size") or config.get("n_embd")
    if not layers or not heads:
        return None
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or (hidden // heads if hidden else None)
    if not head_dim:
        return None
    return KVGeometry(int(layers), int(kv_heads), int(head_dim))


def load_kv_geometry(weights: str | Path | None) -> KVGeometry | None:
    """The geometry from ``<weights>/config.json`` when the weights are a local directory."""
    if not weights:
        return None
    path = Path(weights) / "config.json"
    if not path.is_file():
        return None
    try:
        return kv_geometry_from_config(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def decode_bytes_per_step(weight_bytes: float, kv: KVGeometry | None, dtype_bytes: float, batch: float,
                          context_tokens: float) -> float:
    kv_bytes = kv.bytes_per_token(dtype_bytes) * context_tokens * batch if kv is not None else 0.0
    return weight_bytes + kv_bytes


def decode_stats(records: Sequence[Any]) -> dict[str, float] | None:
    """Mean step time (s), mean decode batch, mean decode context (tokens) of finished records."""
    decoding = [r for r in records if getattr(r, "ok", True) and r.first_token is not None and r.done is not None
                and (r.output_tokens or 0) > 1]
    if not decoding:
        return None
    decode_times = [r.done - r.first_token for r in decoding]
    steps = [t / (r.output_tokens - 1) for t, r in zip(decode_times, decoding)]
    start = min(r.first_token for r in decoding)
    end = max(r.done for r in decoding)
    wall = end - start
    batch = sum(decode_times) / wall if wall > 0 else 1.0
    context = sum((r.input_tokens or 0) + (r.output_tokens or 0) / 2 for r in decoding) / len(decoding)
    return {"step_s": sum(steps) / len(steps), "batch": max(batch, 1.0), "context_tokens": context}


def mbu(records: Sequence[Any], weight_bytes: float, kv: KVGeometry | None, dtype_bytes: float,
        bandwidth_bytes_per_s: float | None) -> dict[str, Metric]:
    """``mbu`` (fraction of the profile's bandwidth) and ``decode_bandwidth`` (GB/s reached)."""
    stats = decode_stats(records)
    if stats is None or stats["step_s"] <= 0:
        return {"mbu": Metric(None, "fraction", Better.HIGHER), "decode_bandwidth": Metric(None, "GB/s", Better.HIGHER)}
    per_step = decode_bytes_per_step(weight_bytes, kv, dtype_bytes, stats["batch"], stats["context_tokens"])
    achieved = per_step / stats["step_s"]
    return {
        "mbu": Metric(achieved / bandwidth_bytes_per_s if bandwidth_bytes_per_s else None, "fraction", Better.HIGHER),
        "decode_bandwidth": Metric(achieved / 1e9, "GB/s", Better.HIGHER),
    }


# -- energy ---------------------------------------------------------------------------
def energy_metrics(resources: dict[str, Any], output_tokens: float, seconds: float | None) -> dict[str, Metric]:
    """From the monitor's energy (J, all devices, all rounds): J per output token and
    output tokens/s per W (= tokens per J). None where the monitor had no energy reading."""
    energy: Any = resources.get("energy_j")
    known = isinstance(energy, (int, float)) and energy > 0
    return {
        "energy": Metric(energy if known else None, "J", Better.LOWER),
        "energy_per_output_token": Metric(energy / output_tokens if known and output_tokens else None,
                                          "J/token", Better.LOWER),
        "output_tokens_per_s_per_w": Metric(output_tokens / energy if known and output_tokens else None,
                                            "tokens/s/W", Better.HIGHER),
        "mean_power": Metric(energy / seconds if known and seconds else None, "W", Better.LOWER),
    }
