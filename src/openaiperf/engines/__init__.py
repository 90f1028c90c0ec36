"""Engines: what runs the model.

An engine is a class with ``prepare``, ``run``, ``stream``, ``teardown`` and
``info`` (the required methods) registered by name in :data:`engines`:

- the built-in ones (``hf``, ``vllm``, ``openai``) are listed below as
  ``module:Class`` and imported only when used, so a missing optional
  dependency (vLLM, say) affects only the cases that need it;
- any other joins with ``@engines.register("name")`` (from a module a pytest
  plugin or ``conftest.py`` imports), an ``openaiperf.engines`` entry point, or
  ``ob engine register module:Class --name NAME`` (see ``docs/new-engine.md``).

A class is constructed with an :class:`EngineContext`. Subclassing :class:`Engine`
gives it the defaults of the optional parts: ``Options`` (its options as a
pydantic model; the base takes any key unchecked), ``requires`` (what
``ob doctor`` and the skip reason check), ``concurrent`` / ``online``
(capabilities), ``tokenizer`` (its tokenizer once prepared, if it has one),
``unavailable_reason()``, ``complete_records(records)``, ``aclose()``, ``open_connections(count)``,
``score(windows)`` / ``scorer()``, ``served_models(options)``, ``metrics_endpoint()`` and
``worker_spec()`` / ``from_worker_spec(spec)``. A class that does not subclass it gets the same
defaults from the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from openaiperf.errors import ConfigError
from openaiperf.hardware import HardwareProfile
from openaiperf.models import ModelSpec
from openaiperf.records import Record, RecordSink, Request
from openaiperf.redact import RedactedDict
from openaiperf.registry import OpenOptions, Options, Registry, Requirement, add_registry, parse_options, unmet
from openaiperf.specs import read_yaml
from openaiperf.userdir import user_engines_file

#: per-token log-probabilities of token windows (``len(window) - 1`` values each)
Scorer = Callable[[Sequence[Sequence[int]]], list[list[float]]]


@dataclass
class EngineContext:
    """Everything an engine needs to start: the model, where it runs, its options.

    ``model`` and ``hardware`` are None for an engine built without them: a client of a
    server it is given (``minimal_context`` of :mod:`openaiperf.testing.engine_contract`),
    or a load generator worker's copy (:meth:`Engine.from_worker_spec`)."""

    #: the model registry's entry of the case's model
    model: ModelSpec | None
    #: local directory or hub id of the weights (the folder of a random-weights model's config.json)
    weights: str
    #: the hardware profile the case runs on
    hardware: HardwareProfile | None
    #: torch dtype name, e.g. "bfloat16"
    dtype: str
    #: the engine's options as given (validated by its ``Options``); may hold secrets: shown redacted
    options: dict[str, Any] = field(default_factory=RedactedDict)
    #: where an engine may write its logs (a managed server's output)
    log_dir: Path | None = None

    @property
    def random_weights(self) -> bool:
        """Whether the model's weights are random values built from its architecture (no model: False)."""
        return self.model is not None and self.model.random_weights

    @property
    def device(self) -> str | None:
        """The hardware profile's torch device type ("cuda", "cpu"); None without a profile."""
        return self.hardware.device if self.hardware is not None else None

    def require_model(self) -> ModelSpec:
        """The model (an engine that cannot run without one asks this; an error says so when there is none)."""
        if self.model is None:
            raise ConfigError("this engine needs a model of the model registry (the context has none)",
                              source="engine context", field="model")
        return self.model


