"""The session state every case shares (:class:`BenchSession`: the hardware, the
registries, the run folder, the results) and the start-up checks that build it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from openaiperf.baselines.ab import check_engine_overrides
from openaiperf.baselines.gate import check_settings
from openaiperf.baselines.settings import BaselineSettings
from openaiperf.case_options import check_engine_options
from openaiperf.engines import engines
from openaiperf.errors import OpenAIPerfError
from openaiperf.hardware import load_profile
from openaiperf.hardware.probe import match_profile, probe_system
from openaiperf.models import load_registry
from openaiperf.options import options, recorded_options
from openaiperf.plugin.options import check_options
from openaiperf.profiling.nsight import ProfilerToolMissing, wrap_session
from openaiperf.redact import redact, redact_argv
from openaiperf.report import RunReport, make_run_dir
from openaiperf.report.results import results_document, write_results
from openaiperf.runner.settings import RunSettings
from openaiperf.scenarios import scenarios
from openaiperf.settings import SelectionSettings
from openaiperf.sweeps import preset_options, sweep_axes
from openaiperf.tasks import load_task_spec, load_task_specs, user_task_files

if TYPE_CHECKING:
    from openaiperf.models import ModelSpec
    from openaiperf.result import CaseResult, RunResult, SystemInfo
    from openaiperf.tasks import TaskSpec

def _unprobed() -> SystemInfo:
    """The system before the probe (imported when first needed: the plugin loads in every pytest run)."""
    from openaiperf.result import SystemInfo

    return SystemInfo()


SESSION_KEY = pytest.StashKey["BenchSession"]()
REGISTRY_STATE = pytest.StashKey[dict[str, Any]]()


@dataclass
class BenchSession:
    """What every case of the session shares: the hardware, the registries, the run folder."""

    config: pytest.Config
    hardware: Any = None
    system: SystemInfo = field(default_factory=lambda: _unprobed())
    models: dict[str, ModelSpec] = field(default_factory=dict)
    tasks: dict[str, TaskSpec] = field(default_factory=dict)
    run_dir: Path | None = None
    results: list[CaseResult] = field(default_factory=list)
    #: tasks from --task-file and ``ob task register`` (they join the matrix)
    file_tasks: list[str] = field(default_factory=list)
    load_error: str | None = None
    #: results file in the run folder (an xdist worker writes its own partial file)
    results_name: str = "results.json"
    #: the matrix files collected (``ob pack --include-configs`` packs them, with the task and model files)
    matrix_files: set[Path] = field(default_factory=set)
    #: the run's settings, read once from the command line (:meth:`read_settings`)
    selection: SelectionSettings = field(default_factory=SelectionSettings)
    run: RunSettings = field(default_factory=RunSettings)
    baseline: BaselineSettings = field(default_factory=BaselineSettings)

    def option(self, name: str) -> Any:
        """An option's value by name: what the typed settings are read from, and the flags the
        registered engines' and scenarios' options declare; None for a flag a class registered
        after the options were added declares (a conftest's scenario: its options come from the matrix)."""
        return self.config.getoption(name, None)

    def read_settings(self) -> None:
        """The typed settings of the command line (its values checked before)."""
        self.selection = SelectionSettings.from_options(self.option)
        self.run = RunSettings.from_options(self.option)
        self.baseline = BaselineSettings.from_options(self.option)

    def load(self) -> None:
        """Resolve --hw, probe the system, load the registries (errors name the option/file)."""
        selection = self.selection
        dirs = [Path(d) for d in selection.hw_dir] or None
        self.system = probe_system()
        name = selection.hw
        if name == "auto":
            name = match_profile(self.system, dirs)
        self.hardware = load_profile(name, dirs)
        # --weights sets every model's weights kind (default: each entry's own `weights:`).
        self.models = {name: spec.with_weights(self.run.weights)
                       for name, spec in load_registry([Path(p) for p in selection.model_file]).items()}
        task_files = [Path(p) for p in selection.task_file]
        self.tasks = load_task_specs(task_files)
        # Registered (`ob task register`) and --task-file tasks join the matrix.
        self.file_tasks = [load_task_spec(p).name for p in [*user_task_files().values(), *task_files]]

    def ensure_run_dir(self) -> Path:
        if self.run_dir is None:
            base = Path(self.run.report_dir)
            if not base.is_absolute():
                base = Path(self.config.rootpath) / base
            self.run_dir = make_run_dir(base, self.hardware.name)
        return self.run_dir

    def dtype_for(self, model: ModelSpec) -> str:
        explicit = self.run.dtype
        if explicit:
            return str(explicit)
        return str(self.hardware.default_dtype if self.hardware.device == "cpu" else model.dtype)

    def run_config(self) -> dict[str, Any]:
        """The run's options as given (secrets masked: results.py redacts the whole
        document again when it writes it)."""
        return {"hardware_profile": self.hardware.model_dump() if self.hardware else None,
                "options": redact({k: self.option(k) for k in recorded_options()}),
                "pytest_args": redact_argv(self.config.invocation_params.args),
                "config_files": self.config_files()}

    def config_files(self) -> list[str]:
        """The files that defined the run: matrix files collected, --task-file and --model-file."""
        given = [Path(self.config.invocation_params.dir) / p
                 for p in [*self.selection.task_file, *self.selection.model_file,
                           *([self.selection.matrix] if self.selection.matrix else [])]]
        return sorted({str(p.resolve()) for p in [*self.matrix_files, *given]})

    def document(self) -> RunResult:
        """The run's typed results (what results.json holds)."""
        return results_document(self.system, self.run_config(), self.results)

    def add_result(self, result: CaseResult) -> None:
        self.results.append(result)
        self.write_results()

    def write_results(self) -> None:
        run_dir = self.ensure_run_dir()
        write_results(run_dir / self.results_name, self.document())

    def report(self, width: int = 240) -> Any:
        """What the report writers get (:class:`openaiperf.report.RunReport`)."""
        return RunReport(run_dir=self.ensure_run_dir(), document=self.document(),
                         hardware=self.hardware.name if self.hardware else "?", root=Path(self.config.rootpath),
                         option=self.option, width=width)


def get_session(config: pytest.Config) -> BenchSession:
    return config.stash[SESSION_KEY]


def check_selection(config: pytest.Config, session: BenchSession) -> None:
    """Refuse, at start-up, a --task/--scenario/--engine/--model name nobody knows,
    listing the accepted ones (otherwise it would select nothing in silence), and an
    --engine-option an engine does not take."""
    known: dict[str, Any] = {"scenario": scenarios.names(), "engine": engines.names()}
    if session.load_error is None:  # the registries loaded
        known |= {"task": list(session.tasks), "model": list(session.models)}
    wanted = session.selection.wanted()
    for kind, names in known.items():
        for value in wanted[kind] or ():
            if value not in names:
                raise pytest.UsageError(f"--{kind}: unknown {kind} {value!r}; known: {', '.join(sorted(names))}")
    try:
        check_engine_options(session.selection.engine_option)
        check_engine_overrides(session.baseline)
    except OpenAIPerfError as exc:
        raise pytest.UsageError(str(exc)) from None


def _explicit_bench_run(config: pytest.Config, matrix: str | None) -> bool:
    """True when the command line names benchmarks (a matrix file, or a folder holding
    one), so that start-up errors are fatal."""
    for arg in config.args:
        path = Path(str(arg).split("::")[0])
        if path.name == "benchmarks" or path.name.endswith(("matrix.yaml", "matrix.yml")):
            return True
        if path.is_dir() and (any(path.glob("matrix.yaml")) or any(path.glob("*.matrix.yaml"))):
            return True
    return bool(matrix)


def _collect_matrix_option(config: pytest.Config, path: str | None) -> None:
    """A --matrix file outside the folders on the command line is collected too."""
    if not path:
        return
    matrix = Path(path).resolve()
    for arg in config.args:
        given = Path(str(arg).split("::")[0]).resolve()
        if given == matrix or (given.is_dir() and matrix.is_relative_to(given)):
            return
    config.args.append(str(matrix))


def report_dir_problem(path: Path) -> str | None:
    """Why runs cannot be written under ``path`` (checked at start-up; nothing is created), or None."""
    existing = path
    while not existing.exists():
        if existing.is_symlink():
            return f"{existing} is a broken link"
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder" if existing != path else "it is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def check_report_dir(config: pytest.Config, report_dir: str) -> None:
    base = Path(report_dir)
    base = base if base.is_absolute() else Path(config.rootpath) / base
    problem = report_dir_problem(base)
    if problem:
        raise pytest.UsageError(f"--report-dir: cannot write runs under {report_dir} ({problem}); "
                                "give a folder that exists or can be created")


def apply_preset_options(config: pytest.Config) -> None:
    """The --preset's options, where the command line left them at their defaults."""
    name = config.getoption("preset", None)
    if not name:
        return

    try:
        given = preset_options(name)
    except OpenAIPerfError as exc:
        raise pytest.UsageError(str(exc)) from None
    defaults = {o.dest: o.kwargs()["default"] for o in options()}
    for dest, value in given.items():
        if config.getoption(dest, None) == defaults[dest]:
            setattr(config.option, dest, value)


def pytest_configure(config: pytest.Config) -> None:
    # Not named "openaiperf": -k matches marker names, and -k openai would then select every case.
    config.addinivalue_line("markers", "ob_case: an OpenAIPerf benchmark case")
    # Reports, Allure, xdist merging and GPU pinning live in their own plugin module.
    config.pluginmanager.import_plugin("openaiperf.plugin.reporting")

    session = BenchSession(config)
    config.stash[SESSION_KEY] = session
    apply_preset_options(config)
    check_options(session.option)
    try:
        session.read_settings()
        check_settings(session.baseline, session.run.repeats)
    except OpenAIPerfError as exc:
        raise pytest.UsageError(str(exc)) from None
    selection = session.selection
    explicit = _explicit_bench_run(config, selection.matrix)
    if explicit:
        check_report_dir(config, session.run.report_dir)
    try:
        session.load()
    except OpenAIPerfError as exc:
        if selection.hw != "auto" or explicit:
            raise pytest.UsageError(str(exc)) from None
        # `pytest tests` on a machine --hw auto cannot place must still run the
        # project's own tests: the error waits for the first benchmark case.
        session.load_error = str(exc)
    check_selection(config, session)

    try:  # a bad sweep or preset: stop before collection, naming the option
        sweep_axes(selection.sweep, selection.preset)
    except OpenAIPerfError as exc:
        raise pytest.UsageError(str(exc)) from None
    _collect_matrix_option(config, selection.matrix)
    profile = session.run.profile
    if profile in ("nsys", "ncu") and not hasattr(config, "workerinput"):
        try:
            wrap_session(profile, list(config.invocation_params.args), Path(config.rootpath) / session.run.report_dir)
        except ProfilerToolMissing as exc:
            raise pytest.UsageError(str(exc)) from None
