"""Engine contexts and endpoint clients for tests and scripts, built of the real typed
parts (a hardware profile as ``--hw`` loads it, a model spec of the registry), never
of stand-ins that only look like them.

:func:`engine_context` is the :class:`~openaiperf.engines.EngineContext` of an engine
made outside a benchmark session; :func:`endpoint_engine` an ``openai`` engine
prepared against a server's URL (the scripted server's, mostly), which the load
generator's capacity check, the conformance and fault tests and the measurement
scripts all need.
"""

from __future__ import annotations

from typing import Any

from openaiperf.engines import EngineContext
from openaiperf.engines.openai import OpenAIEngine
from openaiperf.hardware import HardwareProfile, load_profile
from openaiperf.models import ModelSpec, load_registry
from openaiperf.redact import RedactedDict


def engine_context(options: dict[str, Any] | None = None, *, model: ModelSpec | str | None = None,
                   weights: str = "", dtype: str = "float32",
                   hardware: HardwareProfile | str | None = "cpu") -> EngineContext:
    """An engine's context: ``model`` a spec or the name of one in the model registry (None:
    the engine needs none, e.g. it talks to a server that names its model), ``hardware`` a
    profile or its name (the CPU's by default)."""
    return EngineContext(model=load_registry()[model] if isinstance(model, str) else model, weights=weights,
                         hardware=load_profile(hardware) if isinstance(hardware, str) else hardware, dtype=dtype,
                         options=RedactedDict(options or {}))


def endpoint_engine(url: str, *, served_model: str | None = "stub", weights: str = "(none)", dtype: str = "float32",
                    prepare: bool = True, **options: Any) -> OpenAIEngine:
    """An ``openai`` engine sending to ``url`` (its model ``served_model``; None: the one the
    endpoint lists), no client tokenizer unless ``client_tokenizer=True`` and ``weights``
    names one; prepared unless ``prepare`` is False (then call :meth:`prepare` yourself)."""
    chosen = {"endpoint": url, "client_tokenizer": False, **options}
    if served_model is not None:
        chosen["served_model"] = served_model
    engine = OpenAIEngine(engine_context(chosen, weights=weights, dtype=dtype))
    if prepare:
        engine.prepare()
    return engine
