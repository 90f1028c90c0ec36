"""Model FLOPs utilisation (seed 001's definition).

MFU = 2 × parameters × processed tokens / time / peak FLOP/s for the dtype.
``2 × parameters`` is the FLOPs of one forward pass per token (a multiply and an
add per weight); processed tokens are prompt plus generated tokens, since the
prompt's tokens go through the same weights during prefill.
"""

from __future__ import annotations

from openaiperf.metrics import Metric


def model_flops(parameters: int, tokens: int) -> float:
    return 2.0 * parameters * tokens


def mfu(parameters: int, tokens: int, seconds: float | None, peak_flops: float | None) -> Metric:
    if not seconds or not peak_flops:
        return Metric(None, "fraction", "higher")
    return Metric(model_flops(parameters, tokens) / seconds / peak_flops, "fraction", "higher")
