"""What an engine computes in, stores its weights and KV cache in, and on how many
devices: the inputs MFU and MBU need beyond the model's size.

One place maps a case's dtype and its engine options (``dtype``, ``quantization``,
``kv_cache_dtype``, ``tensor_parallel_size``, ``pipeline_parallel_size``,
``data_parallel_size``), and the model's own ``quantization_config`` when its
checkpoint is quantized, to:

- the compute dtype, whose peak MFU divides by: the activation dtype (the engine
  option ``dtype`` over the case's), except for schemes that multiply in lower
  precision — fp8 W8A8 (``fp8``, ``fbgemm_fp8``, ``modelopt``, ``ptpc_fp8``) uses
  the fp8 peak, int8 W8A8 (``w8a8``, ``int8``, compressed-tensors with 8-bit integer
  activations) the int8 one; weight-only schemes (``awq``, ``gptq``,
  ``bitsandbytes``, ``int4``, ``w4a16``...) de-quantize and multiply in the
  activation dtype;
- the bytes per stored weight (int4 and 4-bit schemes 0.5, 8-bit 1) for MBU;
- the bytes per KV-cache value: ``kv_cache_dtype`` (fp8 variants 1), else the
  activation dtype's;
- the devices the engine spans (the product of the parallel sizes): the peak
  FLOP/s and the bandwidth of one device times that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from openaiperf.hardware import canonical_dtype
from openaiperf.models.architecture import local_config

#: bytes per value of the compute/activation dtypes (profile keys)
DTYPE_BYTES: dict[str, float] = {"fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1}
#: quantization methods that multiply in fp8 (weights and activations 8-bit floats)
FP8_W8A8 = frozenset({"fp8", "fbgemm_fp8", "modelopt", "ptpc_fp8", "fp8_w8a8"})
#: quantization methods (and this suite's own names) that multiply in int8
INT8_W8A8 = frozenset({"w8a8", "w8a8_int8", "int8", "smoothquant"})
#: weight-only methods -> bits per stored weight when the checkpoint does not say
WEIGHT_ONLY_BITS: dict[str, int] = {
    "awq": 4, "awq_marlin": 4, "gptq": 4, "gptq_marlin": 4, "gptq_marlin_24": 4, "marlin": 4,
    "bitsandbytes": 4, "hqq": 4, "int4": 4, "w4a16": 4, "mxfp4": 4, "modelopt_fp4": 4, "auto-round": 4,
    "w8a16": 8, "experts_int8": 8, "int8_weight_only": 8,
}
#: kv_cache_dtype values stored in one byte
FP8_KV = frozenset({"fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "fp8_ds_mla", "int8"})


@dataclass(frozen=True)
class Precision:
    """The precision and spread of what an engine runs; see the module docstring."""

    compute_dtype: str  # profile key: fp32, bf16, fp16, fp8, int8
    activation_dtype: str  # profile key
    weight_bytes_per_parameter: float
    kv_bytes_per_value: float
    devices: int
    quantization: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "notes": list(self.notes)}


def load_quantization_config(weights: str | Path | None) -> dict[str, Any] | None:
    """``quantization_config`` of ``<weights>/config.json`` when the weights are a local directory."""
    config = local_config(weights)
    if config is None:
        return None
    config = config.get("text_config", config) if "quantization_config" not in config else config
    quantization = config.get("quantization_config")
    return quantization if isinstance(quantization, dict) else None


def _positive_int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 1
    return number if number > 0 else 1


def _compressed_tensors(config: Mapping[str, Any]) -> tuple[str | None, float | None]:
    """(compute override or None, bytes per weight or None) of a compressed-tensors config."""
    for group in (config.get("config_groups") or {}).values():
        weights = (group or {}).get("weights") or {}
        activations = (group or {}).get("input_activations") or None
        bits = weights.get("num_bits")
        weight_bytes = bits / 8 if isinstance(bits, (int, float)) else None
        if activations and activations.get("num_bits") == 8:
            return ("fp8" if activations.get("type") == "float" else "int8"), weight_bytes
        return None, weight_bytes
    return None, None


def effective_precision(case_dtype: str, engine_options: Mapping[str, Any],
                        quantization_config: Mapping[str, Any] | None = None) -> Precision:
    """The precision an engine computes and stores in, from the case's dtype, the
    engine's options and the checkpoint's ``quantization_config``."""
    notes: list[str] = []
    option_dtype = engine_options.get("dtype")
    dtype = option_dtype if option_dtype and str(option_dtype).lower() != "auto" else case_dtype
    activation = canonical_dtype(str(dtype)) or "bf16"
    if canonical_dtype(str(dtype)) is None:
        notes.append(f"dtype {dtype!r} not recognised: bf16 assumed")
    compute = activation
    weight_bytes = DTYPE_BYTES[activation]
    quant_config = dict(quantization_config or {})
    method = engine_options.get("quantization") or quant_config.get("quant_method")
    method = str(method).lower() if method else None
    if method in FP8_W8A8:
        compute, weight_bytes = "fp8", 1.0
    elif method in INT8_W8A8:
        compute, weight_bytes = "int8", 1.0
    elif method == "compressed-tensors":
        override, stored = _compressed_tensors(quant_config)
        compute = override or activation
        weight_bytes = stored if stored is not None else weight_bytes
        if override is None and stored is None:
            notes.append("compressed-tensors without a readable scheme: weights assumed in the activation dtype")
    elif method in WEIGHT_ONLY_BITS:
        bits = quant_config.get("bits") or quant_config.get("w_bit")
        if method == "bitsandbytes" and quant_config.get("load_in_8bit"):
            bits = 8
        weight_bytes = (bits if isinstance(bits, (int, float)) else WEIGHT_ONLY_BITS[method]) / 8
    elif method is not None:
        notes.append(f"quantization {method!r} not known here: compute and weights assumed in {activation}")
    kv_option = str(engine_options.get("kv_cache_dtype") or "auto").lower()
    if kv_option in FP8_KV:
        kv_bytes = 1.0
    elif kv_option != "auto" and canonical_dtype(kv_option) is not None:
        kv_bytes = DTYPE_BYTES[canonical_dtype(kv_option)]  # type: ignore[index]
    else:
        kv_bytes = DTYPE_BYTES[activation]
    devices = 1
    for key in ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size"):
        devices *= _positive_int(engine_options.get(key) or 1)
    return Precision(compute_dtype=compute, activation_dtype=activation, weight_bytes_per_parameter=weight_bytes,
                     kv_bytes_per_value=kv_bytes, devices=devices, quantization=method, notes=tuple(notes))