class Engine:
    """Base class of engines: the protocol and the defaults of its optional parts.

    Example::

        @engines.register("echo")
        class EchoEngine(Engine):
            concurrent = False

            def prepare(self): ...
            def run(self, requests, records, on_done):
                for request, record in zip(requests, records):
                    record.sent = time.perf_counter()
                    record.mark_token(); record.text = "echo"; record.output_tokens = 1
                    record.done = time.perf_counter(); on_done(record)
            async def stream(self, request, record): ...
            def teardown(self): ...
            def info(self): return {"engine": self.name}
    """

    #: registry name (set by the registry when the class has none)
    name: ClassVar[str] = ""
    #: True if the engine serves several requests at once; False: online
    #: scenarios queue their requests in front of it.
    concurrent: ClassVar[bool] = True
    #: True if it talks to a server over the network (one it was given or starts)
    online: ClassVar[bool] = False
    #: True if it sends pooling requests (embeddings, rerank: :class:`~openaiperf.records.PoolingRequest`)
    serves_pooling: ClassVar[bool] = False
    #: what must be installed for it to run (``ob doctor``, skip reasons)
    requires: ClassVar[tuple[Requirement, ...]] = ()
    #: its options (the matrix's ``engine_options``, ``--engine-option``); fields
    #: made with :func:`openaiperf.registry.option_field` and a ``flag`` are command-line flags too
    Options: ClassVar[type[Options]] = OpenOptions

    #: what it was started with (None for a test double built without one)
    context: EngineContext | None = None
    #: its options, validated by :attr:`Options` (an instance of it)
    options: BaseModel = OpenOptions()
    #: its tokenizer (a ``transformers`` tokenizer) once prepared, when it has one: the client
    #: token counts and the batch-invariance check use it, else the model's
    tokenizer: Any = None

    def __init__(self, context: EngineContext) -> None:
        self.context = context
        self.options = self.parse_options(context.options)

    @classmethod
    def parse_options(cls, options: Mapping[str, Any] | None, *, source: str | None = None) -> Any:
        """The options validated by :attr:`Options` (a bad one names ``source`` and the field)."""
        return parse_options(cls.Options, options, source=source or f"engine {cls.name} options")

    # -- required ----------------------------------------------------------------------------
    def prepare(self) -> None:
        """Load the model (once per session; cases reuse the engine)."""
        raise NotImplementedError

    def run(self, requests: Sequence[Request], records: Sequence[Record], on_done: RecordSink) -> None:
        """Serve ``requests`` as one offline batch; fill each record's times, token
        counts and text; call ``on_done(record)`` as each one completes. An error
        in one request is recorded on its record; an engine-wide failure raises."""
        raise NotImplementedError

    async def stream(self, request: Request, record: Record) -> None:
        """Serve one request, noting each token as it arrives (online scenarios)."""
        raise NotImplementedError

    def teardown(self) -> None:
        """Release the model and any process or server the engine started."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """What the engine reports about itself, for the report (the case's
        :class:`~openaiperf.result.EngineInfo`): ``engine`` (its name), ``versions`` (library ->
        version of what it runs on: the baseline fingerprint checks them), and keys of its own
        (device, dtype, options...)."""
        raise NotImplementedError

    # -- optional, with defaults -------------------------------------------------------------
    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why the engine cannot run here (the skip reason), or None: by default the
        first of :attr:`requires` that is not met."""
        return unmet(cls.requires)

    @classmethod
    def served_models(cls, options: Any) -> list[str] | None:
        """The models a server given in ``options`` serves (names as it reports
        them), when the engine talks to one; None otherwise. A task added from the
        command line without ``--model`` runs on these (see the README's selection rule)."""
        return None

    def metrics_endpoint(self) -> tuple[str, dict[str, str]] | None:
        """The server's Prometheus ``/metrics`` URL and the headers to read it with, when
        the engine talks to a server that has one (scraped around each measured round,
        see :mod:`openaiperf.monitor.prometheus`); None otherwise."""
        return None

    def complete_records(self, records: Sequence[Record]) -> bool:
        """After each round (and warmup), off the timed event loop: work out what was
        too costly to do while timing (the ``openai`` engine counts tokens per chunk
        here). Returns True when it changed the records (the records file is then
        rewritten)."""
        return False

    def worker_spec(self) -> dict[str, Any] | None:
        """What a load generator worker in another process or on another host needs to
        send this engine's requests itself (``--loadgen-workers``, ``--loadgen-cluster``):
        picklable data that :meth:`from_worker_spec` turns back into an engine there;
        None (the default) when the engine cannot be driven from another process."""
        return None

    async def open_connections(self, count: int) -> None:
        """Open up to ``count`` connections to the server ahead of a load generator's start,
        so that the first scheduled requests do not pay for them (default: nothing to open)."""

    @classmethod
    def from_worker_spec(cls, spec: dict[str, Any]) -> Engine:
        """The engine a worker sends with, built from :meth:`worker_spec`."""
        raise NotImplementedError(f"engine {cls.name} cannot run in a load generator worker")

    async def aclose(self) -> None:
        """Close what :meth:`stream` opened in the running event loop (an HTTP session), at
        the end of each round's loop; default: nothing to close."""

    def score(self, windows: Sequence[Sequence[int]]) -> list[list[float]]:
        """Per-token log-probabilities of each token window (``len(window) - 1`` values
        each, the first token having no context), for the perplexity task. Optional:
        an engine that can score defines it (see :meth:`scorer`)."""
        raise NotImplementedError(f"engine {self.name} cannot score tokens")

    def scorer(self) -> Scorer | None:
        """What scores token windows for the perplexity task: :meth:`score` when the
        engine defines it, else None (it cannot score)."""
        if type(self).score is Engine.score:
            return None
        return self.score


REQUIRED_METHODS = ("prepare", "run", "stream", "teardown", "info")


def user_engines() -> dict[str, str]:
    """Engines registered with ``ob engine register``: name -> ``module:Class`` or ``/path/file.py:Class``."""
    path = user_engines_file()
    if not path.is_file():
        return {}
    data = read_yaml(path) or {}
    engines = data.get("engines") if isinstance(data, dict) else None
    if not isinstance(engines, dict):
        raise ConfigError("expected a mapping 'engines: {name: module:Class}'", source=str(path), field="engines")
    return {str(k): str(v) for k, v in engines.items()}


def _user_engines() -> dict[str, tuple[str, str]]:
    """Engines recorded by ``ob engine register``: name -> (target, where)."""
    where = user_engines_file()
    return {name: (target, f"{where}: engines.{name}") for name, target in user_engines().items()}


#: the engine registry
engines: Registry[type[Engine]] = add_registry(Registry(
    "engine", "openaiperf.engines",
    builtins={
        "hf": "openaiperf.engines.hf:HFEngine",
        "vllm": "openaiperf.engines.vllm:VLLMEngine",
        "openai": "openaiperf.engines.openai:OpenAIEngine",
    },
    base=Engine, required=REQUIRED_METHODS, extra=_user_engines))


def engine_class(name: str) -> type[Engine]:
    """The engine class registered as ``name`` (ImportError when its module cannot be imported)."""
    return engines.get(name, source="--engine")


def create_engine(name: str, context: EngineContext) -> Engine:
    return engine_class(name)(context)


def engine_unavailable_reason(name: str) -> str | None:
    """Why the engine cannot be used here (missing dependency), or None."""
    try:
        cls = engine_class(name)
    except ImportError as exc:
        return f"engine {name!r} cannot be imported ({exc})"
    return cls.unavailable_reason()
