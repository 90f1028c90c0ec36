"""vLLM's settings, declared once: the ``vllm`` engine (in-process) and the ``openai``
engine's managed server (``python -m vllm.entrypoints.openai.api_server``) both take
:class:`VLLMServerArgs`, so a flag has one name, one bound and one default wherever
vLLM runs. Defaults that depend on the device (``None`` in the declaration) are
settled by :meth:`VLLMServerArgs.resolved`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from typing_extensions import Self

from openaiperf.registry import Options

#: vLLM-CPU reserves most of the RAM for its KV cache at its own default and refuses to start on a
#: small machine; on a GPU, vLLM's own default (what a production server runs with).
CPU_MEMORY_UTILIZATION = 0.5
GPU_MEMORY_UTILIZATION = 0.9


class VLLMServerArgs(Options):
    """vLLM's engine settings (matrix ``engine_options.vllm`` / ``engine_options.openai``,
    ``--engine-option vllm:KEY=VALUE``)."""

    #: default: the case's dtype
    dtype: str | None = None
    max_model_len: int = Field(default=2048, gt=0)
    tensor_parallel_size: int = Field(default=1, ge=1)
    #: default: 0.5 on CPU, 0.9 on GPU
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    #: default: true on CPU, false on GPU. On a GPU, CUDA graphs are what a production server runs
    #: (eager mode understates decoding throughput); on a CPU there are no CUDA graphs to capture and
    #: eager mode skips vLLM's compilation at start-up.
    enforce_eager: bool | None = None
    quantization: str | None = None
    kv_cache_dtype: str = "auto"
    #: off: prompts repeat across warmup, rounds and cases, and with the cache on a benchmark measures
    #: cache hits; turn it on to measure a cached workload on purpose
    enable_prefix_caching: bool = False
    #: vLLM's model runner: pooling serves /v1/embeddings and /v1/rerank instead of generation
    #: (default: vLLM's own choice from the architecture)
    runner: Literal["generate", "pooling"] | None = None
    #: how a generative checkpoint is adapted to pooling: embed (last-token embeddings) or classify
    #: (a one-label score head: a reranker); default: vLLM's own choice
    convert: Literal["embed", "classify"] | None = None
    #: values that replace the checkpoint's config.json ones, e.g. ``{num_labels: 1}``: a one-label
    #: score head, which vLLM serves at /v1/rerank as a cross-encoder (with ``convert: classify``)
    hf_overrides: dict[str, Any] | None = None

    def resolved(self, *, cpu: bool, dtype: str | None = None) -> Self:
        """A copy with the device's defaults filled in and ``dtype`` (the case's) where none is set."""
        return self.model_copy(update={
            "dtype": self.dtype or dtype,
            "gpu_memory_utilization": self.gpu_memory_utilization
            if self.gpu_memory_utilization is not None else (CPU_MEMORY_UTILIZATION if cpu else GPU_MEMORY_UTILIZATION),
            "enforce_eager": self.enforce_eager if self.enforce_eager is not None else cpu,
        })

    def engine_kwargs(self) -> dict[str, Any]:
        """vLLM's keyword arguments (``AsyncEngineArgs``, ``LLM``; the managed server's flags):
        only vLLM's settings, and ``quantization``, ``dtype``, ``runner``, ``convert``, ``hf_overrides``
        only when set."""
        kwargs: dict[str, Any] = self.model_dump(include=set(VLLMServerArgs.model_fields))
        for key in ("quantization", "dtype", "runner", "convert", "hf_overrides"):
            if kwargs[key] is None:
                del kwargs[key]
        return kwargs
