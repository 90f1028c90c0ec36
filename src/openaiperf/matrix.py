"""The suite definition: which cases exist.

``benchmarks/matrix.yaml`` lists suites; each expands to the cross product of its
tasks × scenarios × engines × models. A case's id reads
``<task>-<scenario>-<engine>-<model>`` (e.g. ``summarization.xsum-offline-hf-smollm2-135m``)
so that ``-k llama3``, ``-k offline`` or ``-k hf`` select what users expect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from openaiperf.errors import UnknownNameError
from openaiperf.specs import Spec, load_yaml_spec
from openaiperf.tasks import InputProfileSpec


class SuiteSpec(Spec):
    name: str = ""
    tasks: list[str] = Field(min_length=1)
    scenarios: list[str] = Field(min_length=1)
    engines: list[str] = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    #: engine name -> options passed to that engine
    engine_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: scenario name -> options for that scenario
    scenario_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: samples per case unless --max-samples says otherwise (keeps slow CPU suites short)
    max_samples: int | None = Field(default=None, gt=0)
    #: key -> values: the suite's cases once per combination, as ``--sweep`` makes them (the values
    #: show in the case ids, e.g. ``[enable_prefix_caching=true]``; keys as in --sweep)
    sweep: dict[str, list[Any]] = Field(default_factory=dict)
    #: overrides of the tasks' input profile for this suite's cases (max_new_tokens, temperature,
    #: top_p, max_length), e.g. shorter replies where a suite measures timing, not quality
    input_profile: dict[str, Any] = Field(default_factory=dict)
    #: a preset the suite belongs to: it runs only with ``--preset <name>``, or when ``--task`` names
    #: one of its tasks (the suites a main job leaves out for time)
    preset: str | None = None

    @field_validator("input_profile")
    @classmethod
    def _known_profile_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        InputProfileSpec.model_validate(value)  # names an unknown key or a bad value
        return value


class MatrixSpec(Spec):
    suites: list[SuiteSpec] = Field(min_length=1)
    #: also measure the machine (GEMM and memory-copy rates against the hardware
    #: profile) when the whole suite runs
    calibration: bool = False


@dataclass(frozen=True)
class Case:
    task: str
    scenario: str
    engine: str
    model: str
    # Not in repr: pytest plugins (Allure, pytest-benchmark) write a parameter's repr into their
    # files, and engine options may hold server flags with secrets; to_json() shows them, redacted.
    engine_options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)
    scenario_options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)
    #: task input-profile overrides (max_new_tokens, temperature...), set by sweeps
    task_options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)
    #: the suite's default sample count (--max-samples overrides it)
    max_samples: int | None = field(default=None, hash=False, compare=False)
    #: the swept parameter values of this case ("batch_size=2,max_tokens=50"), part of its id
    variant: str = ""

    @property
    def base_id(self) -> str:
        return f"{self.task}-{self.scenario}-{self.engine}-{self.model}"

    @property
    def id(self) -> str:
        return f"{self.base_id}[{self.variant}]" if self.variant else self.base_id

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task, "scenario": self.scenario, "engine": self.engine, "model": self.model,
            "engine_options": self.engine_options, "scenario_options": self.scenario_options,
            **({"task_options": self.task_options} if self.task_options else {}),
            **({"variant": self.variant, "base_id": self.base_id} if self.variant else {}),
        }


def load_matrix(path: Path) -> MatrixSpec:
    return load_yaml_spec(MatrixSpec, path)


def active_suites(matrix: MatrixSpec, preset: str | None, tasks: Sequence[str] = ()) -> MatrixSpec:
    """The matrix without the suites of another preset than ``preset`` (a suite of a preset
    stays when one of its tasks is in ``tasks``, the ones the command line names)."""
    kept = [suite for suite in matrix.suites
            if suite.preset is None or suite.preset == preset or set(suite.tasks) & set(tasks)]
    return matrix if len(kept) == len(matrix.suites) else matrix.model_copy(update={"suites": kept})


def check_names(cases: Sequence[Case], known: dict[str, Sequence[str]], source: str) -> None:
    """Every task/scenario/engine/model a case names must be known."""
    for case in cases:
        for kind in ("task", "scenario", "engine", "model"):
            value = getattr(case, kind)
            if value not in known[kind]:
                raise UnknownNameError(kind, value, list(known[kind]), source=source)


def parse_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def narrow(cases: Sequence[Case], **wanted: list[str] | None) -> tuple[list[Case], list[Case]]:
    """Split cases into (kept, dropped) by the --task/--scenario/--engine/--model lists."""
    kept: list[Case] = []
    dropped: list[Case] = []
    for case in cases:
        ok = all(values is None or getattr(case, kind) in values for kind, values in wanted.items())
        (kept if ok else dropped).append(case)
    return kept, dropped
