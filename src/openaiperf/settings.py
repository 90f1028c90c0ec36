"""Settings declared once: typed models whose fields carry their command-line flags.

A setting is a field of a :class:`Settings` model made with :func:`setting`: its
default, its flag, its help and its bounds in one place. :mod:`openaiperf.options`
makes the pytest options and ``ob run``'s flags from these fields (the help shows
the declared default), and the code that uses a setting reads it as a typed
attribute of the model, built once from the command line with
:meth:`Settings.from_options`. A field may take the flag's text and parse it
itself (``Annotated[float, BeforeValidator(...)]``, e.g. ``--monitor-interval
100ms`` is ``0.1`` seconds), so the default is written as the user would type it.

The models: :class:`SelectionSettings` (what runs), :class:`openaiperf.runner.RunSettings`
(how each case runs), :class:`openaiperf.baselines.settings.BaselineSettings` (the
gate and the A/B comparison), and each report writer's ``Options``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from openaiperf.errors import ConfigError, validation_error


def parse_engine_option(text: str, flag: str = "--engine-option") -> tuple[str | None, str, Any]:
    """``[ENGINE:]KEY=VALUE`` -> (engine or None for every engine, key, value);
    the value is read as YAML, so numbers and booleans keep their type."""
    head, sep, raw = text.partition("=")
    engine, colon, key = head.rpartition(":")
    if not sep or not key.strip():
        raise ConfigError(f"expected [ENGINE:]KEY=VALUE (e.g. vllm:max_model_len=1024), got {text!r}",
                          source=flag)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return (engine.strip() or None) if colon else None, key.strip(), value


def setting(default: Any = None, *, flag: str, help: str, group: str | None = None, metavar: str | None = None,
            text: bool = False, negate: bool = False, action: Literal["append"] | None = None,
            nargs: Literal["?"] | None = None, const: Any = None, recorded: bool = True,
            default_factory: Callable[[], Any] | None = None, **constraints: Any) -> Any:
    """A settings field that is the command-line flag ``flag``.

    ``group``: its ``--help`` section (default: the model's ``group``); ``text``: the flag
    takes text that the field's validator parses (its default written as typed);
    ``negate``: a switch that sets the field False (``--no-monitor`` -> ``monitor``);
    ``action="append"``: a repeatable flag (a list); ``nargs="?"`` with ``const``: the
    flag alone gives ``const``; ``recorded``: written into results.json's
    ``config.options``; ``constraints``: pydantic's bounds (``ge``, ``le``...), which the
    start-up check states as the accepted values."""
    extra: dict[str, Any] = {"flag": flag, "metavar": metavar, "group": group, "text": text, "negate": negate,
                             "action": action, "nargs": nargs, "const": const, "recorded": recorded}
    extra = {key: value for key, value in extra.items() if value is not None}
    if default_factory is not None:
        return Field(default_factory=default_factory, description=help, json_schema_extra=extra, **constraints)
    return Field(default, description=help, json_schema_extra=extra, **constraints)


def flag_extra(model: type[BaseModel], name: str) -> dict[str, Any]:
    """What :func:`setting` declared of the field ``name`` (empty for a field without a flag)."""
    extra = model.model_fields[name].json_schema_extra
    return extra if isinstance(extra, dict) and extra.get("flag") else {}


def dest_of(flag: str) -> str:
    """The option's name in pytest's and argparse's namespace (``--no-monitor`` -> ``no_monitor``)."""
    return flag.lstrip("-").replace("-", "_")


class Settings(BaseModel):
    """Base class of settings models (a field made with :func:`setting` is a flag)."""

    # the defaults are written as typed on the command line: validated, they take their type
    model_config = ConfigDict(validate_default=True, extra="forbid")
    #: the ``--help`` section of the fields that name none
    group: ClassVar[str] = ""

    @classmethod
    def flags(cls) -> dict[str, str]:
        """field name -> its flag."""
        return {name: str(extra["flag"]) for name in cls.model_fields if (extra := flag_extra(cls, name))}

    @classmethod
    def from_options(cls: type[SettingsT], option: Callable[[str], Any],
                     spelled: Mapping[str, str] | None = None) -> SettingsT:
        """The settings as given on the command line (``option``: the value of an option by
        its name, None where not given or not declared: the field keeps its default); a bad
        value raises a ConfigError naming the flag and what it accepts. ``spelled``: the flags
        as another command spells them (declared flag -> its spelling, e.g. ``--baseline-alpha``
        -> ``--alpha``), read under that name and named so in errors."""
        spelled = spelled or {}
        values: dict[str, Any] = {}
        for name, flag in cls.flags().items():
            value = option(dest_of(spelled.get(flag, flag)))
            if value is None:
                continue
            values[name] = not value if flag_extra(cls, name).get("negate") else value
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            error = validation_error(exc, model=cls)
        except ConfigError as exc:  # a field's own parser names its flag
            error = exc
        raise respelled(error, spelled) from None


def respelled(error: ConfigError, spelled: Mapping[str, str]) -> ConfigError:
    """``error`` with each declared flag it names written as ``spelled`` spells it."""
    if not spelled:
        return error
    pattern = re.compile("|".join(re.escape(flag) + r"(?![\w-])" for flag in spelled))

    def swap(text: str | None) -> str | None:
        return None if text is None else pattern.sub(lambda match: spelled[match.group(0)], text)

    return ConfigError(swap(error.message) or "", source=swap(error.source), field=swap(error.field))


SettingsT = TypeVar("SettingsT", bound=Settings)


def _narrows(axis: str) -> str:
    """The help of a selection flag (``--task``, ``--engine``, ...)."""
    article = "an" if axis[0] in "aeiou" else "a"
    return (f"{axis}s to run (comma-separated): narrows the matrix to them, and adds cases for {article} {axis} "
            "the matrix does not have (see the README's selection rule)")


class SelectionSettings(Settings):
    """What runs: the hardware, the matrix and the command line's lists, the extra model and
    task files, the sweep and preset, and the engine options given for the cases."""

    hw: str = setting("auto", flag="--hw", group="selection", metavar="NAME|auto",
                      help="hardware profile (hardware_profiles/<NAME>.yaml), or 'auto' to probe the machine")
    hw_dir: list[str] = setting(flag="--hw-dir", group="selection", action="append", metavar="DIR", recorded=False,
                                default_factory=list, help="extra directory of hardware profiles (searched first)")
    matrix: str | None = setting(flag="--matrix", group="selection", metavar="PATH",
                                 help="suite definition (default: the matrix.yaml / *.matrix.yaml files in the "
                                      "collected folders)")
    task: str | None = setting(flag="--task", group="selection", metavar="A,B", help=_narrows("task"))
    scenario: str | None = setting(flag="--scenario", group="selection", metavar="A,B", help=_narrows("scenario"))
    engine: str | None = setting(flag="--engine", group="selection", metavar="A,B", help=_narrows("engine"))
    model: str | None = setting(flag="--model", group="selection", metavar="A,B", help=_narrows("model"))
    model_file: list[str] = setting(flag="--model-file", group="selection", action="append", metavar="YAML",
                                    recorded=False, default_factory=list, help="extra model registry entries")
    task_file: list[str] = setting(flag="--task-file", group="selection", action="append", metavar="YAML",
                                   recorded=False, default_factory=list,
                                   help="extra task definition (joins the matrix with its own scenarios)")
    sweep: str | None = setting(flag="--sweep", group="measurement", metavar="K:V1,V2;K2:...",
                                help='expand each case over parameters, e.g. "batch_size:1,2,4;max_tokens:50,100"')
    preset: str | None = setting(flag="--preset", group="measurement", metavar="NAME",
                                 help="a preset from openaiperf/sweeps/presets.yaml: the sweeps quick, comprehensive, "
                                      "scaling, qps-curve, pareto; quality (the 48-sample XSum quality run); extended "
                                      "(the main job and the matrix suites marked preset: extended)")
    engine_option: list[str] = setting(flag="--engine-option", group="serving", action="append",
                                       metavar="[ENGINE:]KEY=VALUE", default_factory=list,
                                       help="engine option, e.g. vllm:max_model_len=1024, or KEY=VALUE for every "
                                            "engine that takes KEY; repeatable")

    @field_validator("engine_option")
    @classmethod
    def _engine_options(cls, texts: list[str]) -> list[str]:
        for text in texts:
            parse_engine_option(text)
        return texts

    def wanted(self) -> dict[str, list[str] | None]:
        """The command line's lists by axis (None: not given)."""
        from openaiperf.matrix import parse_list

        return {"task": parse_list(self.task), "scenario": parse_list(self.scenario),
                "engine": parse_list(self.engine), "model": parse_list(self.model)}
