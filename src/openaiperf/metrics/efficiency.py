"""Efficiency against the hardware's limits: MFU (compute), MBU (memory bandwidth), energy.

FLOPs and bytes come from the model's architecture (:mod:`openaiperf.models.architecture`:
the q/k/v/o projections, GQA-aware, and the gated MLP per token; attention over the
real context, the causal triangle in prefill; the LM head only where logits are
computed; no FLOPs for the embedding lookup), see :class:`ModelCost`. A model without
an architecture falls back to 2 × parameters per processed token (noted).

- ``mfu``: every measured request's FLOPs (prefill and decode) / the rounds' time / peak.
- ``prefill_mfu``: the prompts' prefill FLOPs / their time to the first token (from the
  send; queueing and the network count, so it is a lower bound under load) / peak.
- ``decode_mfu``, ``mbu``: one decode step of the mean batch (sequences decoding at once)
  at the mean context, over the mean step time (TPOT): FLOPs / peak, and bytes (the
  weights once per step plus each sequence's KV cache) / bandwidth.
- ``prefill_intensity`` / ``decode_intensity`` (FLOP/byte) and ``prefill_tflops`` /
  ``decode_tflops`` (achieved) place the case on the roofline.

The peak is that of every device the engine spans, in the dtype it computes in, and
the bytes are the stored precision's (:mod:`openaiperf.metrics.precision` works both out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.models.architecture import (
    Architecture,
    decode_flops,
    kv_values_per_token,
    local_config,
    prefill_flops,
    request_flops,
    weight_parameters_read,
)
from openaiperf.records import Record
from openaiperf.result import CaseResult, MetricValue


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
    config = local_config(weights)
    if config is None:
        return None
    try:
        return kv_geometry_from_config(config)
    except ValueError:  # a number that is not one
        return None


def decode_bytes_per_step(weight_bytes: float, kv: KVGeometry | None, dtype_bytes: float, batch: float,
                          context_tokens: float) -> float:
    kv_bytes = kv.bytes_per_token(dtype_bytes) * context_tokens * batch if kv is not None else 0.0
    return weight_bytes + kv_bytes


def decode_stats(records: Sequence[Record]) -> dict[str, float] | None:
    """Mean step time (s), mean decode batch, mean decode context (tokens) of finished records."""
    # (first token, done, output tokens, input tokens) of each request that decoded
    decoding = [(first, done, output, r.input_tokens or 0) for r in records
                if r.ok and (first := r.first_token) is not None and (done := r.done) is not None
                and (output := r.output_tokens or 0) > 1]
    if not decoding:
        return None
    decode_times = [done - first for first, done, _, _ in decoding]
    steps = [t / (output - 1) for t, (_, _, output, _) in zip(decode_times, decoding)]
    start = min(first for first, _, _, _ in decoding)
    end = max(done for _, done, _, _ in decoding)
    wall = end - start
    batch = sum(decode_times) / wall if wall > 0 else 1.0
    context = sum(prompt + output / 2 for _, _, output, prompt in decoding) / len(decoding)
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


# -- exact FLOPs and bytes: prefill, decode, the whole case ----------------------------------
@dataclass(frozen=True)
class ModelCost:
    """What a model's forward passes cost: FLOPs from its architecture (else 2 ×
    parameters per token) and bytes in its stored precision."""

    parameters: int
    weight_bytes_per_parameter: float
    kv_bytes_per_value: float
    architecture: Architecture | None = None
    #: the KV-cache shape from the checkpoint's config.json, over the architecture's
    kv: KVGeometry | None = None

    @property
    def exact(self) -> bool:
        return self.architecture is not None

    def prefill_flops(self, prompt_tokens: int) -> float:
        if self.architecture is None:
            return 2.0 * self.parameters * prompt_tokens
        return prefill_flops(self.architecture, prompt_tokens)

    def decode_flops(self, context_tokens: float) -> float:
        """One sequence's decode step after ``context_tokens`` tokens."""
        if self.architecture is None:
            return 2.0 * self.parameters
        return decode_flops(self.architecture, context_tokens)

    def request_flops(self, prompt_tokens: int, output_tokens: int) -> float:
        if self.architecture is None:
            return 2.0 * self.parameters * (prompt_tokens + output_tokens)
        return request_flops(self.architecture, prompt_tokens, output_tokens)

    @property
    def weight_bytes(self) -> float:
        """Weights a forward step reads (once, whatever its batch)."""
        read = weight_parameters_read(self.architecture) if self.architecture is not None else self.parameters
        return read * self.weight_bytes_per_parameter

    @property
    def kv_bytes_per_token(self) -> float:
        if self.kv is not None:
            return self.kv.bytes_per_token(self.kv_bytes_per_value)
        if self.architecture is not None:
            return kv_values_per_token(self.architecture) * self.kv_bytes_per_value
        return 0.0


