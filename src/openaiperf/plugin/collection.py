"""Collection: matrix files become benchmark cases.

A matrix file (``--matrix PATH``, or a ``matrix.yaml`` / ``*.matrix.yaml`` in a
collected folder) is collected as a module whose tests are the shipped
:mod:`openaiperf.plugin.cases`: ``test_llm`` parametrized with one case per
task × scenario × engine × model, plus the command line's additions (see
:mod:`openaiperf.selection`), and ``test_calibration`` when the matrix says
``calibration: true``. Node ids read ``benchmarks/matrix.yaml::test_llm[<case id>]``.

Then the command line's lists narrow the cases (the rest are deselected), cases
the hardware cannot run are skipped with the reason, and the cases are ordered
by engine and model so that each engine is loaded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from openaiperf.case_options import apply_cli_options, check_case_options, check_matrix_options
from openaiperf.engines import engines
from openaiperf.errors import OpenAIPerfError
from openaiperf.matrix import Case, MatrixSpec, check_names, load_matrix, narrow
from openaiperf.plugin import cases
from openaiperf.plugin.session import BenchSession, get_session
from openaiperf.registry import requirements_found_not_imported
from openaiperf.runner import case_skip_reason
from openaiperf.scenarios import scenarios
from openaiperf.selection import SelectionInputs, select_cases
from openaiperf.sweeps import check_suite_presets, check_variant_options, expand_cases, sweep_axes
from openaiperf.tasks import task_class

CASE_FIXTURE = "bench_case"
MATRIX_PATTERNS = ("matrix.yaml", "*.matrix.yaml")


def is_matrix_file(path: Path, config: pytest.Config) -> bool:
    explicit = get_session(config).selection.matrix
    if explicit:  # --matrix names the one suite definition of the run
        return path.resolve() == Path(explicit).resolve()
    return any(path.match(pattern) for pattern in MATRIX_PATTERNS)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_matrix_file(file_path, parent.config):
        return MatrixFile.from_parent(parent, path=file_path)
    return None


class MatrixFile(pytest.Module):
    """A matrix file, collected as the shipped case module (so ``-k``, ids, marks and
    pytest-benchmark's fixture work as for any test module)."""

    def _getobj(self) -> ModuleType:
        return cases

    @property
    def matrix(self) -> MatrixSpec:
        if not hasattr(self, "_matrix"):
            error = None
            try:
                self._matrix = load_matrix(self.path)
                get_session(self.config).matrix_files.add(self.path.resolve())
            except OpenAIPerfError as exc:
                error = str(exc)
            if error is not None:
                pytest.fail(error, pytrace=False)
        return self._matrix

    def collect(self) -> list[Any]:
        items = list(super().collect())
        if not self.matrix.calibration:
            items = [item for item in items if item.name != "test_calibration"]
        return items


def matrix_of(definition: Any) -> MatrixFile | None:
    parent = definition.parent
    return parent if isinstance(parent, MatrixFile) else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if CASE_FIXTURE not in metafunc.fixturenames:
        return
    matrix_file = matrix_of(metafunc.definition)
    if matrix_file is None:
        return

    session = get_session(metafunc.config)
    if session.load_error:
        pytest.fail(session.load_error, pytrace=False)
    error = None
    try:
        cases = build_cases(session, matrix_file.matrix, matrix_file.path)
    except OpenAIPerfError as exc:
        error = str(exc)
    if error is not None:
        pytest.fail(error, pytrace=False)
    params = []
    with requirements_found_not_imported():
        for case in cases:
            marks = [pytest.mark.ob_case]
            reason = case_skip_reason(case, session.models[case.model], session.hardware, session.system,
                                      task_kind_of(session, case.task))
            if reason:
                marks.append(pytest.mark.skip(reason=reason))
            params.append(pytest.param(case, id=case.id, marks=marks))
    metafunc.parametrize(CASE_FIXTURE, params)


def task_kind_of(session: BenchSession, task: str) -> Any:
    """The class of the task's kind (None when it cannot be imported: the case fails with that)."""
    spec = session.tasks.get(task)
    try:
        return task_class(spec.kind) if spec is not None else None
    except (ImportError, OpenAIPerfError):
        return None


def build_cases(session: BenchSession, matrix: MatrixSpec, path: Path) -> list[Case]:
    """The matrix's cases with the command line's additions and options, each checked
    (names known, options valid, engine classes complete), then swept."""
    check_matrix_options(matrix, source=str(path))
    selection = session.selection
    check_suite_presets(matrix, selection.preset, source=str(path))
    cases = select_cases(matrix, SelectionInputs(
        wanted=selection.wanted(), free_tasks=session.file_tasks, tasks=session.tasks, models=session.models,
        option=session.option, engine_options=selection.engine_option, preset=selection.preset))
    known: dict[str, Sequence[str]] = {"task": list(session.tasks), "scenario": scenarios.names(),
                                       "engine": engines.names(), "model": list(session.models)}
    check_names(cases, known, source=str(path))
    for name in sorted({c.engine for c in cases}):
        try:
            engines.get(name)  # refuses a class that lacks a method of the protocol, naming it
        except ImportError:
            continue  # its cases are skipped with the reason
    cases = apply_cli_options(cases, session.option, selection.engine_option)
    for case in cases:
        check_variant_options(case)  # a suite's sweep: the command line must not change a swept value
    cases = expand_cases(cases, sweep_axes(selection.sweep, selection.preset))
    for case in cases:
        check_case_options(case)
    return cases


def case_of(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get(CASE_FIXTURE) if callspec else None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    selection = get_session(config).selection
    wanted = selection.wanted()
    if any(wanted.values()) or selection.matrix:
        cases = {id(item): case for item in items if (case := case_of(item)) is not None}
        kept_cases, _ = narrow(list(cases.values()), **wanted)
        kept_ids = {c.id for c in kept_cases}
        selected: list[pytest.Item] = []
        deselected: list[pytest.Item] = []
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
    # Group cases by engine, model and engine options so each engine is loaded once and reused
    # (cases of one engine with other options, e.g. prefix caching on and off, need another start).
    def engine_key(case: Case) -> tuple[str, str, str]:
        return case.engine, case.model, repr(sorted((k, repr(v)) for k, v in case.engine_options.items()))

    order = {engine_key(c): i for i, c in enumerate(filter(None, map(case_of, items)))}

    def group(item: pytest.Item) -> int:
        case = case_of(item)
        return order[engine_key(case)] if case is not None else -1

    keyed = [(group(item), n, item) for n, item in enumerate(items)]
    items[:] = [item for _, _, item in sorted(keyed, key=lambda t: (t[0], t[1]))]
