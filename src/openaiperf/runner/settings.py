"""A run's settings that every case reads: one typed model, each field its command-line
flag (:func:`openaiperf.settings.setting`), the same from pytest and ``ob run``."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, field_validator

from openaiperf.errors import ConfigError
from openaiperf.monitor.stalls import STALL_LIMIT_MS, STALL_RETRIES
from openaiperf.monitor.util import parse_interval
from openaiperf.settings import Settings, setting

#: what --dtype accepts: the model registry's dtypes
MODEL_DTYPES = ("float32", "bfloat16", "float16")


def new_salt() -> str:
    """A run's salt: 8 random hex digits (``--salt`` gives one to reproduce a run's prompts)."""
    import secrets

    return secrets.token_hex(4)


def parse_stall_limit(text: str) -> float | None:
    """``--stall-limit``: ``"20ms"`` -> 20.0 (ms); ``"off"`` -> None."""
    if str(text).strip().lower() == "off":
        return None
    return 1000 * parse_interval(text, source="--stall-limit (a duration like 20ms, or off)")


def _stall_limit(value: Any) -> Any:
    return parse_stall_limit(value) if isinstance(value, str) else value


def _interval_s(value: Any) -> Any:
    return parse_interval(value, source="--monitor-interval") if isinstance(value, str) else value


class RunSettings(Settings):
    """How each case runs: samples, rounds, warmup, the model's dtype and weights, the
    salt, the validity limits, where runs are written, and what is measured beside."""

    group = "run"

    max_samples: int | None = setting(flag="--max-samples", metavar="N", ge=1, help="samples per case (default: all)")
    repeats: int = setting(1, flag="--repeats", metavar="N", ge=1,
                           help="measured rounds per case (pytest-benchmark rounds)")
    subset_seed: int | None = setting(flag="--subset-seed", metavar="SEED", ge=0,
                                      help="pick --max-samples samples at random with this seed (default: the first N)")
    warmup_samples: int | None = setting(flag="--warmup-samples", metavar="N", ge=0,
                                         help="warmup requests before measuring (default: the task's warmup.samples)")
    dtype: str | None = setting(flag="--dtype",
                                help="model dtype (default: hardware profile's on CPU, else the model's)")
    weights: Literal["real", "random"] | None = setting(
        flag="--weights",
        help="real: load each model's checkpoint; random: build each model from its registry architecture with "
             "random weights on the device, no download (performance only: tasks that judge quality skip); default: "
             "each model's own setting (weights: in the model registry)")
    #: the run's salt: every prompt's salt derives from it, the case, the round and the attempt
    salt: str = setting(
        flag="--salt", metavar="HEX", default_factory=new_salt,
        help="the run's salt (hex digits): every prompt's salt derives from it, the case, the round and the attempt "
             "(default: 8 random hex digits per run, recorded in results.json and in each record); give a run's "
             "recorded salt to send exactly its prompts again")
    #: a cold workload (no sharing declared) whose server-side prefix-cache hit rate exceeds this is INVALID
    max_cold_hit_rate: float = setting(
        0.05, flag="--max-cold-hit-rate", metavar="FRACTION", ge=0, le=1,
        help="a workload that declares no prefix sharing is INVALID when the server's own prefix-cache hit rate "
             "exceeds this (where the server counts one)")
    dataset_source: str | None = setting(flag="--dataset-source", metavar="PATH|hf:ID",
                                         help="load the task's eval dataset from here (e.g. the real XSum CSV)")
    max_error_rate: float = setting(0.0, flag="--max-error-rate", metavar="FRACTION", ge=0, le=1,
                                    help="fail a case whose failed-request fraction exceeds this")
    report_dir: str = setting("reports", flag="--report-dir", metavar="DIR", recorded=False,
                              help="where run folders are written")
    monitor_interval_s: Annotated[float, BeforeValidator(_interval_s)] = setting(
        "100ms", flag="--monitor-interval", group="measurement", text=True, metavar="DURATION",
        help="resource monitor sampling interval, e.g. 100ms or 1s")
    monitor: bool = setting(True, flag="--no-monitor", group="measurement", negate=True,
                            help="do not sample CPU/GPU/memory during cases")
    #: a round whose client stalled this long (ms; and a tenth of its latencies) is measured again (None: never)
    stall_limit_ms: Annotated[float | None, BeforeValidator(_stall_limit)] = setting(
        f"{STALL_LIMIT_MS:g}ms", flag="--stall-limit", group="measurement", text=True, metavar="DURATION|off",
        help="measure a round again when the client stalled this long in it (a machine that stopped the client, not "
             "the engine) and for a tenth of the round's median TTFT or decoding time, e.g. 50ms; 'off' never does")
    #: how many times a round is measured again at most
    stall_retries: int = setting(STALL_RETRIES, flag="--stall-retries", group="measurement", metavar="N", ge=0,
                                 help="how many times a stalled round is measured again at most")
    #: nsys/ncu wrap the whole run
    profile: Literal["torch", "nsys", "ncu"] | None = setting(
        flag="--profile", group="measurement",
        help="torch: PyTorch profiler trace + top-ops table per case; nsys/ncu: re-run under Nsight")

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str | None) -> str | None:
        if value is not None and value not in MODEL_DTYPES:
            raise ConfigError(f"unknown dtype {value!r}; known: {', '.join(MODEL_DTYPES)}", source="--dtype")
        return value

    @field_validator("salt")
    @classmethod
    def _salt(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-fA-F]{1,64}", value):
            raise ConfigError(f"{value!r} is not a salt: hex digits expected (e.g. 3f9a2c1b)", source="--salt")
        return value.lower()