def prefill_time_s(record: Any) -> float | None:
    """From the request's send (else its scheduled time) to its first token."""
    start = record.sent if record.sent is not None else record.scheduled
    if record.first_token is None or start is None:
        return None
    return float(record.first_token - start)


def efficiency_metrics(records: Sequence[Record], cost: ModelCost, seconds: float | None, peak_flops: float | None,
                       bandwidth_bytes_per_s: float | None) -> MetricSet:
    """MFU of the whole case, of its prefills and of its decode steps, MBU, and the
    roofline coordinates of prefill and decode (see the module)."""
    ok = [r for r in records if r.ok]

    def fraction(value: float | None, peak: float | None) -> Metric:
        return Metric(value / peak if value is not None and peak else None, "fraction", Better.HIGHER)

    def tflops(value: float | None) -> Metric:
        return Metric(value / 1e12 if value is not None else None, "TFLOP/s", Better.HIGHER)

    def intensity(flops: float, bytes_: float) -> Metric:
        return Metric(flops / bytes_ if bytes_ > 0 and flops > 0 else None, "FLOP/byte", Better.NONE)

    total = sum(cost.request_flops(r.input_tokens or 0, r.output_tokens or 0) for r in ok)
    achieved = total / seconds if seconds and total else None
    out: MetricSet = {"mfu": fraction(achieved, peak_flops), "achieved_tflops": tflops(achieved),
                      "model_flops": Metric(total or None, "FLOP", Better.NONE)}
    # prefill: each prompt's forward pass over its time to the first token
    timed = [(prompt, t) for r in ok
             if (prompt := r.input_tokens or 0) > 0 and (t := prefill_time_s(r)) is not None and t > 0]
    flops = sum(cost.prefill_flops(prompt) for prompt, _ in timed)
    time_s = sum(t for _, t in timed)
    prefill_rate = flops / time_s if timed and time_s > 0 else None
    bytes_ = sum(cost.weight_bytes + cost.kv_bytes_per_token * prompt for prompt, _ in timed)
    out |= {"prefill_mfu": fraction(prefill_rate, peak_flops), "prefill_tflops": tflops(prefill_rate),
            "prefill_intensity": intensity(flops, bytes_)}
    # decode: one step of the mean batch at the mean context, over the mean step time
    stats = decode_stats(ok)
    if stats is None or stats["step_s"] <= 0:
        none = {"decode_mfu": fraction(None, None), "decode_tflops": tflops(None),
                "decode_intensity": intensity(0, 0), "mbu": Metric(None, "fraction", Better.HIGHER),
                "decode_bandwidth": Metric(None, "GB/s", Better.HIGHER)}
        return out | none
    batch, context, step_s = stats["batch"], stats["context_tokens"], stats["step_s"]
    step_flops = batch * cost.decode_flops(context)
    step_bytes = cost.weight_bytes + batch * cost.kv_bytes_per_token * context
    decode_rate, bandwidth = step_flops / step_s, step_bytes / step_s
    return out | {
        "decode_mfu": fraction(decode_rate, peak_flops), "decode_tflops": tflops(decode_rate),
        "decode_intensity": intensity(step_flops, step_bytes),
        "mbu": Metric(bandwidth / bandwidth_bytes_per_s if bandwidth_bytes_per_s else None, "fraction",
                      Better.HIGHER),
        "decode_bandwidth": Metric(bandwidth / 1e9, "GB/s", Better.HIGHER),
    }


#: the utilisation metrics that cannot exceed 1 (above it, the FLOPs, the bytes or the peak are wrong)
UTILISATION_METRICS = ("mfu", "prefill_mfu", "decode_mfu", "mbu")


#: achieved figure -> (the utilisation against the measured calibration, the calibration's figure, its scale)
CALIBRATED = {"achieved_tflops": ("mfu_calibrated", "gemm_tflops", 1.0),
              "prefill_tflops": ("prefill_mfu_calibrated", "gemm_tflops", 1.0),
              "decode_tflops": ("decode_mfu_calibrated", "gemm_tflops", 1.0),
              "decode_bandwidth": ("mbu_calibrated", "copy_gbs", 1.0)}


def calibrated_utilisation(cases: Sequence[CaseResult]) -> None:
    """Each case's achieved FLOP/s and decode bandwidth as fractions of what the run's
    calibration measured (its GEMM, its memory copy), set in the cases' metrics: beside
    the datasheet utilisation, or alone where no upper-bound peak is known. A
    calibration is no upper bound, so these may exceed 1 (a kernel faster than the
    calibration's GEMM) and are not judged."""
    calibration = next((c.calibration for c in cases if c.calibration), None)
    if not calibration:
        return

    for case in cases:
        for achieved, (name, reference_key, scale) in CALIBRATED.items():
            metric = case.metrics.get(achieved)
            reference = calibration.get(reference_key)
            if metric is None or metric.value is None or not reference:
                continue
            case.metrics[name] = MetricValue(value=metric.value * scale / reference, unit="fraction",
                                             better=Better.HIGHER)


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
