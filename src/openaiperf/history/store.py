"""The history store: benchmark runs in SQLite or PostgreSQL, through SQLAlchemy.

    store = HistoryStore("sqlite:////home/me/.local/share/openaiperf/history.sqlite")
    store.record_run(run, run_dir, meta)                   # one run (a RunResult or a results.json; idempotent)
    store.runs(Filters(engine="vllm"))                     # newest first
    store.case_points("synthetic.random-offline-hf-smollm2-135m", "ttft_p50")

Opening a store applies the schema migrations (Alembic scripts shipped in
``migrations/``) up to the newest this version knows; a store written by a newer
version is refused with a clear error. Connecting is bounded by
``connect_timeout`` so a store that is down fails fast.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, or_, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from openaiperf.errors import OpenAIPerfError
from openaiperf.history.location import display_url
from openaiperf.history.models import VERSION_TABLE, CaseRow, MetricRow, RunRow, points_view
from openaiperf.redact import redact, redact_text
from openaiperf.report.results import read_results
from openaiperf.result import CaseResult, EngineInfo, MetricVerdict, RunResult, SystemInfo

CONNECT_TIMEOUT_S = 5.0
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class HistoryError(OpenAIPerfError):
    """The history store cannot be reached, read or written; the message names the store."""


# -- what goes in -------------------------------------------------------------------------
def _utc(value: _dt.datetime) -> _dt.datetime:
    """SQLite gives back naive datetimes: every stored time is UTC."""
    return value.replace(tzinfo=_dt.timezone.utc) if value.tzinfo is None else value.astimezone(_dt.timezone.utc)


def parse_created(text: Any) -> _dt.datetime:
    try:
        return _utc(_dt.datetime.fromisoformat(str(text)))
    except (TypeError, ValueError):
        return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def run_key(run_name: str, created: _dt.datetime) -> str:
    """A run's identity in the store: its folder name and creation time (so an import
    of a run already recorded is recognised, wherever the folder was copied to)."""
    return f"{run_name}@{_utc(created).isoformat(timespec='seconds')}"


def hardware_summary(system: SystemInfo) -> str | None:
    return system.summary()


def engine_versions(info: EngineInfo) -> str | None:
    """"transformers 5.19.0, torch 2.13.0+cpu": the library versions of an engine's info."""
    return ", ".join(f"{name} {version}" for name, version in info.versions.items()) or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _verdicts(case: CaseResult) -> dict[str, MetricVerdict]:
    comparison = case.baseline.comparison if case.baseline is not None else None
    return {m.metric: m for m in comparison.metrics} if comparison is not None else {}


def case_row(case: CaseResult) -> CaseRow:
    row = CaseRow(case_id=case.id, task=case.task, scenario=case.scenario, engine=case.engine, model=case.model,
                  hardware=case.hardware, status=case.status, valid=case.valid, validity=dict(case.validity),
                  engine_version=engine_versions(case.engine_info),
                  engine_info=redact(case.engine_info.model_dump(mode="json")),
                  settings=redact(case.settings.model_dump(mode="json")))
    verdicts = _verdicts(case)
    for name, metric in case.metrics.items():
        compared = verdicts.get(name)
        row.metrics.append(MetricRow(
            name=name, value=_number(metric.value), unit=metric.unit, better=metric.better.value,
            ci_low=_number(metric.ci_low), ci_high=_number(metric.ci_high), valid=row.valid,
            baseline_verdict=compared.verdict.value if compared else None,
            baseline_value=_number(compared.baseline) if compared else None,
            baseline_ratio=_number(compared.ratio) if compared else None))
    return row


def run_row(run: RunResult, run_name: str, run_dir: Path | None, meta: dict[str, Any]) -> RunRow:
    """``meta``: the run's metadata (git commit, branch, host, CI ref: :mod:`openaiperf.history.runmeta`)."""
    created = parse_created(run.created)
    row = RunRow(
        run_key=run_key(run_name, created), run_name=run_name, run_dir=str(run_dir) if run_dir else None,
        created=created, recorded=_dt.datetime.now(_dt.timezone.utc), hardware_profile=run.hardware_profile,
        hardware_summary=hardware_summary(run.system), host=meta.get("host"), git_commit=meta.get("git_commit"),
        git_branch=meta.get("git_branch"), git_dirty=meta.get("git_dirty"), ci_ref=meta.get("ci_ref"),
        openaiperf_version=run.openaiperf_version, results_schema=run.schema_version,
        cases_total=len(run.cases), cases_passed=sum(c.status == "passed" for c in run.cases),
        system=redact(run.system.model_dump(mode="json")), config=redact(run.config.model_dump(mode="json")),
        software=dict(run.system.software.packages))
    row.cases = [case_row(c) for c in run.cases]
    return row


