"""The selection rule (openaiperf.selection, the README's "Selection"): the command
line's --task/--scenario/--engine/--model narrow the matrix and add what it lacks."""

from __future__ import annotations

from typing import Any

import pytest

from openaiperf.engines import Engine, engines
from openaiperf.errors import ConfigError
from openaiperf.matrix import MatrixSpec, narrow
from openaiperf.models import ModelSpec
from openaiperf.selection import SelectionInputs, select_cases
from openaiperf.tasks import load_task_specs

MATRIX = MatrixSpec.model_validate({"suites": [
    {"tasks": ["summarization.xsum"], "scenarios": ["offline", "single_stream"], "engines": ["hf"],
     "models": ["smollm2-135m", "llama3-8b"], "engine_options": {"hf": {"batch_size": 16}}},
    {"tasks": ["summarization.xsum"], "scenarios": ["server"], "engines": ["openai"], "models": ["smollm2-135m"],
     "engine_options": {"openai": {"max_model_len": 2048}}, "scenario_options": {"server": {"qps_target": 2}},
     "max_samples": 16},
]})
XSUM = load_task_specs(include_user=False)["summarization.xsum"]
TASKS = {"summarization.xsum": XSUM.model_copy(update={"scenarios": ["offline", "single_stream"]}),
         "my.task": XSUM.model_copy(update={"name": "my.task", "scenarios": ["offline", "server"]})}
MODELS = {name: ModelSpec(name=name, source=source, parameters=1) for name, source in
          (("smollm2-135m", "embedded:x"), ("llama3-8b", "meta/llama"), ("served-one", "org/served-one"))}


class ServingEngine(Engine):
    """A test engine whose "server" serves the model its ``endpoint`` option names."""

    def prepare(self) -> None: ...
    def run(self, requests: Any, records: Any, on_done: Any) -> None: ...
    async def stream(self, request: Any, record: Any) -> None: ...
    def teardown(self) -> None: ...
    def info(self) -> dict[str, Any]:
        return {}

    @classmethod
    def served_models(cls, options: Any) -> list[str] | None:
        endpoint = getattr(options, "endpoint", None)
        return [endpoint.rsplit("/", 1)[-1]] if endpoint else None


@pytest.fixture
def serving():
    state = engines.snapshot()
    engines.register("serving", ServingEngine)
    yield
    engines.restore(state)


def select(*, free: tuple[str, ...] = (), engine_options: tuple[str, ...] = (), **wanted: str) -> list[str]:
    lists = {axis: wanted[axis].split(",") if axis in wanted else None
             for axis in ("task", "scenario", "engine", "model")}
    cases = select_cases(MATRIX, SelectionInputs(wanted=lists, free_tasks=free, tasks=TASKS, models=MODELS,
                                                 engine_options=engine_options))
    kept, _ = narrow(cases, **lists)
    return [c.id for c in kept]


def test_names_the_matrix_has_only_narrow_it():
    assert select() == [
        "summarization.xsum-offline-hf-smollm2-135m", "summarization.xsum-offline-hf-llama3-8b",
        "summarization.xsum-single_stream-hf-smollm2-135m", "summarization.xsum-single_stream-hf-llama3-8b",
        "summarization.xsum-server-openai-smollm2-135m"]
    assert select(engine="openai") == ["summarization.xsum-server-openai-smollm2-135m"]
    assert select(scenario="offline", model="llama3-8b") == ["summarization.xsum-offline-hf-llama3-8b"]


def test_a_task_file_task_joins_with_its_own_scenarios_on_the_named_engine():
    # a --task-file task: its own scenarios; the first suite's engines and models unless named
    assert select(free=("my.task",), task="my.task") == [
        "my.task-offline-hf-smollm2-135m", "my.task-offline-hf-llama3-8b",
        "my.task-server-hf-smollm2-135m", "my.task-server-hf-llama3-8b"]
    # named on the command line: the task runs there (it used to be deselected: the first suite has hf only)
    assert select(free=("my.task",), task="my.task", engine="openai", model="smollm2-135m") == [
        "my.task-offline-openai-smollm2-135m", "my.task-server-openai-smollm2-135m"]
    # without --task the matrix's cases for those lists run too
    assert "summarization.xsum-server-openai-smollm2-135m" in select(free=("my.task",), engine="openai")


