"""Engines: what runs the model.

An engine implements :class:`Engine` (seed 000's BackendInterface: prepare, run,
stream, teardown). Built-in engines are listed in :data:`BUILTIN_ENGINES` as
``module:Class`` strings and imported only when used, so a missing optional
dependency (vLLM, say) affects only the cases that need it. Third-party engines
register through the ``openaiperf.engines`` entry-point group.

Adding an engine: write one module with a class implementing :class:`Engine`
and add one line to :data:`BUILTIN_ENGINES` (or an entry point).

The protocol is public: third-party engines implement it and are found through
the ``openaiperf.engines`` entry-point group, or registered from a module or a
local file with ``ob backend register module:Class --name NAME`` (see
``docs/new-engine.md``). A class is constructed with an :class:`EngineContext`.
Optional methods: ``unavailable_reason()`` (a static method: why the engine
cannot run here, shown as the skip reason) and ``score(windows)`` (per-token
log-probabilities of token windows, used by the perplexity task).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar, Protocol, Sequence, runtime_checkable

from openaiperf.errors import ConfigError, UnknownNameError
from openaiperf.records import Record, RecordSink, Request

BUILTIN_ENGINES: dict[str, str] = {
    "hf": "openaiperf.engines.hf:HFEngine",
    "vllm": "openaiperf.engines.vllm:VLLMEngine",
    "openai": "openaiperf.engines.openai:OpenAIEngine",
}

ENTRY_POINT_GROUP = "openaiperf.engines"


@dataclass
class EngineContext:
    """Everything an engine needs to start: the model, where it runs, its options."""

    model: Any  # openaiperf.models.ModelSpec
    weights: str  # local directory or hub id
    hardware: Any  # openaiperf.hardware.HardwareProfile
    dtype: str  # torch dtype name, e.g. "bfloat16"
    options: dict[str, Any] = field(default_factory=dict)
    log_dir: Any = None  # pathlib.Path where an engine may write its logs


@runtime_checkable
class Engine(Protocol):
    """The engine protocol.

    Example::

        class EchoEngine:
            name = "echo"
            concurrent = False

            def __init__(self, context): self.context = context
            def prepare(self): ...
            def run(self, requests, records, on_done):
                for request, record in zip(requests, records):
                    record.sent = time.perf_counter()
                    record.mark_token(); record.text = "echo"; record.output_tokens = 1
                    record.done = time.perf_counter(); on_done(record)
            async def stream(self, request, record): ...
            def teardown(self): ...
            def info(self): return {"engine": "echo"}
    """

    #: registry name
    name: ClassVar[str]
    #: True if the engine serves several requests at once; False: online
    #: scenarios queue their requests in front of it.
    concurrent: ClassVar[bool]

    def prepare(self) -> None:
        """Load the model (once per session; cases reuse the engine)."""

    def run(self, requests: Sequence[Request], records: Sequence[Record], on_done: RecordSink) -> None:
        """Serve ``requests`` as one offline batch; fill each record's times, token
        counts and text; call ``on_done(record)`` as each one completes. An error
        in one request is recorded on its record; an engine-wide failure raises."""

    async def stream(self, request: Request, record: Record) -> None:
        """Serve one request, noting each token as it arrives (online scenarios)."""

    def teardown(self) -> None:
        """Release the model and any process or server the engine started."""

    def info(self) -> dict[str, Any]:
        """Versions, device, dtype and options, for the report."""


def merge_options(engine: str, defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """An engine's options: its defaults updated by the case's; an unknown key is an error naming it."""
    unknown = set(given) - set(defaults)
    if unknown:
        raise ConfigError(f"unknown {engine} engine option(s) {sorted(unknown)}; known: {sorted(defaults)}",
                          source="engine options")
    return {**defaults, **given}


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def user_engines() -> dict[str, str]:
    """Engines registered with ``ob backend register``: name -> ``module:Class`` or ``/path/file.py:Class``."""
    from openaiperf.specs import read_yaml
    from openaiperf.userdir import user_engines_file

    path = user_engines_file()
    if not path.is_file():
        return {}
    data = read_yaml(path) or {}
    engines = data.get("engines") if isinstance(data, dict) else None
    if not isinstance(engines, dict):
        raise ConfigError("expected a mapping 'engines: {name: module:Class}'", source=str(path), field="engines")
    return {str(k): str(v) for k, v in engines.items()}


def load_target(target: str, *, source: str) -> type:
    """Import ``module:Class`` or ``/path/to/file.py:Class``; errors name ``source``."""
    import importlib.util
    import sys
    from pathlib import Path

    module_name, _, attr = target.rpartition(":")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise ConfigError("engine file does not exist", source=f"{source}: {path}")
            unique = f"openaiperf_user_engine_{path.stem}_{abs(hash(str(path)))}"
            module = sys.modules.get(unique)
            if module is None:
                spec = importlib.util.spec_from_file_location(unique, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[unique] = module
                spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}", source=source) from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise ConfigError(f"{module_name!r} has no class {attr!r}", source=source)
    return cls


def known_engines() -> list[str]:
    return sorted({*BUILTIN_ENGINES, *_entry_points(), *user_engines()})


def engine_class(name: str) -> type:
    """Import and return the engine class registered as ``name`` (built-in, entry
    point, or ``ob backend register``)."""
    if name in BUILTIN_ENGINES:
        module_name, _, attr = BUILTIN_ENGINES[name].partition(":")
        return getattr(importlib.import_module(module_name), attr)
    entry_points = _entry_points()
    if name in entry_points:
        return entry_points[name].load()
    registered = user_engines()
    if name in registered:
        from openaiperf.userdir import user_engines_file

        return load_target(registered[name], source=f"{user_engines_file()}: engines.{name}")
    raise UnknownNameError("engine", name, known_engines(), source="--engine")


REQUIRED_METHODS = ("prepare", "run", "stream", "teardown", "info")


def check_engine_class(cls: type, name: str) -> None:
    """Refuse a class that lacks a method of the protocol, naming it."""
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        import inspect

        try:
            where = f" (in {inspect.getfile(cls)})"
        except (TypeError, OSError):
            where = ""
        raise ConfigError(
            f"engine class {cls.__qualname__}{where} lacks {', '.join(missing)} "
            f"(the engine protocol needs {', '.join(REQUIRED_METHODS)})",
            source=f"engine {name}",
        )


def create_engine(name: str, context: EngineContext) -> Engine:
    cls = engine_class(name)
    check_engine_class(cls, name)
    return cls(context)


def engine_unavailable_reason(name: str) -> str | None:
    """Why the engine cannot be used here (missing dependency), or None."""
    try:
        cls = engine_class(name)
    except ImportError as exc:
        return f"engine {name!r} cannot be imported ({exc}); install its extra: pip install 'openaiperf[{name}]'"
    check = getattr(cls, "unavailable_reason", None)
    return check() if callable(check) else None
