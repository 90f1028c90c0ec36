"""The pytest plugin (registered through the ``pytest11`` entry point).

It adds the ``openaiperf`` option group, turns the suite definition
(``benchmarks/matrix.yaml``) into one parametrized case per
task × scenario × engine × model, skips cases the selected hardware cannot run
(with the reason), and writes the run's reports at the end of the session.
Fixtures live in the repository's ``fixtures/`` package, loaded by the root
``conftest.py``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from openaiperf.errors import OpenAIPerfError
from openaiperf.matrix import Case, check_names, expand, load_matrix, narrow, parse_list

if TYPE_CHECKING:
    from openaiperf.result import CaseResult

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


def add_measurement_options(group: Any) -> None:
    """Monitoring, profiling, sweeps and presets (issue 6)."""
    group.addoption("--monitor-interval", default="100ms", metavar="DURATION",
                    help="resource monitor sampling interval, e.g. 100ms or 1s (default 100ms)")
    group.addoption("--no-monitor", action="store_true", help="do not sample CPU/GPU/memory during cases")
    group.addoption("--profile", default=None, choices=("torch", "nsys", "ncu"),
                    help="torch: PyTorch profiler trace + top-ops table per case; nsys/ncu: re-run under Nsight")
    group.addoption("--sweep", default=None, metavar="K:V1,V2;K2:...",
                    help='expand each case over parameters, e.g. "batch_size:1,2,4;max_tokens:50,100"')
    group.addoption("--preset", default=None, metavar="NAME",
                    help="a sweep preset from openaiperf/sweeps/presets.yaml: quick, comprehensive, scaling, qps-curve")


def add_serving_options(group: Any) -> None:
    """Engines that serve over HTTP or in-process, and the online scenarios' load."""
    group.addoption("--endpoint", default=None, metavar="URL",
                    help="openai engine: a running OpenAI-compatible server (default: start a managed vLLM server)")
    group.addoption("--api-key-env", default=None, metavar="NAME",
                    help="openai engine: environment variable holding the API key (default OPENAI_API_KEY; "
                         "the key is never written to reports or logs)")
    group.addoption("--engine-option", action="append", default=[], metavar="[ENGINE:]KEY=VALUE",
                    help="engine option, e.g. vllm:max_model_len=1024 or dtype=float16 (all engines); repeatable")
    group.addoption("--stream-count", type=int, default=None, metavar="N",
                    help="multi_stream: closed-loop concurrent streams")
    group.addoption("--qps-target", type=float, default=None, metavar="QPS",
                    help="server/interactive: Poisson arrival rate, requests/s (start rate with --find-peak)")
    group.addoption("--burstiness", type=float, default=None, metavar="B",
                    help="server/interactive: gamma shape of the arrival gaps (1 = Poisson, <1 burstier)")
    group.addoption("--arrival-seed", type=int, default=None, metavar="SEED", help="seed of the arrival schedule")
    group.addoption("--latency-sla", default=None, metavar="TTFT_MS,TPOT_MS",
                    help="server/interactive: p99 TTFT and p99 TPOT bounds (default: task sla; interactive 450,40)")
    group.addoption("--find-peak", action="store_true", default=False,
                    help="server/interactive: search the highest QPS that stays VALID (MLPerf FindPeakPerformance)")
    group.addoption("--min-duration", type=float, default=None, metavar="S",
                    help="minimum measured duration for a VALID result, s")
    group.addoption("--min-queries", type=int, default=None, metavar="N",
                    help="minimum measured query count for a VALID result")


