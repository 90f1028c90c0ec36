"""Tasks: what is asked of the model and how its answers are judged.

A task is a YAML definition (seed 000's schema, validated by :class:`TaskSpec`)
plus the implementation its ``kind`` names. Built-in definitions live in
``tasks/builtin/*.yaml``; users add their own with ``--task-file``. Adding a task
kind: one module with a class implementing :class:`Task`, one line in
:data:`TASK_KINDS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Sequence

from pydantic import Field, PrivateAttr, model_validator

from openaiperf.errors import ConfigError, UnknownNameError
from openaiperf.specs import Spec, load_yaml_spec

BUILTIN_DIR = Path(__file__).with_name("builtin")

TASK_KINDS: dict[str, str] = {
    "summarization": "openaiperf.tasks.summarization:SummarizationTask",
    "perplexity": "openaiperf.tasks.perplexity:PerplexityTask",
    "chat": "openaiperf.tasks.chat:ChatTask",
    "synthetic": "openaiperf.tasks.synthetic:SyntheticTask",
}

#: kinds that generate their inputs (no ``datasets.eval`` needed)
DATASET_FREE_KINDS: set[str] = {"synthetic"}


class DatasetSpec(Spec):
    source: str = Field(min_length=1, description="path, package:<pkg>/<file>, dist:<distribution>/<file>, or hf:<id>[:<split>]")
    format: Literal["csv", "jsonl", "json", "text", "hf"] = "csv"
    sha256: str | None = None
    license: str = "unknown"
    #: task field -> column in the file
    columns: dict[str, str] = Field(default_factory=dict)


class QualityMetricSpec(Spec):
    name: str
    #: a number, or "reference": the stored reference for the model
    target: float | Literal["reference"] = "reference"
    #: with a reference target: the fraction of it that must be reached (MLPerf: 0.99)
    min_ratio: float = Field(default=0.99, gt=0, le=1)
    #: relative band around the reference (e.g. 0.1 = ±10%) for two-sided metrics
    tolerance: float | None = Field(default=None, gt=0)
    higher_is_better: bool | None = None
    lower_is_better: bool | None = None
    unit: str = ""


class PerformanceMetricSpec(Spec):
    name: str
    unit: str = ""
    higher_is_better: bool | None = None
    lower_is_better: bool | None = None
    tolerance: float | None = Field(default=None, gt=0)


class MetricsSpec(Spec):
    quality: list[QualityMetricSpec] = Field(default_factory=list)
    performance: list[PerformanceMetricSpec] = Field(default_factory=list)


class InputProfileSpec(Spec):
    max_length: int = Field(default=2048, gt=0)
    max_new_tokens: int = Field(default=64, gt=0)
    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)


class WarmupSpec(Spec):
    samples: int = Field(default=2, ge=0)
    batches: int = Field(default=0, ge=0)


class PromptSpec(Spec):
    system: str | None = None
    user: str


class TaskSpec(Spec):
    name: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_\-]+)*$")
    version: str = "1.0.0"
    description: str = ""
    kind: str
    datasets: dict[str, DatasetSpec] = Field(default_factory=dict)
    metrics: MetricsSpec = Field(default_factory=MetricsSpec)
    scenarios: list[str] = Field(default_factory=lambda: ["offline", "single_stream"])
    input_profile: InputProfileSpec = Field(default_factory=InputProfileSpec)
    warmup: WarmupSpec = Field(default_factory=WarmupSpec)
    prompt: PromptSpec | None = None
    #: per-model reference values (model -> metric -> value) for "reference" targets
    references: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: default SLA bounds for online scenarios, ms
    sla: dict[str, float] = Field(default_factory=dict)
    #: kind-specific settings, validated by the kind's ``Parameters`` spec (e.g. perplexity's stride)
    parameters: dict[str, Any] = Field(default_factory=dict)
    #: the folder of the YAML file it was loaded from (relative dataset paths resolve there)
    _source_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> TaskSpec:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {sorted(TASK_KINDS)}")
        if "eval" not in self.datasets and self.kind not in DATASET_FREE_KINDS:
            raise ValueError("datasets must have an 'eval' entry")
        from openaiperf.scenarios import known_scenarios

        unknown = [s for s in self.scenarios if s not in known_scenarios()]
        if unknown:
            raise ValueError(f"scenarios: unknown scenario(s) {unknown}; known: {known_scenarios()}")
        return self

    @property
    def source_dir(self) -> Path | None:
        return self._source_dir


@dataclass
class Sample:
    id: str
    fields: dict[str, Any]


@dataclass
class QualityResult:
    """Quality scores (name -> value), their confidence intervals, and the verdict
    of each target: name -> (passed, explanation)."""

    scores: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    checks: dict[str, tuple[bool, str]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(ok for ok, _ in self.checks.values())


class Task(Protocol):
    kind: ClassVar[str]
    spec: TaskSpec

    def load_samples(self, max_samples: int | None, seed: int | None) -> list[Sample]: ...

    def build_requests(self, samples: Sequence[Sample], model: Any) -> list[Any]: ...

    def evaluate(self, samples: Sequence[Sample], records: Sequence[Any], model: Any) -> QualityResult: ...


def builtin_task_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.yaml"))}


def task_class(kind: str) -> type:
    module_name, _, attr = TASK_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def parse_parameters(parameters_spec: type, data: dict[str, Any], *, source: str) -> Any:
    """Validate a task's ``parameters`` mapping; errors name ``parameters.<field>``."""
    from pydantic import ValidationError

    from openaiperf.specs import describe_validation_error

    try:
        return parameters_spec.model_validate(data)
    except ValidationError as exc:
        field_name, message = describe_validation_error(exc)
        raise ConfigError(message, source=source, field=f"parameters.{field_name}") from None


