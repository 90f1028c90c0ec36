"""Tasks: what is asked of the model and how its answers are judged.

A task is a YAML definition (validated by :class:`TaskSpec`: dataset, prompt,
quality targets, scenarios, input profile) plus the implementation its ``kind``
names. Built-in definitions live in ``tasks/builtin/*.yaml``; users add their own
with ``--task-file`` or ``ob task register``. A kind is a :class:`Task` subclass
registered in :data:`task_kinds` (built in: ``summarization``, ``perplexity``,
``chat``, ``synthetic``, ``multiturn``, ``shared_prefix``, ``trace``, ``embeddings``,
``rerank``; any other
with ``@task_kinds.register("name")`` or an ``openaiperf.tasks`` entry point; see ``docs/new-task.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from openaiperf.engines import Engine
from openaiperf.errors import ConfigError, UnknownNameError, validation_error
from openaiperf.metrics import MetricSet
from openaiperf.models import ModelSpec
from openaiperf.records import Record, Workload, salted_workload
from openaiperf.registry import Options, Registry, Requirement, add_registry
from openaiperf.scenarios import ScenarioRun, scenario_class, scenarios, session_scenarios
from openaiperf.specs import Spec, load_yaml_spec
from openaiperf.userdir import user_tasks_dir

BUILTIN_DIR = Path(__file__).with_name("builtin")


class DatasetSpec(Spec):
    source: str = Field(min_length=1,
                        description="path, package:<pkg>/<file>, dist:<distribution>/<file>, or hf:<id>[:<split>]")
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
    #: the score is better lower (perplexity); default: higher (ROUGE)
    lower_is_better: bool | None = None
    unit: str = ""
    #: a column header: the metric is then a column of the case tables and followed over runs
    label: str | None = None


class PerformanceMetricSpec(Spec):
    name: str
    unit: str = ""
    higher_is_better: bool | None = None
    lower_is_better: bool | None = None
    tolerance: float | None = Field(default=None, gt=0)


class MetricsSpec(Spec):
    quality: list[QualityMetricSpec] = Field(default_factory=list)
    performance: list[PerformanceMetricSpec] = Field(default_factory=list)


def dataset_details(spec: DatasetSpec, source: str | None) -> dict[str, Any]:
    """What the report says about a case's data: where it came from, its license, its checksum."""
    return {"dataset_source": source or spec.source, "license": spec.license, "dataset_sha256": spec.sha256}


