"""The pytest plugin (registered through the ``pytest11`` entry point).

It adds the ``openaiperf`` option group, turns the suite definition
(``benchmarks/matrix.yaml``) into one parametrized case per
task × scenario × engine × model, skips cases the selected hardware cannot run
(with the reason), and writes the run's reports at the end of the session.
Fixtures live in the repository's ``fixtures/`` package, loaded by the root
``conftest.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from openaiperf.errors import OpenAIPerfError
from openaiperf.matrix import Case, check_names, expand, load_matrix, narrow, parse_list

CASE_FIXTURE = "bench_case"
SESSION_KEY = pytest.StashKey["BenchSession"]()


# -- options ------------------------------------------------------------------------------
def add_selection_options(group: Any) -> None:
    group.addoption("--hw", default="auto", metavar="NAME|auto",
                    help="hardware profile (hardware_profiles/<NAME>.yaml), or 'auto' to probe the machine (default)")
    group.addoption("--hw-dir", action="append", default=[], metavar="DIR",
                    help="extra directory of hardware profiles (searched first)")
    group.addoption("--matrix", default=None, metavar="PATH",
                    help="suite definition (default: benchmarks/matrix.yaml under the rootdir)")
    for kind in ("task", "scenario", "engine", "model"):
        group.addoption(f"--{kind}", default=None, metavar="A,B",
                        help=f"run only these {kind}s (comma-separated)")
    group.addoption("--model-file", action="append", default=[], metavar="YAML",
                    help="extra model registry entries")
    group.addoption("--task-file", action="append", default=[], metavar="YAML",
                    help="extra task definition (joins the matrix's tasks)")


def add_run_options(group: Any) -> None:
    group.addoption("--max-samples", type=int, default=None, metavar="N", help="samples per case (default: all)")
    group.addoption("--repeats", type=int, default=1, metavar="N",
                    help="measured rounds per case (pytest-benchmark rounds)")
    group.addoption("--subset-seed", type=int, default=None, metavar="SEED",
                    help="pick --max-samples samples at random with this seed (default: the first N)")
    group.addoption("--warmup-samples", type=int, default=None, metavar="N",
                    help="warmup requests before measuring (default: the task's warmup.samples)")
    group.addoption("--dtype", default=None, help="model dtype (default: hardware profile's on CPU, else the model's)")
    group.addoption("--dataset-source", default=None, metavar="PATH|hf:ID",
                    help="load the task's eval dataset from here (e.g. the real XSum CSV)")
    group.addoption("--max-error-rate", type=float, default=0.0, metavar="FRACTION",
                    help="fail a case whose failed-request fraction exceeds this (default 0)")
    group.addoption("--report-dir", default="reports", metavar="DIR",
                    help="where run folders are written (default: reports)")


def add_baseline_options(group: Any) -> None:
    group.addoption("--baseline-save", nargs="?", const="", default=None, metavar="DIR",
                    help="store each passing case as the baseline in DIR/<hw>/<case>.json (default DIR: baselines)")
    group.addoption("--baseline-compare", nargs="?", const="", default=None, metavar="PATH",
                    help="compare each case with its baseline under PATH (default: baselines); a case fails on a "
                         "significant change beyond tolerance")
    group.addoption("--baseline-required", action="store_true", default=False,
                    help="a case without a baseline fails (implies --baseline-compare)")
    group.addoption("--baseline-force", action="store_true", default=False,
                    help="compare with a baseline of another hardware profile")
    group.addoption("--tolerance", action="append", default=[], metavar="METRIC=FRACTION",
                    help="relative tolerance of a metric, e.g. ttft_p90=0.05 (repeatable)")


def add_report_options(group: Any) -> None:
    group.addoption("--no-html-report", action="store_true", default=False,
                    help="do not write report.html into the run folder at the end of the session")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("openaiperf", "OpenAIPerf LLM benchmarks")
    add_selection_options(group)
    add_run_options(group)
    add_baseline_options(group)
    add_report_options(group)


# -- session state ------------------------------------------------------------------------
@dataclass
class BenchSession:
    """What every case of the session shares: the hardware, the registries, the run folder."""

    config: pytest.Config
    hardware: Any = None
    system: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    file_tasks: list[str] = field(default_factory=list)
    #: results file in the run folder (an xdist worker writes its own partial file)
    results_name: str = "results.json"

    def option(self, name: str) -> Any:
        return self.config.getoption(name)

    def load(self) -> None:
        """Resolve --hw, probe the system, load the registries (errors name the option/file)."""
        from openaiperf.hardware import load_profile
        from openaiperf.hardware.probe import match_profile, probe_system
        from openaiperf.models import load_registry
        from openaiperf.tasks import load_task_specs

        dirs = [Path(d) for d in self.option("hw_dir")] or None
        self.system = probe_system()
        name = self.option("hw")
        if name == "auto":
            name = match_profile(self.system, dirs)
        self.hardware = load_profile(name, dirs)
        self.models = load_registry([Path(p) for p in self.option("model_file")])
        from openaiperf.tasks import load_task_spec

        task_files = [Path(p) for p in self.option("task_file")]
        self.tasks = load_task_specs(task_files)
        self.file_tasks = [load_task_spec(p).name for p in task_files]

    def ensure_run_dir(self) -> Path:
        if self.run_dir is None:
            from openaiperf.report import make_run_dir

            base = Path(self.option("report_dir"))
            if not base.is_absolute():
                base = Path(self.config.rootpath) / base
            self.run_dir = make_run_dir(base, self.hardware.name)
        return self.run_dir

    def dtype_for(self, model: Any) -> str:
        explicit = self.option("dtype")
        if explicit:
            return explicit
        return self.hardware.default_dtype if self.hardware.device == "cpu" else model.dtype

    def run_config(self) -> dict[str, Any]:
        keys = ("hw", "matrix", "task", "scenario", "engine", "model", "max_samples", "repeats",
                "subset_seed", "warmup_samples", "dtype", "dataset_source", "max_error_rate")
        return {"hardware_profile": self.hardware.model_dump() if self.hardware else None,
                "options": {k: self.option(k) for k in keys},
                "pytest_args": list(self.config.invocation_params.args)}

    def add_result(self, result: dict[str, Any]) -> None:
        self.results.append(result)
        self.write_results()

    def write_results(self) -> None:
        from openaiperf.report.results import results_document, write_results

        run_dir = self.ensure_run_dir()
        write_results(run_dir / self.results_name, results_document(self.system, self.run_config(), self.results))


def get_session(config: pytest.Config) -> BenchSession:
    return config.stash[SESSION_KEY]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "openaiperf: an OpenAIPerf benchmark case")
    # Reports, Allure, xdist merging and GPU pinning live in their own plugin module.
    config.pluginmanager.import_plugin("openaiperf.report.plugin")
    session = BenchSession(config)
    config.stash[SESSION_KEY] = session
    try:
        session.load()
    except OpenAIPerfError as exc:
        raise pytest.UsageError(str(exc)) from None


# -- collection ---------------------------------------------------------------------------
def matrix_path(config: pytest.Config, test_file: Path) -> Path:
    explicit = config.getoption("matrix")
    if explicit:
        return Path(explicit)
    return test_file.parent / "matrix.yaml"


def build_cases(session: BenchSession, path: Path) -> list[Case]:
    from openaiperf.engines import known_engines
    from openaiperf.scenarios import known_scenarios

    from openaiperf.matrix import MatrixSpec

    matrix = load_matrix(path)
    cases = expand(matrix)
    # A --task-file task joins the matrix with the first suite's scenarios, engines and models.
    file_tasks = [name for name in session.file_tasks if name not in {c.task for c in cases}]
    if file_tasks:
        cases += expand(MatrixSpec(suites=[matrix.suites[0].model_copy(update={"tasks": file_tasks})]))
    known = {"task": list(session.tasks), "scenario": known_scenarios(),
             "engine": known_engines(), "model": list(session.models)}
    check_names(cases, known, source=str(path))
    return cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if CASE_FIXTURE not in metafunc.fixturenames:
        return
    from openaiperf.runner import case_skip_reason

    session = get_session(metafunc.config)
    path = matrix_path(metafunc.config, Path(str(metafunc.definition.fspath)))
    try:
        cases = build_cases(session, path)
    except OpenAIPerfError as exc:
        raise pytest.UsageError(str(exc)) from None
    params = []
    for case in cases:
        marks = [pytest.mark.openaiperf]
        reason = case_skip_reason(case, session.models[case.model], session.hardware, session.system)
        if reason:
            marks.append(pytest.mark.skip(reason=reason))
        params.append(pytest.param(case, id=case.id, marks=marks))
    metafunc.parametrize(CASE_FIXTURE, params)


def _case_of(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get(CASE_FIXTURE) if callspec else None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = {kind: parse_list(config.getoption(kind)) for kind in ("task", "scenario", "engine", "model")}
    bench_session = get_session(config)
    for kind, values in wanted.items():
        known = {"task": bench_session.tasks, "model": bench_session.models}.get(kind)
        for value in values or ():
            if known is not None and value not in known:
                raise pytest.UsageError(f"--{kind}: unknown {kind} {value!r}; known: {', '.join(sorted(known))}")
    if any(wanted.values()):
        cases = {id(item): case for item in items if (case := _case_of(item)) is not None}
        kept_cases, _ = narrow(list(cases.values()), **wanted)
        kept_ids = {c.id for c in kept_cases}
        selected, deselected = [], []
        for item in items:
            case = cases.get(id(item))
            (selected if case is None or case.id in kept_ids else deselected).append(item)
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected
    # Group cases by (engine, model) so each engine is loaded once and reused.
    order = {(c.engine, c.model): i for i, c in enumerate(filter(None, map(_case_of, items)))}
    keyed = [(order.get(((c := _case_of(item)) and (c.engine, c.model)) or None, -1), n, item)
             for n, item in enumerate(items)]
    items[:] = [item for _, _, item in sorted(keyed, key=lambda t: (t[0], t[1]))]


# -- reporting ----------------------------------------------------------------------------
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not session.results:
        return
    from openaiperf.report.console import render_table

    width = max(terminalreporter._tw.fullwidth, 240)
    terminalreporter.write_sep("=", "OpenAIPerf")
    terminalreporter.write(render_table(session.results, title=f"hardware: {session.hardware.name}", width=width))
    terminalreporter.write_line(f"reports: {os.path.relpath(session.run_dir)}")