# -- what comes out -----------------------------------------------------------------------
@dataclass
class Filters:
    """Narrow runs/points: hardware profile (or a part of the hardware summary),
    engine name, model name, commit prefix, case id."""

    hardware: str | None = None
    engine: str | None = None
    model: str | None = None
    commit: str | None = None
    case: str | None = None

    def run_clauses(self) -> list[Any]:
        clauses: list[Any] = []
        if self.hardware:
            clauses.append(or_(RunRow.hardware_profile == self.hardware,
                               func.lower(RunRow.hardware_summary).contains(self.hardware.lower(), autoescape=True)))
        if self.commit:
            clauses.append(RunRow.git_commit.startswith(self.commit.lower(), autoescape=True))
        return clauses

    def case_clauses(self) -> list[Any]:
        clauses: list[Any] = []
        for column, value in ((CaseRow.engine, self.engine), (CaseRow.model, self.model), (CaseRow.case_id, self.case)):
            if value:
                clauses.append(column == value)
        return clauses


@dataclass
class RunSummary:
    id: int
    run_name: str
    created: _dt.datetime
    hardware_profile: str | None
    hardware_summary: str | None
    git_commit: str | None
    git_branch: str | None
    git_dirty: bool | None
    cases_total: int
    cases_passed: int
    engines: list[str] = field(default_factory=list)
    run_dir: str | None = None


@dataclass
class Point:
    """One value of one metric of one case in one run."""

    run_id: int
    run_name: str
    created: _dt.datetime
    hardware_profile: str | None
    git_commit: str | None
    git_dirty: bool | None
    engine_version: str | None
    status: str | None
    valid: bool | None
    metric: str
    value: float | None
    unit: str | None
    better: str | None
    verdict: str | None

    @property
    def usable(self) -> bool:
        """Counts in trend statistics: a value from a passed, valid case."""
        return self.value is not None and self.status == "passed" and self.valid is not False


@dataclass
class RecordOutcome:
    run_id: int
    run_key: str
    created: bool  # False: the run was already in the store
    cases: int


# -- the store ----------------------------------------------------------------------------
def _sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, connect_timeout: float = CONNECT_TIMEOUT_S) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": connect_timeout})
        event.listen(engine, "connect", _sqlite_foreign_keys)
        return engine
    # libpq's connect_timeout is whole seconds, 2 at least
    return create_engine(url, connect_args={"connect_timeout": max(2, math.ceil(connect_timeout))},
                         pool_pre_ping=True)


#: PostgreSQL advisory lock key held while the schema is migrated ("obhist")
MIGRATION_LOCK_KEY = 0x6F6268697374


@contextlib.contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """One process at a time migrates a store: runs started together on a new store would
    otherwise both create its tables, and one would fail. A SQLite file is guarded by a
    lock file beside it; PostgreSQL by an advisory lock (taken inside the migration's
    transaction, see :func:`migrate`)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    from filelock import FileLock

    with FileLock(str(Path(database).expanduser()) + ".lock"):
        yield


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision shipped in ``migrations/`` (one process at a time)."""
    from alembic import command
    from alembic.config import Config
    from alembic.util.exc import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with migration_lock(engine), engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            if "Can't locate revision" in str(exc):
                raise HistoryError(f"the store's schema is newer than this openaiperf knows ({exc}); "
                                   "upgrade openaiperf to use it") from None
            raise


def schema_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