class ThinkingBudgetSpec(Spec):
    """A thinking budget per sample: the dataset's ``column`` (a CSV column, a JSONL key) holds
    each sample's budget, a count of tokens >= 0, sent at ``field`` of the request's body (a
    dotted path into nested objects: ``max_thinking_tokens``, vLLM's ``thinking_token_budget``,
    ``chat_template_kwargs.thinking_budget``); a sample with no value there (the column absent
    or empty) is sent the task's ``request_body`` as it is (its budget, if it gives one)."""

    column: str = Field(default="thinking_budget", min_length=1)
    field: str = Field(default="max_thinking_tokens", pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class InputProfileSpec(Spec):
    max_length: int = Field(default=2048, gt=0)
    max_new_tokens: int = Field(default=64, gt=0)
    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    #: fields sent as they are in every request's body by HTTP engines, e.g. a reasoning model's
    #: ``chat_template_kwargs: {enable_thinking: false}`` or a thinking budget ``max_thinking_tokens: 256``
    request_body: dict[str, Any] = Field(default_factory=dict)
    #: a thinking budget per sample from a dataset column, over ``request_body``'s (:mod:`openaiperf.tasks.thinking`)
    thinking_budget: ThinkingBudgetSpec | None = None


class WarmupSpec(Spec):
    samples: int = Field(default=2, ge=0)


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
    #: kind-specific settings, validated by the kind's ``Options`` model (e.g. perplexity's stride)
    parameters: dict[str, Any] = Field(default_factory=dict)
    #: the folder of the YAML file it was loaded from (relative dataset paths resolve there)
    _source_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> TaskSpec:
        if self.kind not in task_kinds:
            raise ValueError(f"kind {self.kind!r} is not one of {task_kinds.names()}")
        try:
            kind = task_kinds.get(self.kind)
        except ImportError as exc:
            raise ValueError(f"kind {self.kind!r} cannot be imported ({exc})") from None
        if "eval" not in self.datasets and kind.needs_dataset:
            raise ValueError("datasets must have an 'eval' entry")
        if self.input_profile.thinking_budget is not None and not kind.sample_columns:
            readers = sorted(name for name in task_kinds.names() if kind_reads_columns(name))
            raise ValueError(f"input_profile.thinking_budget: kind {self.kind!r} reads no per-sample column from "
                             f"its dataset; kinds that do: {readers} (or set a budget for every request in "
                             "input_profile.request_body)")

        known = scenarios.names()
        unknown = [s for s in self.scenarios if s not in known]
        if unknown:
            raise ValueError(f"scenarios: unknown scenario(s) {unknown}; known: {known}")
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


class Task:
    """Base class of task kinds: what a task file's ``kind`` names.

    Required: :meth:`load_samples`, :meth:`build_requests`, :meth:`evaluate`. The
    rest has defaults: capabilities (``needs_dataset``: the task file must name a
    ``datasets.eval``; ``needs_model``: samples are made with the case model's
    tokenizer, so a check without a model cannot load them; ``judges_quality``:
    its verdict depends on what the model answers, so cases with random weights
    are skipped: a performance workload sets it False; ``builds_sessions``:
    :meth:`build_requests` returns multi-turn :class:`~openaiperf.records.Session` s,
    which only the scenarios that can drive them run), ``requires``, ``Options``
    (validates the task file's ``parameters``), :meth:`adapt_engine`,
    :meth:`case_metrics`, :meth:`for_round`, :meth:`workload_skip_reason` and :meth:`prefix_cache_metrics`.
    """

    #: the kind's name (set by the registry when the class has none)
    kind: ClassVar[str] = ""
    needs_dataset: ClassVar[bool] = True
    needs_model: ClassVar[bool] = False
    #: the task judges the answers (ROUGE, perplexity...): meaningless with random weights
    judges_quality: ClassVar[bool] = True
    builds_sessions: ClassVar[bool] = False
    #: its loader keeps the extra dataset columns a task file names (``input_profile.thinking_budget.column``)
    sample_columns: ClassVar[bool] = False
    #: its requests share prefixes on purpose (shared prefix, multi-turn): a round salts them all alike;
    #: otherwise the workload is cold, every request salted on its own (see :meth:`for_round`)
    shares_prefixes: ClassVar[bool] = False
    #: its prompts may carry a salt (False where a salt would change what is judged: perplexity's scored text)
    salts_prompts: ClassVar[bool] = True
    requires: ClassVar[tuple[Requirement, ...]] = ()
    #: the task file's ``parameters``; the base takes none
    Options: ClassVar[type[BaseModel]] = Options

    spec: TaskSpec
    #: the task file's ``parameters``, validated by :attr:`Options` (an instance of it)
    parameters: BaseModel
    #: where its dataset was read from, once loaded (``datasets.eval`` or ``--dataset-source``)
    source: str | None = None
    #: False when the dataset file was cut off and only the entries before the cut were read
    complete: bool = True

    def __init__(self, spec: TaskSpec, *, dataset_source: str | None = None, base_dir: Path | None = None,
                 model: ModelSpec | None = None) -> None:
        self.spec = spec
        self.dataset_source = dataset_source
        self.base_dir = base_dir
        self.model = model
        self.parameters = parse_parameters(self.Options, spec.parameters, source=f"task {spec.name}")

    def data_details(self) -> dict[str, Any]:
        """What the report says about the case's data (:func:`dataset_details`), and a note when the
        file was cut off."""
        details = dataset_details(self.spec.datasets["eval"], self.source)
        if not self.complete:
            details["dataset_note"] = "the dataset file is cut off; the entries before the cut are used"
        return details

    def load_samples(self, max_samples: int | None, seed: int | None) -> list[Sample]:
        """The samples (``max_samples`` of them, a subset drawn with ``seed`` when given)."""
        raise NotImplementedError

    def build_requests(self, samples: Sequence[Sample], model: ModelSpec | None) -> Workload:
        """The workload: one :class:`~openaiperf.records.Request` per sample, or (a kind that
        ``builds_sessions``) one multi-turn :class:`~openaiperf.records.Session` per sample.
        ``model``: the case's model (its ``chat`` template, ``context_length``...); None when
        the task is checked without one."""
        raise NotImplementedError

    def evaluate(self, samples: Sequence[Sample], records: Sequence[Record], model: ModelSpec | None) -> QualityResult:
        """Quality of the first measured round's answers, with the verdict of each target."""
        raise NotImplementedError

    def adapt_engine(self, engine: Engine) -> Engine:
        """The engine the requests go to: the case's, or (a task whose requests are not
        generation, as perplexity's scoring) an adapter around it."""
        return engine

    def case_metrics(self, records: Sequence[Record], runs: Sequence[ScenarioRun]) -> MetricSet:
        """Task-specific metrics (e.g. scored tokens/s), added to the case's."""
        return {}

    def declares_sharing(self) -> bool:
        """Whether this workload's requests share prefixes on purpose (default: ``shares_prefixes``)."""
        return self.shares_prefixes

    def for_round(self, requests: Workload, tag: str) -> Workload:
        """The requests of one measured round (or of the warmup), salted. ``tag`` is unique
        to the run (its salt), the case, the round and the attempt at it. A workload that
        shares prefixes on purpose gets ``tag`` in front of every prompt: the requests that
        share a prefix still share it, and an engine's prefix cache starts each round with
        none of them (not from an earlier round, attempt, case or run), so the round's reuse
        is its own. A cold workload (every other) gets a salt of its own in front of each
        prompt (:func:`request_salt`), so no measured prompt begins like one the server has
        seen. Unchanged where the task does not salt (``salts_prompts``)."""
        if not self.salts_prompts:
            return requests
        if self.declares_sharing():
            return salted_workload(requests, lambda index: tag)
        return salted_workload(requests, lambda index: request_salt(tag, index))

    @classmethod
    def workload_skip_reason(cls, scenario: str) -> str | None:
        """Why ``scenario`` cannot run this kind's workload (sessions on a scenario that cannot
        drive them), or None."""
        if not cls.builds_sessions:
            return None
        try:
            scenario_cls = scenario_class(scenario)
        except Exception:
            return None  # an unknown or broken scenario has its own error
        if scenario_cls.sessions:
            return None
        return (f"scenario {scenario!r} cannot drive multi-turn sessions (task kind {cls.kind!r}); "
                f"scenarios that can: {', '.join(session_scenarios())}")

    def prefix_cache_metrics(self, runs: Sequence[ScenarioRun], block_size: int | None) -> MetricSet:
        """What an ideal prefix cache would have served of the prompts the rounds sent
        (``runs[i].requests``), for a workload that can tell (e.g. the fraction of prompt
        tokens); ``block_size``: the engine's KV-cache block, when the server said."""
        return {}


def kind_reads_columns(name: str) -> bool:
    """Whether the task kind ``name`` keeps extra dataset columns (False where it cannot be imported)."""
    try:
        return bool(task_kinds.get(name).sample_columns)
    except ImportError:
        return False


def request_salt(tag: str, index: int) -> str:
    """The salt of request ``index`` of a cold workload's round tagged ``tag``: a bracketed
    8-hex-digit tag (e.g. ``[3f9a2c1b]``), the same length for every request."""
    import hashlib

    return f"[{hashlib.sha256(f'{tag}#{index}'.encode()).hexdigest()[:8]}]"


#: the task-kind registry
task_kinds: Registry[type[Task]] = add_registry(Registry(
    "task kind", "openaiperf.tasks",
    builtins={
        "summarization": "openaiperf.tasks.summarization:SummarizationTask",
        "perplexity": "openaiperf.tasks.perplexity:PerplexityTask",
        "chat": "openaiperf.tasks.chat:ChatTask",
        "synthetic": "openaiperf.tasks.synthetic:SyntheticTask",
        "multiturn": "openaiperf.tasks.multiturn:MultiTurnTask",
        "shared_prefix": "openaiperf.tasks.shared_prefix:SharedPrefixTask",
        "trace": "openaiperf.tasks.trace:TraceTask",
        "embeddings": "openaiperf.tasks.pooling:EmbeddingsTask",
        "rerank": "openaiperf.tasks.pooling:RerankTask",
    },
    base=Task, required=("load_samples", "build_requests", "evaluate")))


def builtin_task_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.yaml"))}


def task_class(kind: str) -> type[Task]:
    return task_kinds.get(kind, source="kind")


def parse_parameters(parameters_spec: type[BaseModel], data: dict[str, Any], *, source: str) -> Any:
    """Validate a task's ``parameters`` mapping; errors name ``parameters.<field>``."""
    from pydantic import ValidationError

    try:
        return parameters_spec.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source=source, model=parameters_spec, prefix="parameters") from None


def load_task_spec(path: Path) -> TaskSpec:
    """Load and validate one task YAML, including its kind's ``parameters``."""
    path = Path(path)
    spec = load_yaml_spec(TaskSpec, path)
    parse_parameters(task_class(spec.kind).Options, spec.parameters, source=str(path))
    spec._source_dir = path.resolve().parent
    return spec


def user_task_files() -> dict[str, Path]:
    """Tasks registered with ``ob task register`` (the user registry folder)."""
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
    """Build the task ``name`` (``options``: ``dataset_source``, ``base_dir``, ``model``)."""
    if name not in specs:
        raise UnknownNameError("task", name, list(specs), source="--task")
    spec = specs[name]
    options = dict(options or {})
    if spec.source_dir is not None:
        options["base_dir"] = spec.source_dir
    return task_class(spec.kind)(spec, **options)


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
