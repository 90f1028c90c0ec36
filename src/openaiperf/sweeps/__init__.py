"""Parameter sweeps and presets.

``--sweep "batch_size:1,2,4;max_tokens:50,100"`` expands each selected case into
the cross product of the values, with the values in its id:
``summarization.xsum-offline-hf-smollm2-135m[batch_size=2,max_tokens=50]``.
``--preset NAME`` takes the axes from ``presets.yaml``; a preset may also give
command-line options (``options:``, e.g. the quality run's task, engine and
sample count), which apply where the command line does not give them, and a
matrix's suites may belong to a preset (``preset: NAME``): they run only with it.

Where a key goes (the registries say which options each scenario and engine takes):

- ``task.K`` / ``scenario.K`` / ``engine.K``: explicitly there;
- input-profile keys (``max_tokens`` = ``max_new_tokens``, ``temperature``,
  ``top_p``, ``max_length``): the task's input profile;
- a key some scenario's options have (``qps_target``, ``min_duration_s``...):
  the scenario options;
- else a key some engine's options have (``batch_size``...): the engine options.

A scenario or engine axis applies only to the cases whose scenario or engine
takes the key (a QPS sweep leaves offline cases alone; a ``batch_size`` sweep
leaves vLLM cases alone); a key nothing takes is refused, naming the option.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from openaiperf.case_options import engine_takes
from openaiperf.engines import engines
from openaiperf.errors import ConfigError, OpenAIPerfError
from openaiperf.options import check_value, options
from openaiperf.scenarios import scenario_option_keys, scenarios
from openaiperf.specs import build_spec
from openaiperf.tasks import InputProfileSpec

if TYPE_CHECKING:
    from openaiperf.matrix import MatrixSpec

PRESETS_FILE = Path(__file__).with_name("presets.yaml")

#: the task input profile's keys (and ``max_tokens``, the name engines use for ``max_new_tokens``)
TASK_KEYS = {"max_tokens": "max_new_tokens", "max_new_tokens": "max_new_tokens", "temperature": "temperature",
             "top_p": "top_p", "max_length": "max_length"}
TARGETS = ("task", "scenario", "engine")


def scenario_takes(name: str, key: str) -> bool:
    try:
        return key in scenario_option_keys(name)
    except (ImportError, OpenAIPerfError):
        return False


def takers(target: str, key: str) -> list[str]:
    """The scenarios / engines whose options have ``key``."""
    if target == "scenario":
        return [name for name in scenarios.names() if scenario_takes(name, key)]
    return [name for name in engines.names() if engine_takes(name, key)]


@dataclass(frozen=True)
class Axis:
    key: str  # as the user wrote it (used in ids)
    target: str  # task | scenario | engine
    option: str  # the option name in the target
    values: tuple[Any, ...]

    def applies_to(self, case: Any) -> bool:
        if self.target == "scenario":
            return scenario_takes(case.scenario, self.option)
        if self.target == "engine":
            return engine_takes(case.engine, self.option)
        return True


def _value(text: str) -> Any:
    """``"2"`` -> 2, ``"0.7"`` -> 0.7, ``"true"`` -> True, otherwise the string."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, bool, str)) else text


def make_axis(key: str, values: Sequence[Any], source: str) -> Axis:
    key = key.strip()
    if not key:
        raise ConfigError("empty parameter name", source=source)
    if not values:
        raise ConfigError(f"parameter {key!r} has no values", source=source)
    target, _, option = key.partition(".")
    if option:
        if target not in TARGETS:
            raise ConfigError(f"{key!r}: prefix {target!r} is not one of {', '.join(TARGETS)}", source=source)
        if target == "task":
            if option not in TASK_KEYS:
                raise ConfigError(f"{key!r}: the task input profile has no {option!r}; known: "
                                  f"{', '.join(sorted(TASK_KEYS))}", source=source)
            option = TASK_KEYS[option]
    elif key in TASK_KEYS:
        target, option = "task", TASK_KEYS[key]
    elif takers("scenario", key):
        target, option = "scenario", key
    else:
        target, option = "engine", key
    if target != "task" and not takers(target, option):
        raise ConfigError(f"{key!r}: no {'scenario or engine' if target == 'engine' and '.' not in key else target} "
                          f"takes {option!r}", source=source)
    return Axis(key, target, option, tuple(values))


def parse_sweep(text: str, source: str = "--sweep") -> list[Axis]:
    """``"batch_size:1,2,4;max_tokens:50,100"`` -> axes (a clear error naming the part at fault)."""
    axes: list[Axis] = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        key, colon, values = part.partition(":")
        if not colon:
            raise ConfigError(f"{part!r} is not KEY:V1,V2,... (e.g. batch_size:1,2,4)", source=source)
        items = [v.strip() for v in values.split(",") if v.strip()]
        axes.append(make_axis(key, [_value(v) for v in items], source))
    keys = [a.key for a in axes]
    duplicated = {k for k in keys if keys.count(k) > 1}
    if duplicated:
        raise ConfigError(f"parameter(s) {sorted(duplicated)} given twice", source=source)
    return axes


def load_presets(path: Path = PRESETS_FILE) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of preset name -> {description, sweep}", source=str(path))
    return data


def preset_entry(name: str, path: Path = PRESETS_FILE) -> dict[str, Any]:
    presets = load_presets(path)
    if name not in presets:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(presets)}", source="--preset")
    entry = presets[name]
    if not isinstance(entry, dict):
        raise ConfigError("expected a mapping with a 'description', a 'sweep' mapping of key -> list of values "
                          "and/or an 'options' mapping of option -> value", source=f"{path} [{name}]")
    unknown = sorted(set(entry) - {"description", "sweep", "options"})
    if unknown:
        raise ConfigError(f"unknown field(s) {unknown}; known: description, sweep, options",
                          source=f"{path} [{name}]")
    return entry