class HistoryStore:
    """A results history at a SQLAlchemy URL. Every error is a :class:`HistoryError`
    naming the store (password hidden)."""

    def __init__(self, url: str, *, connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        self.url = url
        self.shown_url = display_url(url)
        self.connect_timeout = connect_timeout
        self._engine: Engine | None = None

    # -- lifecycle
    def _fail(self, what: str, exc: BaseException) -> HistoryError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason = detail[0] if detail else type(exc).__name__
        return HistoryError(f"{what} history store {self.shown_url}: {redact_text(reason)}")

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            try:
                engine = make_engine(self.url, self.connect_timeout)
                migrate(engine)
            except HistoryError:
                raise
            except ModuleNotFoundError as exc:
                hint = " (install the postgres extra: pip install 'openaiperf[postgres]')" if "psycopg" in str(
                    exc) else ""
                raise HistoryError(f"cannot open history store {self.shown_url}: {exc}{hint}") from None
            except (SQLAlchemyError, OSError) as exc:
                raise self._fail("cannot open", exc) from None
            except Exception as exc:  # noqa: BLE001 - a bad URL, a driver's own error type
                raise self._fail("cannot open", exc) from None
            self._engine = engine
        return self._engine

    def open(self) -> HistoryStore:
        """Connect and migrate now (otherwise the first use does)."""
        _ = self.engine
        return self

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> HistoryStore:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self.open()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def revision(self) -> str | None:
        return schema_revision(self.engine)

    # -- writing
    def record_run(self, run: RunResult | Path, run_dir: Path | None = None,
                   meta: dict[str, Any] | None = None) -> RecordOutcome:
        """Write one run (a results document, or the path of a results.json, read and
        upgraded as :func:`openaiperf.report.results.read_results` does) with its
        metadata (git commit...). A run already in the store is left as it is."""
        if isinstance(run, Path):
            run_dir = run_dir or run.parent
            run = read_results(run)
        run_name = run_dir.name if run_dir else run.created
        row = run_row(run, run_name, run_dir.resolve() if run_dir else None, meta or {})
        try:
            with Session(self.engine) as session:
                existing = session.scalar(select(RunRow).where(RunRow.run_key == row.run_key))
                if existing is not None:
                    return RecordOutcome(existing.id, existing.run_key, False, existing.cases_total)
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:  # recorded meanwhile by another process
                    session.rollback()
                    existing = session.scalar(select(RunRow).where(RunRow.run_key == row.run_key))
                    if existing is None:
                        raise
                    return RecordOutcome(existing.id, existing.run_key, False, existing.cases_total)
                return RecordOutcome(row.id, row.run_key, True, row.cases_total)
        except SQLAlchemyError as exc:
            raise self._fail("cannot write to", exc) from None

    # -- reading
    def _read(self, statement: Any) -> list[Any]:
        try:
            with Session(self.engine) as session:
                return list(session.execute(statement).all())
        except SQLAlchemyError as exc:
            raise self._fail("cannot read", exc) from None

    def runs(self, filters: Filters | None = None, limit: int | None = None) -> list[RunSummary]:
        """Runs, newest first; with engine/model/case filters, runs that hold a matching case."""
        filters = filters or Filters()
        statement = select(RunRow).where(*filters.run_clauses())
        if case_clauses := filters.case_clauses():
            statement = statement.where(RunRow.id.in_(select(CaseRow.run_id).where(*case_clauses)))
        statement = statement.order_by(RunRow.created.desc(), RunRow.id.desc()).limit(limit)
        runs = [r[0] for r in self._read(statement)]
        engines: dict[int, set[str]] = {}
        if runs:
            pairs = self._read(select(CaseRow.run_id, CaseRow.engine, CaseRow.engine_version)
                               .where(CaseRow.run_id.in_([r.id for r in runs])).distinct())
            for run_id, engine, version in pairs:
                engines.setdefault(run_id, set()).add(f"{engine} ({version})" if version else str(engine))
        return [RunSummary(id=r.id, run_name=r.run_name, created=_utc(r.created), hardware_profile=r.hardware_profile,
                           hardware_summary=r.hardware_summary, git_commit=r.git_commit, git_branch=r.git_branch,
                           git_dirty=r.git_dirty, cases_total=r.cases_total, cases_passed=r.cases_passed,
                           engines=sorted(engines.get(r.id, ())), run_dir=r.run_dir) for r in runs]

    def _point_statement(self, filters: Filters) -> Any:
        return (select(RunRow.id, RunRow.run_name, RunRow.created, RunRow.hardware_profile, RunRow.git_commit,
                       RunRow.git_dirty, CaseRow.engine_version, CaseRow.status, CaseRow.valid, MetricRow.name,
                       MetricRow.value, MetricRow.unit, MetricRow.better, MetricRow.baseline_verdict)
                .join(CaseRow, CaseRow.run_id == RunRow.id).join(MetricRow, MetricRow.case_row_id == CaseRow.id)
                .where(*filters.run_clauses(), *filters.case_clauses()))

    @staticmethod
    def _point(row: Sequence[Any]) -> Point:
        return Point(row[0], row[1], _utc(row[2]), *row[3:])

    def case_points(self, case_id: str, metric: str, filters: Filters | None = None,
                    limit: int | None = None) -> list[Point]:
        """One metric of one case over the runs, oldest first (the newest ``limit``)."""
        filters = filters or Filters()
        statement = (self._point_statement(filters).where(CaseRow.case_id == case_id, MetricRow.name == metric)
                     .order_by(RunRow.created.desc(), RunRow.id.desc()).limit(limit))
        return [self._point(r) for r in reversed(self._read(statement))]

    def recent_points(self, case_id: str, hardware: str | None, metrics: Sequence[str], limit: int,
                      exclude_run_key: str | None = None) -> dict[str, list[Point]]:
        """The case's metrics in its last ``limit`` runs on the same hardware profile,
        oldest first, leaving out the run ``exclude_run_key`` (the current one)."""
        recent = (select(CaseRow.id).join(RunRow, CaseRow.run_id == RunRow.id)
                  .where(CaseRow.case_id == case_id, RunRow.hardware_profile == hardware)
                  .order_by(RunRow.created.desc(), RunRow.id.desc()).limit(limit))
        if exclude_run_key:
            recent = recent.where(RunRow.run_key != exclude_run_key)
        statement = (self._point_statement(Filters()).where(CaseRow.id.in_(recent.scalar_subquery()),
                                                            MetricRow.name.in_(list(metrics)))
                     .order_by(RunRow.created, RunRow.id))
        out: dict[str, list[Point]] = {m: [] for m in metrics}
        for row in self._read(statement):
            point = self._point(row)
            out[point.metric].append(point)
        return out

    def case_ids(self, filters: Filters | None = None) -> list[str]:
        filters = filters or Filters()
        statement = (select(CaseRow.case_id).join(RunRow, CaseRow.run_id == RunRow.id)
                     .where(*filters.run_clauses(), *filters.case_clauses()).distinct().order_by(CaseRow.case_id))
        return [r[0] for r in self._read(statement)]

    def metric_names(self, case_id: str) -> list[str]:
        statement = (select(MetricRow.name).join(CaseRow, MetricRow.case_row_id == CaseRow.id)
                     .where(CaseRow.case_id == case_id).distinct().order_by(MetricRow.name))
        return [r[0] for r in self._read(statement)]

    def export_rows(self, filters: Filters | None = None, metric: str | None = None) -> Iterator[dict[str, Any]]:
        """Rows of the ``ob_metric_points`` view (one per run × case × metric), oldest first."""
        filters = filters or Filters()
        view = points_view.c
        clauses: list[Any] = []
        if filters.hardware:
            clauses.append(or_(view.hardware_profile == filters.hardware,
                               func.lower(view.hardware_summary).contains(filters.hardware.lower(), autoescape=True)))
        if filters.commit:
            clauses.append(view.git_commit.startswith(filters.commit.lower(), autoescape=True))
        for column, value in ((view.engine, filters.engine), (view.model, filters.model),
                              (view.case_id, filters.case), (view.metric, metric)):
            if value:
                clauses.append(column == value)
        statement = select(points_view).where(*clauses).order_by(view.created, view.run_id, view.case_id, view.metric)
        try:
            with self.engine.connect() as connection:
                for row in connection.execute(statement).mappings():
                    out = dict(row)
                    out["created"] = _utc(out["created"]).isoformat(timespec="seconds")
                    yield out
        except SQLAlchemyError as exc:
            raise self._fail("cannot read", exc) from None