def load_task_spec(path: Path) -> TaskSpec:
    """Load and validate one task YAML, including its kind's ``parameters``."""
    path = Path(path)
    spec = load_yaml_spec(TaskSpec, path)
    parameters_spec = getattr(task_class(spec.kind), "Parameters", None)
    if parameters_spec is not None:
        parse_parameters(parameters_spec, spec.parameters, source=str(path))
    spec._source_dir = path.resolve().parent
    return spec


def user_task_files() -> dict[str, Path]:
    """Tasks registered with ``ob task register`` (the user registry folder)."""
    from openaiperf.userdir import user_tasks_dir

    folder = user_tasks_dir()
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def load_task_specs(extra_files: Sequence[Path] = (), *, include_user: bool = True) -> dict[str, TaskSpec]:
    """Built-in tasks, then registered ones, then ``extra_files`` (later names win)."""
    specs: dict[str, TaskSpec] = {}
    user = list(user_task_files().values()) if include_user else []
    for path in [*builtin_task_files().values(), *user, *extra_files]:
        spec = load_task_spec(Path(path))
        specs[spec.name] = spec
    return specs


def create_task(name: str, specs: dict[str, TaskSpec], options: dict[str, Any] | None = None) -> Task:
    """Build the task ``name``. Options a kind's constructor does not take (``model``,
    needed only by kinds that tokenize while loading) are dropped."""
    import inspect

    if name not in specs:
        raise UnknownNameError("task", name, list(specs), source="--task")
    spec = specs[name]
    cls = task_class(spec.kind)
    options = dict(options or {})
    if spec.source_dir is not None:
        options["base_dir"] = spec.source_dir
    accepted = inspect.signature(cls).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        options = {k: v for k, v in options.items() if k in accepted}
    return cls(spec, **options)


def select_subset(samples: list[Sample], max_samples: int | None, seed: int | None, *, source: str) -> list[Sample]:
    """A reproducible subset: the first ``max_samples`` (no seed) or a seeded sample."""
    if max_samples is None or max_samples >= len(samples):
        if max_samples is not None and max_samples > len(samples):
            raise ConfigError(
                f"--max-samples {max_samples} exceeds the {len(samples)} samples the dataset has "
                f"(use --max-samples {len(samples)} or less, or a larger dataset)",
                source=source,
            )
        return samples
    if seed is None:
        return samples[:max_samples]
    import numpy as np

    index = np.random.default_rng(seed).choice(len(samples), size=max_samples, replace=False)
    return [samples[i] for i in sorted(index)]
