"""Every command-line option of the suite, declared once.

:func:`options` lists them: the suite's own (the fields of its settings models,
:mod:`openaiperf.settings`, and of each report writer's ``Options``) and the flags
the registries declare (a scenario's or an engine's ``Options`` field made with
``option_field(..., flag="--qps-target")``). :func:`add_options` adds them to
pytest (:mod:`openaiperf.plugin.options`, group "OpenAIPerf") and to ``ob run``'s
argparse parser alike; :func:`check_values` refuses, at start-up, a value out of
its range or malformed, naming the option and what it accepts.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from openaiperf.baselines.settings import BaselineSettings
from openaiperf.engines import engines
from openaiperf.errors import ConfigError, describe_validation
from openaiperf.runner.settings import MODEL_DTYPES, RunSettings, parse_stall_limit
from openaiperf.scenarios import ScenarioConfig, scenarios
from openaiperf.settings import SelectionSettings, Settings, flag_extra, parse_engine_option

__all__ = ["GROUPS", "MODEL_DTYPES", "Option", "add_options", "check_values", "options", "parse_engine_option",
           "parse_stall_limit", "recorded_options"]

GROUPS = {
    "selection": "what runs",
    "run": "how each case runs",
    "measurement": "monitoring, profiling, sweeps",
    "serving": "engines and the online scenarios' load",
    "baseline": "the regression gate",
    "report": "reports and the results history",
}


@dataclass(frozen=True)
class Option:
    """One command-line option (argparse's keywords, plus what the suite checks)."""

    flag: str
    help: str
    group: str
    default: Any = None
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    #: store_true | append
    action: str | None = None
    nargs: str | None = None
    const: Any = None
    #: numbers: (lowest accepted, whether the bound itself is accepted, highest accepted or None)
    bounds: tuple[float, bool, float | None] | None = None
    #: a check of a given value; raises ConfigError naming the option
    check: Callable[[Any], Any] | None = None
    #: written into results.json's ``config.options``
    recorded: bool = True
    #: a flag a registry declared: (axis, the options field it sets, the names whose options have it)
    target: tuple[str, str, tuple[str, ...]] | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def shown_help(self) -> str:
        """The help with the declared default, so the two never disagree (a ``None`` default's
        meaning, e.g. "default: all", is the help's to say)."""
        if self.default is None or self.action in ("store_true", "append") or "default" in self.help:
            return self.help
        return f"{self.help} (default {self.default})"

    def kwargs(self) -> dict[str, Any]:
        """argparse's (and pytest's ``addoption``) keywords."""
        out: dict[str, Any] = {"help": self.shown_help, "dest": self.dest}
        if self.action == "store_true":
            return out | {"action": "store_true", "default": bool(self.default)}
        if self.action == "append":
            return out | {"action": "append", "default": [], "metavar": self.metavar}
        out |= {"default": self.default}
        for key in ("type", "metavar", "choices", "nargs", "const"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def argv(self, value: Any) -> list[str]:
        """The command-line words that give ``value`` (none for the default)."""
        if value is None or value == self.kwargs()["default"]:
            return []
        if self.action == "store_true":
            return [self.flag]
        if self.action == "append":
            return [f"{self.flag}={item}" for item in value]
        if self.nargs == "?" and value == self.const:
            return [self.flag]
        return [f"{self.flag}={value}"]


def settings_models() -> list[type[Settings]]:
    """The suite's settings models (their fields are its own options), then each report
    writer's ``Options`` (a writer's flags are in the report group)."""
    from openaiperf.report import writers

    return [RunSettings, SelectionSettings, BaselineSettings, *(cls.Options for cls in writers.classes().values())]


def _choices(annotation: Any) -> tuple[str, ...] | None:
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    for arg in args:
        if typing.get_origin(arg) is typing.Literal:
            return tuple(str(value) for value in typing.get_args(arg))
    return None


def setting_options(model: type[Settings]) -> list[Option]:
    """The options the fields of a settings model declare (:func:`openaiperf.settings.setting`)."""
    out = []
    for name, info in model.model_fields.items():
        extra = flag_extra(model, name)
        if not extra:
            continue
        flag, group, recorded = str(extra["flag"]), str(extra.get("group") or model.group), extra["recorded"]
        kind = str if extra["text"] else _simple_type(info.annotation)
        help_text = info.description or name
        if extra["negate"] or kind is bool:
            out.append(Option(flag, help_text, group, action="store_true", recorded=recorded))
            continue
        default = None if info.default_factory is not None else info.default
        action = extra.get("action")
        out.append(Option(flag, help_text, group, default=default, type=kind if kind in (int, float) else None,
                          metavar=extra.get("metavar"), choices=_choices(info.annotation), action=action,
                          nargs=extra.get("nargs"), const=extra.get("const"),
                          bounds=_bounds(info.metadata) if kind in (int, float) else None,
                          check=_field_check(model, name, flag, append=action == "append"), recorded=recorded))
    return out


def own_options() -> list[Option]:
    """The suite's own options (its settings models' and the report writers'), by group
    in :data:`GROUPS`' order, in declaration order within one."""
    declared = [option for model in settings_models() for option in setting_options(model)]
    seen: dict[str, str] = {}
    for option in declared:
        if option.flag in seen:
            raise ConfigError(f"declared twice (by {seen[option.flag]} and another settings model or writer)",
                              source=option.flag)
        seen[option.flag] = option.group
    return sorted(declared, key=lambda option: list(GROUPS).index(option.group))


# -- flags the registries declare -------------------------------------------------------------
def _simple_type(annotation: Any) -> Any:
    """The argparse type of a field: bool (a switch), int, float or str."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    for kind in (bool, int, float):
        if kind in args:
            return kind
    # a str subclass (RedactedStr: an endpoint that may hold credentials) parses the flag itself
    return next((a for a in args if isinstance(a, type) and issubclass(a, str) and a is not str), str)


def _bounds(metadata: Sequence[Any]) -> tuple[float, bool, float | None] | None:
    low: tuple[float, bool] | None = None
    high: float | None = None
    for item in metadata:
        if getattr(item, "ge", None) is not None:
            low = (item.ge, True)
        elif getattr(item, "gt", None) is not None:
            low = (item.gt, False)
        if getattr(item, "le", None) is not None:
            high = item.le
    if low is None and high is None:
        return None
    return (low or (-math.inf, True))[0], (low or (0, True))[1], high


def _field_check(model: type[BaseModel], name: str, flag: str, append: bool = False) -> Callable[[Any], None]:
    """Validate a given value (an item of a repeatable flag) as the model will: its bounds and
    its own validators, which may raise a ConfigError naming the flag themselves."""

    def check(value: Any) -> None:
        try:
            model.model_validate({name: [value] if append else value})
        except ValidationError as exc:
            raise ConfigError(describe_validation(exc, fields=False), source=flag) from None

    return check


def field_options(axis: str, models: Iterable[tuple[str, Any]]) -> list[Option]:
    """The flags the fields of ``models`` (``(name, pydantic model)`` pairs) declare;
    a flag several models declare is one option that applies to all of them."""
    found: dict[str, tuple[Any, Any, str, list[str]]] = {}
    for owner, model in models:
        for name, info in model.model_fields.items():
            extra = info.json_schema_extra
            flag = extra.get("flag") if isinstance(extra, dict) else None
            if not flag:
                continue
            entry = found.setdefault(flag, (info, model, name, []))
            if entry[2] != name:
                raise ConfigError(f"{axis} {owner} declares {flag} for its option {name!r}; another {axis} declares "
                                  f"it for {entry[2]!r}", source=flag)
            entry[3].append(owner)
    out = []
    for flag, (info, model, name, owners) in found.items():
        kind = _simple_type(info.annotation)
        scope = "" if owners == ["*"] else f"{', '.join(owners)}: "
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        help_text = scope + (info.description or name)
        if info.default is not None and kind is not bool and "default" not in help_text:
            help_text += f" (default {info.default})"
        target = (axis, name, tuple(owners))
        if kind is bool:
            out.append(Option(flag, help_text, "serving", action="store_true", target=target))
        else:
            bounds = _bounds(info.metadata) if kind in (int, float) else None
            out.append(Option(flag, help_text, "serving", type=kind if kind is not str else None,
                              metavar=extra.get("metavar"), bounds=bounds, check=_field_check(model, name, flag),
                              target=target))
    return out


def registry_options() -> list[Option]:
    """The flags of the scenarios' options (the shared ones apply to every scenario)
    and of the engines' options, from the classes registered when options are added."""
    scenario_models = [(name, cls.Options) for name, cls in scenarios.classes().items()]
    engine_models = [(name, cls.Options) for name, cls in engines.classes().items()]
    return [*field_options("engine", engine_models), *field_options("scenario", scenario_models),
            *field_options("scenario", [("*", ScenarioConfig)])]


def options() -> list[Option]:
    """Every option: the suite's own and the writers', the registries' flags in the serving group."""
    own = own_options()
    generated = registry_options()
    flags = {o.flag for o in own}
    clash = [o.flag for o in generated if o.flag in flags]
    if clash:
        raise ConfigError(f"a registered class declares the flag(s) {clash}, which the suite already has",
                          source="options")
    serving_end = max(i for i, o in enumerate(own) if o.group == "serving") + 1
    return [*own[:serving_end], *generated, *own[serving_end:]]


def add_options_as(addoption: Callable[..., Any], flags: dict[str, str]) -> None:
    """Add the options ``flags`` names (declared flag -> the flag another command spells it
    with, e.g. ``--baseline-force`` -> ``--force``) with their declared help, default and type."""
    declared = {option.flag: option for option in options()}
    for flag, spelled in flags.items():
        kwargs = declared[flag].kwargs() | {"dest": spelled.removeprefix("--").replace("-", "_")}
        addoption(spelled, **kwargs)


def add_options(addoption: Callable[..., Any], prefix: str = "", groups: Iterable[str] | None = None) -> None:
    """Add every option (of ``groups``, default all) with ``addoption(flag, **kwargs)``:
    pytest's ``group.addoption`` or argparse's ``add_argument``; ``prefix`` goes
    between the dashes and the name (``--ob-max-samples``)."""
    wanted = set(groups) if groups is not None else None
    for option in options():
        if wanted is None or option.group in wanted:
            flag = "--" + prefix + option.flag.removeprefix("--")
            kwargs = option.kwargs()
            if prefix:
                kwargs["dest"] = prefix.replace("-", "_") + kwargs["dest"]
            addoption(flag, **kwargs)


# -- start-up checks --------------------------------------------------------------------------
def accepted_text(bounds: tuple[float, bool, float | None], integer: bool) -> str:
    low, inclusive, high = bounds
    if high is not None:
        return f"a number in [{low:g}, {high:g}]"
    return f"{'an integer' if integer else 'a number'} {'>=' if inclusive else '>'} {low:g}"


def check_value(option: Option, value: Any) -> None:
    """Refuse ``value`` of ``option`` when out of range or malformed (ConfigError naming the option)."""
    if value is None or value is False or value == []:
        return
    if option.bounds is not None:
        low, inclusive, high = option.bounds
        too_low = value < low if inclusive else value <= low
        if too_low or (high is not None and value > high) or math.isnan(value):
            raise ConfigError(f"expected {accepted_text(option.bounds, isinstance(value, int))}, got {value!r}",
                              source=option.flag)
    if option.check is not None:
        for item in value if option.action == "append" else [value]:
            option.check(item)


def check_values(option: Callable[[str], Any]) -> None:
    """Every given value in range and well-formed (a ConfigError names the option)."""
    for declared in options():
        check_value(declared, option(declared.dest))


def recorded_options() -> list[str]:
    """The options written into results.json (how the cases were run, secrets masked)."""
    return [o.dest for o in options() if o.recorded]


def flag_of(axis: str, field: str) -> str | None:
    """The command-line flag that sets ``field`` of the ``axis`` options, where one does."""
    return next((o.flag for o in registry_options() if o.target and o.target[:2] == (axis, field)), None)