def add_baseline_options(group: Any) -> None:
    group.addoption("--baseline-save", nargs="?", const="", default=None, metavar="DIR",
                    help="store each passing case as the baseline in DIR/<hw>/<case>.json (default DIR: baselines); "
                         "needs --repeats >= 3")
    group.addoption("--baseline-append", nargs="?", const="", default=None, metavar="DIR",
                    help="add each passing case's rounds to its stored baseline (same configuration; the last 10 "
                         "runs are kept) so the gate measures run-to-run drift; needs --repeats >= 3")
    group.addoption("--baseline-compare", nargs="?", const="", default=None, metavar="PATH",
                    help="compare each case with its baseline under PATH (default: baselines): a regression fails "
                         "the case, an inconclusive verdict passes with what would settle it")
    group.addoption("--baseline-required", action="store_true", default=False,
                    help="a case without a baseline fails (implies --baseline-compare)")
    group.addoption("--baseline-force", action="store_true", default=False,
                    help="compare with a baseline whose configuration (options, versions, device) differs")
    group.addoption("--baseline-strict", action="store_true", default=False,
                    help="an inconclusive baseline verdict fails the case too")
    group.addoption("--baseline-alpha", default="0.05", metavar="ALPHA",
                    help="significance level of the baseline gate, family-wise per case (default 0.05)")
    group.addoption("--tolerance", action="append", default=[], metavar="METRIC=FRACTION",
                    help="relative tolerance of a metric, e.g. ttft_p90=0.05 (repeatable)")


def add_report_options(group: Any) -> None:
    group.addoption("--no-html-report", action="store_true", default=False,
                    help="do not write report.html into the run folder at the end of the session")
    group.addoption("--history", default=None, metavar="URL",
                    help="results history store the run is written to: sqlite:///PATH, postgresql://USER@HOST/DB "
                         "or a file path (default: $OPENAIPERF_HISTORY, else history.sqlite under the user data "
                         "directory)")
    group.addoption("--no-history", action="store_true", default=False,
                    help="do not write the run into the results history (nor show trends in the reports)")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("openaiperf", "OpenAIPerf LLM benchmarks")
    add_selection_options(group)
    add_run_options(group)
    add_measurement_options(group)
    add_serving_options(group)
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
    results: list[CaseResult] = field(default_factory=list)
    file_tasks: list[str] = field(default_factory=list)
    load_error: str | None = None
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

        from openaiperf.tasks import user_task_files

        task_files = [Path(p) for p in self.option("task_file")]
        self.tasks = load_task_specs(task_files)
        # Registered (`ob task register`) and --task-file tasks join the matrix.
        self.file_tasks = [load_task_spec(p).name for p in [*user_task_files().values(), *task_files]]

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
        """The run's options as given (secrets masked: results.py redacts the whole
        document again when it writes it)."""
        from openaiperf.redact import redact, redact_argv

        keys = ("hw", "matrix", "task", "scenario", "engine", "model", "max_samples", "repeats",
                "subset_seed", "warmup_samples", "dtype", "dataset_source", "max_error_rate",
                "monitor_interval", "no_monitor", "profile", "sweep", "preset",
                "endpoint", "api_key_env", "engine_option", "stream_count", "qps_target", "burstiness",
                "arrival_seed", "latency_sla", "find_peak", "min_duration", "min_queries")
        return {"hardware_profile": self.hardware.model_dump() if self.hardware else None,
                "options": redact({k: self.option(k) for k in keys}),
                "pytest_args": redact_argv(self.config.invocation_params.args)}

    def add_result(self, result: CaseResult) -> None:
        self.results.append(result)
        self.write_results()

    def write_results(self) -> None:
        from openaiperf.report.results import results_document, write_results

        run_dir = self.ensure_run_dir()
        write_results(run_dir / self.results_name, results_document(self.system, self.run_config(), self.results))


def get_session(config: pytest.Config) -> BenchSession:
    return config.stash[SESSION_KEY]


#: numeric options -> (lowest accepted, whether the bound itself is accepted, highest accepted or None)
NUMBER_BOUNDS: dict[str, tuple[float, bool, float | None]] = {
    "max_samples": (1, True, None),
    "repeats": (1, True, None),
    "warmup_samples": (0, True, None),
    "stream_count": (1, True, None),
    "qps_target": (0, False, None),
    "burstiness": (0, False, None),
    "max_error_rate": (0, True, 1),
    "min_duration": (0, True, None),
    "min_queries": (1, True, None),
    "subset_seed": (0, True, None),
    "arrival_seed": (0, True, None),
}
#: what --dtype accepts: the model registry's dtypes
MODEL_DTYPES = ("float32", "bfloat16", "float16")


