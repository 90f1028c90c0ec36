"""The fixtures of a benchmark case, shipped with the plugin.

Session-scoped: ``bench_session`` (:class:`~openaiperf.plugin.session.BenchSession`),
``hardware`` (the profile ``--hw`` selected), ``system_info`` (the machine as
probed at start-up), ``model_weights`` (name -> where an engine loads the model
from; the embedded model is converted once), ``engine_pool`` (one engine alive
at a time, reused across cases) and ``run_settings`` (samples, repeats, warmup,
monitor). Per case: ``model_spec``, ``task`` (with its dataset), ``engine`` and
``case_runner`` (a :class:`BenchmarkedCase`: the case timed through
pytest-benchmark, its result in the session, its gates).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from openaiperf.baselines.ab import ab_settings as read_ab_settings
from openaiperf.baselines.fingerprint import for_result
from openaiperf.baselines.gate import gate_case_result, resolve_tolerances, rounds_to_confirm
from openaiperf.baselines.interleaved import ab_result, apply_verdict, b_case, measure_interleaved
from openaiperf.engines import Engine, EngineContext, create_engine
from openaiperf.errors import EngineError
from openaiperf.matrix import Case
from openaiperf.models import ModelSpec, resolve_weights
from openaiperf.plugin.progress import case_progress
from openaiperf.plugin.session import BenchSession, get_session
from openaiperf.redact import RedactedDict
from openaiperf.report.allure import attach_case, step
from openaiperf.result import CaseResult, SystemInfo
from openaiperf.runner import CaseRunner, RunSettings
from openaiperf.sweeps import apply_task_options
from openaiperf.tasks import Task, create_task


# -- the session ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def bench_session(pytestconfig: pytest.Config) -> BenchSession:
    return get_session(pytestconfig)


@pytest.fixture(scope="session")
def hardware(bench_session: BenchSession) -> Any:
    """The :class:`~openaiperf.hardware.HardwareProfile` of this run."""
    return bench_session.hardware


@pytest.fixture(scope="session")
def system_info(bench_session: BenchSession) -> SystemInfo:
    """The machine as probed at start-up (the shape of ``ob init``'s system.json)."""
    return bench_session.system


@pytest.fixture(scope="session")
def run_settings(bench_session: BenchSession) -> RunSettings:
    """How each case runs (read once from the command line, checked at start-up)."""
    return bench_session.run


# -- the model --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def model_weights(bench_session: BenchSession) -> Callable[[str], str]:
    """name -> where the engine loads it from; the embedded model is converted once
    (and its checksums verified once per process, by the provisioning itself)."""
    def weights(name: str) -> str:
        return resolve_weights(bench_session.models[name])

    return weights


@pytest.fixture
def model_spec(bench_case: Case, bench_session: BenchSession) -> ModelSpec:
    return bench_session.models[bench_case.model]


# -- the task ---------------------------------------------------------------------------------
@pytest.fixture
def task(bench_case: Case, bench_session: BenchSession, pytestconfig: pytest.Config) -> Task:
    """The case's task (its dataset is loaded by the case runner)."""
    options: dict[str, Any] = {"base_dir": Path(pytestconfig.rootpath), "model": bench_session.models[bench_case.model]}
    source = bench_session.run.dataset_source
    if source:
        options["dataset_source"] = source
    specs = bench_session.tasks
    if bench_case.task_options:  # a sweep over the input profile (max_tokens, temperature...)

        specs = {**specs, bench_case.task: apply_task_options(specs[bench_case.task], bench_case.task_options)}
    return create_task(bench_case.task, specs, options)


# -- the engine -------------------------------------------------------------------------------
class EnginePool:
    """Keeps one engine alive at a time (cases are ordered by engine and model, so each
    is loaded once); a failed start is remembered so the cases that need the same
    engine fail fast with the same reason."""

    def __init__(self, session: BenchSession, weights: Callable[[str], str]) -> None:
        self.session = session
        self.weights = weights
        self.key: tuple[Any, ...] | None = None
        self.engine: Engine | None = None
        self.failures: dict[tuple[Any, ...], str] = {}

    def get(self, case: Case, log_dir: Path) -> Engine:
        model = self.session.models[case.model]
        dtype = self.session.dtype_for(model)
        # the options as a digest: they may hold secrets (server flags), and a traceback shows this local
        key = (case.engine, case.model, dtype, hashlib.sha256(
            repr(sorted((k, repr(v)) for k, v in case.engine_options.items())).encode()).hexdigest())
        if key in self.failures:
            raise EngineError(f"engine {case.engine} for {case.model} failed to start earlier: {self.failures[key]}")
        if key != self.key or self.engine is None:
            self.close()
            context = EngineContext(model=model, weights=self.weights(case.model), hardware=self.session.hardware,
                                    dtype=dtype, options=RedactedDict(case.engine_options), log_dir=log_dir)
            try:
                engine = create_engine(case.engine, context)
                engine.prepare()
            except Exception as exc:
                self.failures[key] = f"{type(exc).__name__}: {exc}"
                raise
            self.engine, self.key = engine, key
        return self.engine

    def close(self) -> None:
        if self.engine is not None:
            engine, self.engine, self.key = self.engine, None, None
            engine.teardown()


@pytest.fixture(scope="session")
def engine_pool(bench_session: BenchSession, model_weights: Callable[[str], str]) -> Iterator[EnginePool]:
    pool = EnginePool(bench_session, model_weights)
    yield pool
    pool.close()


@pytest.fixture
def engine(bench_case: Case, engine_pool: EnginePool, bench_session: BenchSession) -> Engine:
    return engine_pool.get(bench_case, bench_session.ensure_run_dir() / "logs")


@pytest.fixture(scope="session")
def ab_settings(bench_session: BenchSession) -> Any:
    """The interleaved A/B settings (:class:`~openaiperf.baselines.ab.ABSettings`), or None
    without ``--ab-endpoint`` / ``--ab-engine-option`` (checked at start-up)."""
    return read_ab_settings(bench_session.baseline)


@pytest.fixture(scope="session")
def ab_engine_pool(bench_session: BenchSession, model_weights: Callable[[str], str]) -> Iterator[EnginePool]:
    """The B side's engines of an interleaved A/B run, alive beside A's."""
    pool = EnginePool(bench_session, model_weights)
    yield pool
    pool.close()


# -- the case ---------------------------------------------------------------------------------
class BenchmarkedCase:
    """Runs a :class:`CaseRunner` with pytest-benchmark's ``pedantic`` (repeats
    as rounds, no warmup rounds: our own warmup requests are never measured),
    stores the result in the session, and raises if a gate failed."""

    def __init__(self, runner: CaseRunner, session: BenchSession, ab: tuple[CaseRunner, Any] | None = None) -> None:
        self.runner = runner
        self.session = session
        #: interleaved A/B: the B side's runner and the settings
        self.ab = ab

    def run(self, benchmark: Any) -> CaseResult:
        try:
            return self._run_ab(benchmark) if self.ab is not None else self._run(benchmark)
        finally:
            self.runner.progress.close()
            if self.ab is not None:
                self.ab[0].progress.close()

    def _run_ab(self, benchmark: Any) -> CaseResult:
        """Both sides interleaved (:mod:`openaiperf.baselines.interleaved`), A's result with the verdict;
        pytest-benchmark times the whole comparison as one round."""
        assert self.ab is not None
        a, (b, settings) = self.runner, self.ab
        try:
            with step("interleaved A/B"):
                tolerances = resolve_tolerances(self.session.tasks.get(a.case.task))

                def measure() -> Any:
                    return measure_interleaved(a, b, settings, tolerances, hardware=a.hardware.name)

                measured = (measure() if getattr(benchmark, "disabled", False) else
                            benchmark.pedantic(measure, rounds=1, iterations=1, warmup_rounds=0))
            with step("gate"):
                result, b_result = a.finish(), b.finish()
                apply_verdict(result, ab_result(measured, (a, result), (b, b_result), settings), b_result, settings)
        except KeyboardInterrupt:
            result = a.interrupt("interleaved A/B")
            b.interrupt("interleaved A/B")
            self.session.add_result(result)
            raise
        except Exception as exc:
            b.monitor.close()
            result = a.fail(exc)
            self.session.add_result(result)
            attach_case(result, self.session)
            raise

        result.fingerprint = for_result(result, self.session)
        self.session.add_result(result)
        attach_case(result, self.session)
        return result

    def _run(self, benchmark: Any) -> CaseResult:
        runner = self.runner
        rounds = runner.settings.repeats
        baseline = None
        phase = "warmup"
        try:
            with step("warmup"):
                runner.prepare()
            phase = "measurement"
            with step("measure"):
                if getattr(benchmark, "disabled", False):
                    # Under xdist or --benchmark-disable, pedantic would run only once.
                    for index in range(rounds):
                        runner.measure_round(index)
                else:
                    counter = iter(range(rounds))
                    benchmark.pedantic(lambda: runner.measure_round(next(counter)), rounds=rounds, iterations=1,
                                       warmup_rounds=0)

            more, why = rounds_to_confirm(runner, self.session)
            if more:  # a regression in the rounds so far: measured more before the verdict
                runner.result.notes.append(why)
                with step("confirm"):
                    for index in range(rounds, rounds + more):
                        runner.measure_round(index)
            phase = "gates"
            with step("gate"):
                result = runner.finish()

                fingerprint = for_result(result, self.session)
                baseline = gate_case_result(result, self.session, fingerprint)
        except KeyboardInterrupt:
            # Ctrl-C: the case is in results.json as interrupted, with what finished; pytest then
            # stops the session and still writes its reports.
            result = runner.interrupt(phase)
            self.session.add_result(result)
            # pytest-benchmark marks a failed case only for an Exception: its interrupted round has
            # no timings, and writing them at the session's end (--benchmark-json) would crash it
            # before any report of the session is written
            if hasattr(benchmark, "has_error"):
                benchmark.has_error = True
            raise
        except Exception as exc:
            if runner.runs:
                runner.finish()
            result = runner.fail(exc)
            self.session.add_result(result)
            attach_case(result, self.session)
            raise
        benchmark.extra_info.update({
            "openaiperf_case": result.id,
            "hardware": result.hardware,
            **{name: metric.value for name, metric in result.metrics.items()},
            "units": {name: metric.unit for name, metric in result.metrics.items()},
            "valid": result.valid,
        })
        result.fingerprint = fingerprint
        result.baseline = baseline
        self.session.add_result(result)
        attach_case(result, self.session)
        return result


@pytest.fixture
def case_runner(bench_case: Case, bench_session: BenchSession, task: Task, model_spec: ModelSpec,
                run_settings: RunSettings, request: pytest.FixtureRequest) -> BenchmarkedCase:
    try:
        with step("provision"):
            engine = request.getfixturevalue("engine")
    except Exception as exc:
        result = CaseResult.for_case(bench_case, bench_session.hardware.name, status="error",
                                     validity={"completed": False},
                                     error=f"engine failed to start: {type(exc).__name__}: {exc}")
        bench_session.add_result(result)
        raise
    ab_settings = request.getfixturevalue("ab_settings")
    if ab_settings is not None:  # both sides measure as many rounds at most
        run_settings = run_settings.model_copy(update={"repeats": ab_settings.rounds})

    def runner_of(case: Case, engine: Engine, task: Task) -> CaseRunner:
        return CaseRunner(case, task=task, engine=engine, model=model_spec, hardware=bench_session.hardware,
                          system=bench_session.system, dtype=bench_session.dtype_for(model_spec),
                          run_dir=bench_session.ensure_run_dir(), settings=run_settings,
                          progress=case_progress(request.config, case.id))

    runner = runner_of(bench_case, engine, task)
    if ab_settings is None:
        return BenchmarkedCase(runner, bench_session)

    case_b = b_case(bench_case, ab_settings)
    try:
        with step("provision B"):
            engine_b = request.getfixturevalue("ab_engine_pool").get(case_b, bench_session.ensure_run_dir() / "logs")
    except Exception as exc:
        result = CaseResult.for_case(bench_case, bench_session.hardware.name, status="error",
                                     error=f"the B side's engine failed to start: {type(exc).__name__}: {exc}")
        bench_session.add_result(result)
        raise
    # the same task serves both sides (each runner loads its samples and tags its prompts)
    return BenchmarkedCase(runner, bench_session, (runner_of(case_b, engine_b, task), ab_settings))