def test_a_joined_case_takes_the_options_of_the_first_suite_that_gives_them():
    cases = select_cases(MATRIX, SelectionInputs(
        wanted={"task": ["my.task"], "scenario": None, "engine": ["openai"], "model": ["smollm2-135m"]},
        free_tasks=["my.task"], tasks=TASKS, models=MODELS))
    server = next(c for c in cases if c.id == "my.task-server-openai-smollm2-135m")
    assert server.engine_options == {"max_model_len": 2048} and server.scenario_options == {"qps_target": 2}


def test_without_model_a_serving_engine_runs_the_model_its_server_serves(serving):
    endpoint = ("serving:endpoint=http://host:8000/v1/served-one",)
    assert select(free=("my.task",), task="my.task", engine="serving", scenario="offline",
                  engine_options=endpoint) == [
        "my.task-offline-serving-served-one"]
    unknown = ("serving:endpoint=http://host:8000/v1/mystery",)
    with pytest.raises(ConfigError, match="the server serves 'mystery', which the model registry does not know"):
        select(free=("my.task",), task="my.task", engine="serving", engine_options=unknown)


def test_an_engine_model_or_scenario_the_matrix_lacks_replaces_it_in_the_matching_cases(serving):
    # a new engine: the matching cases, on it (without the other engine's options)
    assert select(engine="serving", scenario="offline") == [
        "summarization.xsum-offline-serving-smollm2-135m", "summarization.xsum-offline-serving-llama3-8b"]
    # a new model, with other lists narrowing
    assert select(model="served-one", engine="hf") == [
        "summarization.xsum-offline-hf-served-one", "summarization.xsum-single_stream-hf-served-one"]
    # a new scenario; and a named value beside a new one keeps its own cases
    assert select(scenario="multi_stream,server", engine="openai") == [
        "summarization.xsum-server-openai-smollm2-135m", "summarization.xsum-multi_stream-openai-smollm2-135m"]
    cases = select_cases(MATRIX, SelectionInputs(
        wanted={"task": None, "scenario": None, "engine": ["serving"], "model": None}, tasks=TASKS, models=MODELS))
    assert all(c.engine_options == {} for c in cases if c.engine == "serving")


EXTENDED = MatrixSpec.model_validate({"suites": [
    *MATRIX.model_dump()["suites"],
    {"tasks": ["my.task"], "scenarios": ["offline"], "engines": ["hf"], "models": ["smollm2-135m"],
     "preset": "extended"},
]})


def test_a_suite_of_a_preset_runs_with_that_preset_or_when_its_task_is_named():
    def ids(preset: str | None = None, task: str | None = None) -> list[str]:
        lists = {"task": task.split(",") if task else None, "scenario": None, "engine": None, "model": None}
        cases = select_cases(EXTENDED, SelectionInputs(wanted=lists, tasks=TASKS, models=MODELS,
                                                       preset=preset))
        return [c.id for c in narrow(cases, **lists)[0]]

    extra = "my.task-offline-hf-smollm2-135m"
    assert extra not in ids() and extra not in ids(preset="quick")  # the main job leaves it out
    assert extra in ids(preset="extended") and len(ids(preset="extended")) == len(ids()) + 1
    assert ids(task="my.task") == [extra]


def test_a_suite_naming_an_unknown_preset_is_refused():
    from openaiperf.sweeps import check_suite_presets

    bad = MatrixSpec.model_validate({"suites": [{**EXTENDED.model_dump()["suites"][-1], "preset": "nightly"}]})
    with pytest.raises(ConfigError, match=r"m.yaml: suites\[0\].preset: unknown preset 'nightly'; known: .*extended"):
        check_suite_presets(bad, None, source="m.yaml")
    with pytest.raises(ConfigError, match=r"preset 'extended' adds the suites that name it"):
        check_suite_presets(MATRIX, "extended", source="m.yaml")
    check_suite_presets(EXTENDED, "extended", source="m.yaml")