def check_option_values(config: pytest.Config) -> None:
    """Refuse, at start-up, a number outside its range, naming the option and the range."""
    for dest, (low, inclusive, high) in NUMBER_BOUNDS.items():
        value = config.getoption(dest)
        if value is None:
            continue
        flag = "--" + dest.replace("_", "-")
        too_low = value < low if inclusive else value <= low
        if too_low or (high is not None and value > high) or math.isnan(value):
            accepted = f"a number in [{low:g}, {high:g}]" if high is not None else (
                f"{'an integer' if isinstance(value, int) else 'a number'} {'>=' if inclusive else '>'} {low:g}")
            raise pytest.UsageError(f"{flag}: expected {accepted}, got {value!r}")
    dtype = config.getoption("dtype")
    if dtype is not None and dtype not in MODEL_DTYPES:
        raise pytest.UsageError(f"--dtype: unknown dtype {dtype!r}; known: {', '.join(MODEL_DTYPES)}")
    from openaiperf.case_options import parse_engine_option
    from openaiperf.loadgen.slo import parse_sla

    try:
        if config.getoption("latency_sla") is not None:
            parse_sla(config.getoption("latency_sla"))
        for text in config.getoption("engine_option") or ():
            parse_engine_option(text)
    except OpenAIPerfError as exc:
        raise pytest.UsageError(str(exc)) from None


def check_selection(config: pytest.Config, session: BenchSession) -> None:
    """Refuse, at start-up, a --task/--scenario/--engine/--model name nobody knows,
    listing the accepted ones (otherwise it would deselect every case in silence)."""
    from openaiperf.engines import known_engines
    from openaiperf.scenarios import known_scenarios

    known: dict[str, Any] = {"scenario": known_scenarios(), "engine": known_engines()}
    if session.load_error is None:  # the registries loaded
        known |= {"task": list(session.tasks), "model": list(session.models)}
    for kind, names in known.items():
        for value in parse_list(config.getoption(kind)) or ():
            if value not in names:
                raise pytest.UsageError(f"--{kind}: unknown {kind} {value!r}; known: {', '.join(sorted(names))}")
    from openaiperf.case_options import parse_engine_option

    for text in config.getoption("engine_option") or ():
        engine = parse_engine_option(text)[0]
        if engine is not None and engine not in known["engine"]:
            raise pytest.UsageError(f"--engine-option {text!r}: unknown engine {engine!r}; "
                                    f"known: {', '.join(sorted(known['engine']))}")


def _explicit_bench_run(config: pytest.Config) -> bool:
    """True when the command line names the benchmarks (so start-up errors are fatal)."""
    return any(str(arg).split("::")[0].rstrip("/").endswith("benchmarks") for arg in config.args)


def pytest_configure(config: pytest.Config) -> None:
    # Not named "openaiperf": -k matches marker names, and -k openai would then select every case.
    config.addinivalue_line("markers", "ob_case: an OpenAIPerf benchmark case")
    # Reports, Allure, xdist merging and GPU pinning live in their own plugin module.
    config.pluginmanager.import_plugin("openaiperf.report.plugin")
    session = BenchSession(config)
    config.stash[SESSION_KEY] = session
    check_option_values(config)
    try:
        session.load()
    except OpenAIPerfError as exc:
        if config.getoption("hw") != "auto" or _explicit_bench_run(config):
            raise pytest.UsageError(str(exc)) from None
        # `pytest tests` on a machine --hw auto cannot place must still run the
        # project's own tests: the error waits for the first benchmark case.
        session.load_error = str(exc)
    check_selection(config, session)
    from openaiperf.monitor.util import parse_interval
    from openaiperf.sweeps import sweep_axes

    try:  # bad sweep/preset/interval: stop before collection, naming the option
        sweep_axes(config.getoption("sweep"), config.getoption("preset"))
        parse_interval(config.getoption("monitor_interval"), source="--monitor-interval")
    except OpenAIPerfError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.getoption("profile") in ("nsys", "ncu") and not hasattr(config, "workerinput"):
        from openaiperf.profiling.nsight import ProfilerToolMissing, wrap_session

        try:
            wrap_session(config.getoption("profile"), list(config.invocation_params.args),
                         Path(config.rootpath) / config.getoption("report_dir"))
        except ProfilerToolMissing as exc:
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
    for name in file_tasks:  # with the task's own scenarios
        update = {"tasks": [name], "scenarios": list(session.tasks[name].scenarios)}
        cases += expand(MatrixSpec(suites=[matrix.suites[0].model_copy(update=update)]))
    known = {"task": list(session.tasks), "scenario": known_scenarios(),
             "engine": known_engines(), "model": list(session.models)}
    check_names(cases, known, source=str(path))
    check_engine_classes({c.engine for c in cases})
    from openaiperf.case_options import apply_cli_options
    from openaiperf.sweeps import expand_cases, sweep_axes

    cases = apply_cli_options(cases, session.option)
    return expand_cases(cases, sweep_axes(session.option("sweep"), session.option("preset")))


