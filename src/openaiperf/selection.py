"""Which cases a run has: the matrix's, and what the command line adds to them.

The rule (the README's "Selection"): ``--task``, ``--scenario``, ``--engine`` and
``--model`` each name the values wanted on their axis.

1. The matrix's cases are every suite's tasks × scenarios × engines × models; a
   suite that belongs to a preset (``preset: NAME``) counts only with ``--preset
   NAME`` or when ``--task`` names one of its tasks.
2. A task that no suite names (one from ``--task-file``, from ``ob task
   register``, or named with ``--task``) joins them: that task, in the
   ``--scenario`` list or else its own scenarios, on the ``--engine`` list or
   else the first suite's engines; with the ``--model`` list, else the models
   the engine serves (``--endpoint``: the server's models, found in the model
   registry by name or source), else the first suite's models.
3. An engine, model or scenario named on the command line that no case has yet
   adds cases: the cases matching the command line's other lists, with that
   value in its place (a new engine without ``--model`` runs the models it
   serves when it serves some).
4. Then only the cases matching every list given run; the others are deselected.

A case built here takes the engine's and the scenario's options from the first
suite that gives options for them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from openaiperf.case_options import apply_cli_options
from openaiperf.engines import engines
from openaiperf.errors import ConfigError, EngineError
from openaiperf.matrix import Case, MatrixSpec, SuiteSpec, active_suites
from openaiperf.sweeps import expand_cases, make_axis

AXES = ("task", "scenario", "engine", "model")


@dataclass
class SelectionInputs:
    #: axis -> the command line's list (None: not given)
    wanted: Mapping[str, list[str] | None]
    #: tasks from --task-file and ``ob task register``
    free_tasks: Sequence[str] = ()
    #: task name -> spec (for a task's own scenarios)
    tasks: Mapping[str, Any] = field(default_factory=dict)
    #: the model registry (to find an endpoint's models in it)
    models: Mapping[str, Any] = field(default_factory=dict)
    #: the run's options (the engine's command-line flags reach its served_models)
    option: Callable[[str], Any] = lambda name: None
    #: ``--engine-option`` values (they reach its served_models too)
    engine_options: Sequence[str] = ()
    #: ``--preset``: the suites marked with it join the run
    preset: str | None = None


def expand(matrix: MatrixSpec) -> list[Case]:
    """Every case of every suite, in order, without duplicates (a suite's ``sweep``
    expands its cases, one value after another)."""
    cases: dict[str, Case] = {}
    for index, suite in enumerate(matrix.suites):
        members = [Case(task, scenario, engine, model, engine_options=suite.engine_options.get(engine, {}),
                        scenario_options=suite.scenario_options.get(scenario, {}),
                        task_options=dict(suite.input_profile), max_samples=suite.max_samples)
                   for task in suite.tasks for scenario in suite.scenarios for engine in suite.engines
                   for model in suite.models]
        if suite.sweep:
            source = f"suites[{index}]{f' ({suite.name})' if suite.name else ''}.sweep"
            axes = [make_axis(str(key), list(values), source) for key, values in suite.sweep.items()]
            expanded = expand_cases(members, axes)
            order = {variant: n for n, variant in enumerate(dict.fromkeys(c.variant for c in expanded))}
            members = sorted(expanded, key=lambda c: order[c.variant])  # stable: a value's cases together
        for case in members:
            cases.setdefault(case.id, case)
    return list(cases.values())



def first_options(matrix: MatrixSpec, kind: str, name: str) -> dict[str, Any]:
    """The options the first suite that gives any for engine/scenario ``name`` gives."""
    for suite in matrix.suites:
        options = suite.engine_options if kind == "engine" else suite.scenario_options
        if name in options:
            return dict(options[name])
    return {}


def served_models(engine: str, matrix: MatrixSpec, inputs: SelectionInputs) -> list[str] | None:
    """The registry names of the models ``engine`` serves (an endpoint's), or None
    when it does not say; a served model the registry does not know is an error."""
    try:
        cls = engines.get(engine)
    except ImportError:
        return None
    probe = Case("-", "-", engine, "-", engine_options=first_options(matrix, "engine", engine))
    (probe,) = apply_cli_options([probe], inputs.option, inputs.engine_options)
    try:
        names = cls.served_models(cls.parse_options(probe.engine_options, source=f"engine {engine} options"))
    except EngineError as exc:
        raise ConfigError(f"{exc}; or give --model NAME", source=f"engine {engine}") from None
    if names is None:
        return None
    found = [model for served in names for model, spec in inputs.models.items()
             if served in (model, spec.source)]
    if not found:
        raise ConfigError(f"the server serves {', '.join(map(repr, names)) or 'no model'}, which the model registry "
                          "does not know: give --model NAME (a --model-file entry with its source, parameter count "
                          "and dtype)", source=f"engine {engine}")
    return list(dict.fromkeys(found))


def free_task_cases(matrix: MatrixSpec, inputs: SelectionInputs, named: set[str]) -> list[Case]:
    """Step 2: tasks no suite names, on the command line's (or the first suite's) axes."""
    wanted = inputs.wanted
    free = list(dict.fromkeys([*inputs.free_tasks, *(wanted["task"] or ())]))
    free = [t for t in free if t not in named and t in inputs.tasks]
    first: SuiteSpec = matrix.suites[0]
    cases = []
    for task in free:
        scenarios = wanted["scenario"] or list(inputs.tasks[task].scenarios)
        for engine in wanted["engine"] or first.engines:
            models = wanted["model"] or served_models(engine, matrix, inputs) or first.models
            for scenario, model in itertools.product(scenarios, models):
                cases.append(Case(task, scenario, engine, model,
                                  engine_options=first_options(matrix, "engine", engine),
                                  scenario_options=first_options(matrix, "scenario", scenario),
                                  max_samples=first.max_samples))
    return cases


def substituted_cases(matrix: MatrixSpec, cases: Sequence[Case], inputs: SelectionInputs) -> list[Case]:
    """Step 3: a scenario, engine or model the cases lack, in place of the matching cases' own."""
    wanted = inputs.wanted
    new = {axis: [v for v in wanted[axis] or () if v not in {getattr(c, axis) for c in cases}]
           for axis in ("scenario", "engine", "model")}
    if not any(new.values()):
        return []
    templates = [c for c in cases if all(
        new.get(axis) or wanted[axis] is None or getattr(c, axis) in (wanted[axis] or ()) for axis in AXES)]
    out = []
    for template in templates:
        for scenario in new["scenario"] or [template.scenario]:
            for engine in new["engine"] or [template.engine]:
                models = new["model"] or (
                    (served_models(engine, matrix, inputs) if engine != template.engine and not wanted["model"]
                     else None) or [template.model])
                for model in models:
                    out.append(replace(
                        template, scenario=scenario, engine=engine, model=model,
                        engine_options=template.engine_options if engine == template.engine
                        else first_options(matrix, "engine", engine),
                        scenario_options=template.scenario_options if scenario == template.scenario
                        else first_options(matrix, "scenario", scenario)))
    return out


def select_cases(matrix: MatrixSpec, inputs: SelectionInputs) -> list[Case]:
    """The matrix's cases and the command line's additions, without duplicates (the
    narrowing to the command line's lists is left to the caller)."""
    named = {task for suite in matrix.suites for task in suite.tasks}
    matrix = active_suites(matrix, inputs.preset, inputs.wanted["task"] or ())
    cases = expand(matrix)
    cases += free_task_cases(matrix, inputs, named)
    cases += substituted_cases(matrix, cases, inputs)
    unique: dict[str, Case] = {}
    for case in cases:
        unique.setdefault(case.id, case)
    return list(unique.values())
