"""Command-line overrides of a case's engine and scenario options, and their checks.

The matrix gives each case its ``engine_options`` and ``scenario_options``; the
command line overrides them before the cases run: ``--engine-option
[ENGINE:]KEY=VALUE``, and the flags the engines' and scenarios' ``Options``
declare (``--endpoint``, ``--qps-target``, ``--stream-count``...), each applied
to the cases whose engine or scenario takes that option. Every case's options
are then validated by its engine's and scenario's ``Options``, so a bad value is
refused at collection, naming where it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from openaiperf.engines import Engine, engines
from openaiperf.errors import ConfigError
from openaiperf.matrix import Case, MatrixSpec
from openaiperf.options import parse_engine_option, registry_options
from openaiperf.registry import field_flag, owns
from openaiperf.scenarios import check_scenario_options, scenarios


def engine_takes(engine: str, key: str) -> bool:
    """Whether ``engine``'s options have ``key`` (an engine that declares no options,
    or whose module cannot be imported here, takes any)."""
    try:
        return owns(engines.get(engine).Options, key)
    except ImportError:
        return True


def check_engine_options(texts: Iterable[str], flag: str = "--engine-option") -> None:
    """``--engine-option`` (or ``flag``'s) values: the engine known, and the key one its options
    have (checked with its type), or for a key without an engine one some engine takes."""
    names = engines.names()
    for text in texts:
        engine, key, value = parse_engine_option(text, flag)
        source = f"{flag} {text!r}"
        if engine is not None and engine not in names:
            raise ConfigError(f"unknown engine {engine!r}; known: {', '.join(sorted(names))}", source=source)
        takers = [engine] if engine is not None else [n for n in names if engine_takes(n, key)]
        if not takers or not engine_takes(takers[0], key):
            raise ConfigError(f"no engine takes {key!r}" if engine is None else
                              f"engine {engine} has no option {key!r}; known: "
                              f"{', '.join(engines.get(engine).Options.model_fields)}", source=source)
        for name in takers:
            try:
                cls = engines.get(name)
            except ImportError:
                continue
            cls.parse_options({key: value}, source=source)


def apply_cli_options(cases: Sequence[Case], option: Callable[[str], Any], given_engine_options: Sequence[str] = ()
                      ) -> list[Case]:
    """Cases with the command line's engine and scenario options applied: ``given_engine_options``
    (``--engine-option`` values), and each flag the registered options declare (``option``: its value
    by name) to the cases whose engine's (scenario's) options have the field that declares it."""
    engine_overrides = [parse_engine_option(text) for text in given_engine_options]
    flags = [(o, option(o.dest)) for o in registry_options() if o.target is not None]
    given = [(o, value) for o, value in flags if value is not None and value is not False]
    out = []
    for case in cases:
        engine_options = dict(case.engine_options)
        for engine, key, value in engine_overrides:
            if engine == case.engine or (engine is None and engine_takes(case.engine, key)):
                engine_options[key] = value
        scenario_options = dict(case.scenario_options)
        for flag, value in given:
            axis, field, owners = flag.target  # type: ignore[misc]
            if axis == "engine" and declares(axis, case.engine, field, flag.flag):
                engine_options[field] = value
            elif axis == "scenario" and ("*" in owners or declares(axis, case.scenario, field, flag.flag)):
                scenario_options[field] = value
        out.append(replace(case, engine_options=engine_options, scenario_options=scenario_options))
    return out


def declares(axis: str, name: str, field: str, flag: str) -> bool:
    """Whether the options of engine/scenario ``name`` have ``field`` declaring ``flag``."""
    registry = engines if axis == "engine" else scenarios
    try:
        return field_flag(registry.get(name).Options, field) == flag
    except (ImportError, ConfigError):
        return False


def check_matrix_options(matrix: MatrixSpec, *, source: str) -> None:
    """Every suite's engine and scenario options valid for their engine / scenario,
    an error naming ``source: suites[i].engine_options.<engine>`` and the field."""
    for index, suite in enumerate(matrix.suites):
        for engine, options in suite.engine_options.items():
            if engine not in engines:
                continue  # the unknown name is reported with the known ones, if a case uses it
            try:
                cls = engines.get(engine)
            except ImportError:
                continue
            cls.parse_options(options, source=f"{source}: suites[{index}].engine_options.{engine}")
        for scenario, options in suite.scenario_options.items():
            check_scenario_options(scenario, options, source=f"{source}: suites[{index}].scenario_options.{scenario}")


def check_case_options(case: Case) -> None:
    """The case's options (matrix + command line + sweep) valid for its engine and scenario."""
    try:
        cls = engines.get(case.engine)
    except ImportError:
        cls = None
    if cls is not None:
        cls.parse_options(case.engine_options, source=f"case {case.id}: engine options")
    check_scenario_options(case.scenario, case.scenario_options, source=f"case {case.id}: scenario options")
    if cls is not None:
        check_loadgen_workers(case, cls)


def check_loadgen_workers(case: Case, engine_class: type[Engine]) -> None:
    """Load generator workers (``--loadgen-workers`` > 1, ``--loadgen-cluster``) only for an
    engine that can send from another process (one that gives a ``worker_spec``: openai)."""
    options = case.scenario_options
    workers = str(options.get("loadgen_workers", "1")).strip().lower()
    cluster = options.get("loadgen_cluster")
    if (workers == "1" and not cluster) or engine_class.worker_spec is not Engine.worker_spec:
        return
    flag = "--loadgen-cluster" if cluster else "--loadgen-workers"
    raise ConfigError(f"engine {case.engine!r} runs in the case's own process and cannot send from load generator "
                      f"workers; only HTTP engines (openai) can: drop {flag} for this case", source=f"case {case.id}",
                      field=flag)