def check_engine_classes(names: set[str]) -> None:
    """Refuse, at collection, an engine class that lacks a protocol method (naming
    the class); an engine whose import fails is left to its skip reason."""
    from openaiperf.engines import check_engine_class, engine_class

    for name in sorted(names):
        try:
            cls = engine_class(name)
        except ImportError:
            continue
        check_engine_class(cls, name)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if CASE_FIXTURE not in metafunc.fixturenames:
        return
    from openaiperf.runner import case_skip_reason

    session = get_session(metafunc.config)
    if session.load_error:
        pytest.fail(session.load_error, pytrace=False)
    path = matrix_path(metafunc.config, Path(str(metafunc.definition.fspath)))
    try:
        cases = build_cases(session, path)
    except OpenAIPerfError as exc:
        pytest.fail(str(exc), pytrace=False)
    params = []
    for case in cases:
        marks = [pytest.mark.ob_case]
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
    if any(wanted.values()) or config.getoption("matrix"):
        cases = {id(item): case for item in items if (case := _case_of(item)) is not None}
        kept_cases, _ = narrow(list(cases.values()), **wanted)
        kept_ids = {c.id for c in kept_cases}
        selected, deselected = [], []
        for item in items:
            case = cases.get(id(item))
            if case is None:
                # Suite items that are not matrix cases (the calibration) run only with the whole suite.
                keep = item.get_closest_marker("ob_case") is None
            else:
                keep = case.id in kept_ids
            (selected if keep else deselected).append(item)
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected
    # Group cases by (engine, model) so each engine is loaded once and reused.
    order = {(c.engine, c.model): i for i, c in enumerate(filter(None, map(_case_of, items)))}
    keyed = [(order.get(((c := _case_of(item)) and (c.engine, c.model)) or None, -1), n, item)
             for n, item in enumerate(items)]
    items[:] = [item for _, _, item in sorted(keyed, key=lambda t: (t[0], t[1]))]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Dataset checks before any model loads, for the tasks of the selected cases:
    files exist and match their sha256, and hold at least --max-samples rows."""
    from openaiperf.tasks.datasets import preflight

    bench_session = get_session(session.config)
    names = sorted({case.task for item in session.items if (case := _case_of(item)) is not None})
    try:
        for name in names:
            spec = bench_session.tasks[name]
            preflight(spec, max_samples=bench_session.option("max_samples"),
                      source_override=bench_session.option("dataset_source"),
                      base_dir=spec.source_dir or Path(session.config.rootpath))
    except OpenAIPerfError as exc:
        raise pytest.UsageError(f"task {name}: {exc}") from None


# -- reporting ----------------------------------------------------------------------------
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not session.results:
        return
    from openaiperf.report.console import render_table

    width = max(terminalreporter._tw.fullwidth, 240)
    terminalreporter.write_sep("=", "OpenAIPerf")
    terminalreporter.write(render_table(session.results, title=f"hardware: {session.hardware.name}", width=width))
    from openaiperf.sweeps.report import write_sweep_reports

    for path in write_sweep_reports(session.results, session.ensure_run_dir()):
        terminalreporter.write_line(f"sweep report: {os.path.relpath(path)}")
    from openaiperf.profiling import render_top_ops

    if top_ops := render_top_ops(session.results):
        terminalreporter.write_line(top_ops)
    terminalreporter.write_line(f"reports: {os.path.relpath(session.run_dir)}")