def check_suite_presets(matrix: MatrixSpec, preset: str | None, *, source: str) -> None:
    """Every suite's ``preset`` is a known preset, and a ``--preset`` that gives neither a
    sweep nor options has suites of its own in the matrix (else it would do nothing)."""
    presets = load_presets()
    for index, suite in enumerate(matrix.suites):
        if suite.preset is not None and suite.preset not in presets:
            raise ConfigError(f"unknown preset {suite.preset!r}; known: {', '.join(presets)}",
                              source=source, field=f"suites[{index}].preset")
    entry = presets.get(preset) if preset else None
    if entry and not (entry.get("sweep") or entry.get("options")) and not any(
            suite.preset == preset for suite in matrix.suites):
        raise ConfigError(f"preset {preset!r} adds the suites that name it (preset: {preset}), and this matrix "
                          "has none", source=source)


def preset_axes(name: str, path: Path = PRESETS_FILE) -> list[Axis]:
    sweep = preset_entry(name, path).get("sweep")
    if sweep is None:
        return []
    if not isinstance(sweep, dict) or not sweep:
        raise ConfigError("expected a non-empty 'sweep' mapping of key -> list of values",
                          source=f"{path} [{name}]", field="sweep")
    axes = []
    for key, values in sweep.items():
        if not isinstance(values, list):
            raise ConfigError(f"expected a list of values, got {values!r}", source=f"{path} [{name}]",
                              field=f"sweep.{key}")
        axes.append(make_axis(str(key), values, f"{path} [{name}]"))
    return axes


def preset_options(name: str, path: Path = PRESETS_FILE) -> dict[str, Any]:
    """The command-line options the preset gives (option name as on the command line, without
    the dashes, -> value), each a known option with a value it accepts."""
    given = preset_entry(name, path).get("options") or {}
    source = f"{path} [{name}]"
    if not isinstance(given, dict):
        raise ConfigError("expected a mapping of option -> value", source=source, field="options")
    known = {o.flag.removeprefix("--"): o for o in options()}
    out: dict[str, Any] = {}
    for key, value in given.items():
        option = known.get(str(key))
        if option is None or option.flag == "--preset":
            raise ConfigError(f"unknown option {key!r}; known: {', '.join(k for k in known if k != 'preset')}",
                              source=source, field=f"options.{key}")
        if isinstance(value, list) and option.action != "append":  # task: [a, b] -> "a,b"
            value = ",".join(str(v) for v in value)
        if option.type is not None and not isinstance(value, bool):
            try:
                value = option.type(str(value))
            except ValueError:
                raise ConfigError(f"{option.flag} expects a {option.type.__name__}, got {value!r}",
                                  source=source, field=f"options.{key}") from None
        check_value(option, value)
        out[option.dest] = value
    return out


def sweep_axes(sweep: str | None, preset: str | None) -> list[Axis]:
    """The preset's axes, then --sweep's (a --sweep key replaces the preset's axis of that key)."""
    axes = preset_axes(preset) if preset else []
    extra = parse_sweep(sweep) if sweep else []
    replaced = {a.key for a in extra}
    return [a for a in axes if a.key not in replaced] + extra


def _format(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def expand_case(case: Any, axes: Sequence[Axis]) -> list[Any]:
    """``case`` once per combination of the axes that apply to it."""
    variants: list[Any] = [case]
    for axis in (a for a in axes if a.applies_to(case)):
        expanded = []
        for base in variants:
            for value in axis.values:
                label = f"{axis.key}={_format(value)}"
                options = {"engine": dict(base.engine_options), "scenario": dict(base.scenario_options),
                           "task": dict(base.task_options)}
                options[axis.target][axis.option] = value
                expanded.append(replace(base, engine_options=options["engine"],
                                        scenario_options=options["scenario"], task_options=options["task"],
                                        variant=f"{base.variant},{label}" if base.variant else label))
        variants = expanded
    return variants


def check_variant_options(case: Any) -> None:
    """A case swept by its matrix suite still runs with the values its id names (a
    command-line option that set a swept key would make the id lie): refused, naming it."""
    if not case.variant:
        return
    options = {"engine": case.engine_options, "scenario": case.scenario_options, "task": case.task_options}
    for part in case.variant.split(","):
        key, _, shown = part.partition("=")
        axis = make_axis(key, [shown], source=f"case {case.id}")
        value = options[axis.target].get(axis.option)
        if value is not None and _format(value) != shown:
            raise ConfigError(f"the matrix sweeps {key!r} (this case: {shown}), and a command-line option sets it "
                              f"to {_format(value)}; leave {key!r} to the sweep or select the variant with -k",
                              source=f"case {case.id}")


def expand_cases(cases: Sequence[Any], axes: Sequence[Axis]) -> list[Any]:
    if not axes:
        return list(cases)
    return [variant for case in cases for variant in expand_case(case, axes)]


def apply_task_options(spec: Any, options: dict[str, Any]) -> Any:
    """A copy of a TaskSpec with its input profile overridden (validated: a bad value
    names the field)."""
    if not options:
        return spec

    profile = build_spec(InputProfileSpec, {**spec.input_profile.model_dump(), **options},
                         source=f"sweep of task {spec.name}")
    return spec.model_copy(update={"input_profile": profile})
