"""What the registry service does, without HTTP: accept submissions, publish and serve
tasks, and answer the queries of the pages. The HTTP layer (:mod:`.app`) maps its
outcomes and :class:`Refused` errors to answers.

Files live under the data directory: ``submissions/<sha256[:16]>/<run folder>/`` for an
accepted archive, ``tasks/<name>/<version>/`` for a published task. Every path built
from submitted data is checked to stay inside its folder.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from openaiperf.checksums import sha256_file
from openaiperf.errors import ConfigError, OpenAIPerfError
from openaiperf.history.models import (
    CaseRow,
    MetricRow,
    PublishedTaskRow,
    RegistryTokenRow,
    RunRow,
    SubmissionRow,
)
from openaiperf.history.runmeta import read_run_meta
from openaiperf.history.store import Filters, HistoryStore, parse_created, run_key
from openaiperf.registry_service import tokens
from openaiperf.registry_service.archive import ArchiveLimits, ArchiveRefused, inside, unpack
from openaiperf.tasks import load_task_spec

#: task names, versions and file names become folder and file names: nothing else is accepted
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")
MAX_TAGS = 20
CALIBRATION_TASK = "calibration"
#: a submission folder without its row this long after it was made was left by a stopped service
STALE_FOLDER_S = 600.0
MAX_DESCRIPTION = 2000


class Refused(OpenAIPerfError):
    """A request the service does not carry out; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


@dataclass
class SubmissionOutcome:
    id: int
    run_id: int | None
    duplicate: bool
    reason: str = ""


@dataclass
class RunView:
    run: RunRow
    submission: SubmissionRow | None
    cases: list[CaseRow] = field(default_factory=list)
    submitter: str | None = None  # the name of the token that submitted it


@dataclass
class Ranked:
    engine: str
    model: str
    value: float
    unit: str | None
    run_id: int
    run_name: str
    case_id: str
    entries: int  # valid results of this engine and model


def sha256_bytes_of(path: Path) -> str:
    return sha256_file(path)


def clean_tags(tags: Sequence[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if not tag:
            continue
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}", tag.replace("_", "-")):
            raise Refused(422, f"tag {tag!r}: letters, digits and . _ : + - only, 64 characters at most")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise Refused(422, f"at most {MAX_TAGS} tags")
    return out


class RegistryService:
    """The registry over a history store and a data directory."""

    def __init__(self, store: HistoryStore, data_dir: Path, *, max_archive_bytes: int = 256 << 20,
                 limits: ArchiveLimits | None = None) -> None:
        self.store = store
        self.data_dir = Path(data_dir).resolve()
        self.max_archive_bytes = max_archive_bytes
        self.limits = limits or ArchiveLimits()
        # one writer at a time in this process: SQLite takes one anyway, and the database's
        # unique constraints keep several service processes (PostgreSQL) honest
        self._write_lock = threading.Lock()
        self._report_lock = threading.Lock()
        for name in ("submissions", "tasks", "incoming"):
            (self.data_dir / name).mkdir(parents=True, exist_ok=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.store.engine, expire_on_commit=False) as session:
            yield session

    def incoming_path(self) -> Path:
        return self.data_dir / "incoming" / uuid.uuid4().hex

    # -- tokens
    def authenticate(self, token: str) -> tokens.TokenInfo | None:
        with self.session() as session:
            return tokens.lookup(session, token)

    def create_token(self, name: str, scopes: Sequence[str], created_by: int | None) -> tuple[tokens.TokenInfo, str]:
        with self._write_lock, self.session() as session:
            return tokens.create(session, name, scopes, created_by)

    def revoke_token(self, token_id: int, revoked_by: int | None) -> tokens.TokenInfo | None:
        with self._write_lock, self.session() as session:
            return tokens.revoke(session, token_id, revoked_by)

    # -- submissions
    def _existing(self, session: Session, sha256: str | None = None, key: str | None = None) -> SubmissionRow | None:
        clause = SubmissionRow.archive_sha256 == sha256 if sha256 else SubmissionRow.run_key == key
        return session.scalar(select(SubmissionRow).where(clause))

    def submit(self, archive: Path, tags: Sequence[str], description: str | None,
               token: tokens.TokenInfo) -> SubmissionOutcome:
        """Check, store and load the archive at ``archive`` (a file the caller owns)."""
        tags = clean_tags(tags)
        if description and len(description) > MAX_DESCRIPTION:
            raise Refused(422, f"description: at most {MAX_DESCRIPTION} characters")
        size = archive.stat().st_size
        if size > self.max_archive_bytes:
            raise Refused(413, f"the archive has {size} bytes; this registry accepts at most {self.max_archive_bytes}")
        sha256 = sha256_bytes_of(archive)
        with self.session() as session:
            if (found := self._existing(session, sha256=sha256)) is not None:
                return SubmissionOutcome(found.id, found.run_id, True, "this archive was submitted already")
        scratch = self.incoming_path()
        try:
            unpacked = unpack(archive, scratch, self.limits)
        except ArchiveRefused as exc:
            raise Refused(422, f"archive refused: {exc}") from None
        try:
            key = run_key(unpacked.folder.name, parse_created(unpacked.run.created))
            with self.session() as session:
                if (found := self._existing(session, key=key)) is not None:
                    return SubmissionOutcome(found.id, found.run_id, True, "this run was submitted already")
            home = inside(self.data_dir, ("submissions", sha256[:16]))
            try:
                home.mkdir(parents=False)
            except FileExistsError:  # the same archive, arriving at the same moment (or left by a crash)
                outcome = self._duplicate_after_race(sha256, key, home)
                if outcome is not None:
                    return outcome
                home.mkdir(parents=False)
            folder = home / unpacked.folder.name
            unpacked.folder.rename(folder)
            try:
                return self._record(folder, unpacked.run, sha256, key, size, tags, description, token)
            except BaseException:
                shutil.rmtree(home, ignore_errors=True)
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _duplicate_after_race(self, sha256: str, key: str, home: Path) -> SubmissionOutcome | None:
        """The answer when ``home`` exists: the stored submission; None when ``home`` is a
        folder left by a service stopped half-way (older than :data:`STALE_FOLDER_S`), now removed."""
        with self._write_lock, self.session() as session:
            found = self._existing(session, sha256=sha256) or self._existing(session, key=key)
        if found is not None:
            return SubmissionOutcome(found.id, found.run_id, True, "this archive was submitted already")
        try:
            age = time.time() - home.stat().st_mtime
        except FileNotFoundError:
            age = STALE_FOLDER_S
        if age >= STALE_FOLDER_S:
            shutil.rmtree(home, ignore_errors=True)
            return None
        raise Refused(409, "the same archive is being stored by another request; try again")

    def _record(self, folder: Path, run: Any, sha256: str, key: str, size: int, tags: list[str],
                description: str | None, token: tokens.TokenInfo) -> SubmissionOutcome:
        with self._write_lock:
            recorded = self.store.record_run(run, folder, read_run_meta(folder))
            row = SubmissionRow(archive_sha256=sha256, run_key=key, run_id=recorded.run_id,
                                folder=str(folder.relative_to(self.data_dir)), archive_bytes=size, tags=tags,
                                description=description or None, submitted=_dt.datetime.now(_dt.timezone.utc),
                                token_id=token.id)
            with self.session() as session:
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:  # another service process stored it meanwhile
                    session.rollback()
                    found = self._existing(session, sha256=sha256) or self._existing(session, key=key)
                    if found is None:
                        raise
                    shutil.rmtree(folder.parent, ignore_errors=True)
                    return SubmissionOutcome(found.id, found.run_id, True, "this run was submitted already")
                return SubmissionOutcome(row.id, row.run_id, False)

    def submissions(self, limit: int = 100) -> list[SubmissionRow]:
        with self.session() as session:
            return list(session.scalars(select(SubmissionRow).order_by(SubmissionRow.id.desc()).limit(limit)))

    def report_file(self, run_id: int) -> Path:
        """The run's HTML report in its submission folder (written from its results.json on first use)."""
        with self.session() as session:
            found = session.scalar(select(SubmissionRow).where(SubmissionRow.run_id == run_id))
        if found is None:
            raise Refused(404, f"run {run_id} did not come with a submission: no report is stored")
        folder = inside(self.data_dir, Path(found.folder).parts)
        report = folder / "report.html"
        if not report.is_file():
            with self._report_lock:
                if not report.is_file():
                    from openaiperf.report.html import write_html_report  # the report extra

                    write_html_report(folder, report)
        return report

    # -- tasks
    def publish_task(self, definition: bytes, files: dict[str, Path], token: tokens.TokenInfo) -> PublishedTaskRow:
        """Store a task definition (YAML) with its data files (``files``: name -> a file
        the caller owns). A dataset whose source is a local path must come with the file of
        that name; its declared sha256, if any, must match."""
        try:
            data = yaml.safe_load(definition.decode("utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise Refused(422, f"the task definition is not YAML: {exc}") from None
        if not isinstance(data, dict):
            raise Refused(422, "the task definition must be a YAML mapping")
        name, version = str(data.get("name", "")), str(data.get("version", "1.0.0"))
        for what, value in (("name", name), ("version", version), *(("file", f) for f in files)):
            if not SAFE_NAME.match(value):
                raise Refused(422, f"{what} {value!r}: letters, digits and . _ + - only")
        described: list[dict[str, Any]] = []
        used: set[str] = set()
        for label, dataset in (data.get("datasets") or {}).items():
            source = str((dataset or {}).get("source", ""))
            if not source or ":" in source.split("/")[0]:
                continue  # package:, dist:, hf: ... sources are not files of the task
            file_name = Path(source).name
            if file_name not in files:
                raise Refused(422, f"datasets.{label}.source {source!r}: its file {file_name!r} was not sent")
            digest = sha256_bytes_of(files[file_name])
            declared = dataset.get("sha256")
            if declared and declared != digest:
                raise Refused(422, f"datasets.{label}: {file_name} has sha256 {digest}, the definition says {declared}")
            dataset["source"] = file_name
            if file_name not in used:
                used.add(file_name)
                described.append({"name": file_name, "sha256": digest, "bytes": files[file_name].stat().st_size})
        extra = sorted(set(files) - used)
        if extra:
            raise Refused(422, f"file(s) no dataset of the definition uses: {', '.join(extra)}")
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        folder = inside(self.data_dir, ("tasks", name, version))
        scratch = self.incoming_path()
        scratch.mkdir(parents=True)
        try:
            (scratch / "task.yaml").write_text(text, encoding="utf-8")
            for file_name in used:
                shutil.copyfile(files[file_name], scratch / file_name)
            try:
                spec = load_task_spec(scratch / "task.yaml")
            except ConfigError as exc:
                raise Refused(422, str(exc).replace(str(scratch / "task.yaml"), "task definition")) from None
            with self._write_lock, self.session() as session:
                if session.scalar(select(PublishedTaskRow).where(PublishedTaskRow.name == name,
                                                                 PublishedTaskRow.version == version)):
                    raise Refused(409, f"task {name} {version} is published already; publish a new version")
                folder.parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(folder, ignore_errors=True)
                scratch.rename(folder)
                row = PublishedTaskRow(name=name, version=version, kind=spec.kind, description=spec.description or None,
                                       definition_sha256=hashlib.sha256(text.encode()).hexdigest(), files=described,
                                       folder=str(folder.relative_to(self.data_dir)),
                                       published=_dt.datetime.now(_dt.timezone.utc), token_id=token.id)
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    raise Refused(409, f"task {name} {version} is published already; publish a new version") from None
                return row
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def tasks(self) -> list[PublishedTaskRow]:
        with self.session() as session:
            return list(session.scalars(select(PublishedTaskRow).order_by(PublishedTaskRow.name,
                                                                          PublishedTaskRow.published.desc())))

    def task(self, name: str, version: str | None = None) -> PublishedTaskRow:
        statement = select(PublishedTaskRow).where(PublishedTaskRow.name == name)
        if version:
            statement = statement.where(PublishedTaskRow.version == version)
        with self.session() as session:
            row = session.scalar(statement.order_by(PublishedTaskRow.published.desc(), PublishedTaskRow.id.desc()))
            if row is None:
                versions = sorted({r.version for r in session.scalars(
                    select(PublishedTaskRow).where(PublishedTaskRow.name == name))})
                raise Refused(404, f"no task {name!r}" + (f" version {version!r}; its versions: {', '.join(versions)}"
                                                           if versions else " is published"))
            return row

    def task_file(self, row: PublishedTaskRow, file_name: str) -> Path:
        if file_name != "task.yaml" and file_name not in {f["name"] for f in row.files}:
            raise Refused(404, f"task {row.name} {row.version} has no file {file_name!r}")
        return inside(self.data_dir, (*Path(row.folder).parts, file_name))

    # -- the pages' queries
    def runs(self, filters: Filters, task: str | None = None, tags: Sequence[str] = (),
             limit: int = 100) -> list[tuple[RunRow, SubmissionRow | None]]:
        statement = (select(RunRow, SubmissionRow).outerjoin(SubmissionRow, SubmissionRow.run_id == RunRow.id)
                     .where(*filters.run_clauses()))
        case_clauses = filters.case_clauses() + ([CaseRow.task == task] if task else [])
        if case_clauses:
            statement = statement.where(RunRow.id.in_(select(CaseRow.run_id).where(*case_clauses)))
        statement = statement.order_by(RunRow.created.desc(), RunRow.id.desc())
        wanted = set(tags)
        out: list[tuple[RunRow, SubmissionRow | None]] = []
        with self.session() as session:
            for run, submission in session.execute(statement if wanted else statement.limit(limit)):
                if wanted and not wanted <= set(submission.tags if submission else []):
                    continue
                out.append((run, submission))
                if len(out) >= limit:
                    break
        return out

    def run_view(self, run_id: int) -> RunView:
        with self.session() as session:
            run = session.get(RunRow, run_id, options=[selectinload(RunRow.cases).selectinload(CaseRow.metrics)])
            if run is None:
                raise Refused(404, f"no run {run_id}")
            submission = session.scalar(select(SubmissionRow).where(SubmissionRow.run_id == run_id))
            submitter = session.get(RegistryTokenRow, submission.token_id) if submission else None
            return RunView(run=run, submission=submission, cases=sorted(run.cases, key=lambda c: c.case_id),
                           submitter=submitter.name if submitter else None)

    def choices(self) -> dict[str, list[str]]:
        """The values the filters and the leaderboard offer."""
        with self.session() as session:
            def distinct(column: Any) -> list[str]:
                return sorted(str(v) for v in session.scalars(select(column).distinct()) if v)

            return {"hardware": distinct(RunRow.hardware_profile), "engine": distinct(CaseRow.engine),
                    "model": distinct(CaseRow.model), "task": distinct(CaseRow.task),
                    "scenario": distinct(CaseRow.scenario), "metric": distinct(MetricRow.name)}

    def boards(self) -> list[tuple[str, str, str]]:
        """Every task x scenario x hardware with at least one valid passed case (the
        hardware calibration items are measurements of the machine, not results)."""
        statement = (select(CaseRow.task, CaseRow.scenario, CaseRow.hardware)
                     .where(CaseRow.status == "passed", CaseRow.valid.is_not(False),
                            CaseRow.task != CALIBRATION_TASK).distinct())
        with self.session() as session:
            return sorted((str(t), str(s), str(h)) for t, s, h in session.execute(statement))

    def leaderboard(self, task: str, scenario: str, hardware: str, metric: str) -> tuple[list[Ranked], str | None]:
        """The best valid value of ``metric`` per engine and model (invalid, failed and
        unmeasured cases are never ranked), best first; and the metric's direction."""
        statement = (select(CaseRow.engine, CaseRow.model, CaseRow.case_id, MetricRow.value, MetricRow.unit,
                            MetricRow.better, RunRow.id, RunRow.run_name)
                     .join(MetricRow, MetricRow.case_row_id == CaseRow.id).join(RunRow, RunRow.id == CaseRow.run_id)
                     .where(CaseRow.task == task, CaseRow.scenario == scenario, CaseRow.hardware == hardware,
                            CaseRow.status == "passed", CaseRow.valid.is_not(False), MetricRow.valid.is_not(False),
                            MetricRow.name == metric, MetricRow.value.is_not(None)))
        best: dict[tuple[str, str], Ranked] = {}
        better: str | None = None
        with self.session() as session:
            for engine, model, case_id, value, unit, direction, run_id, run_name in session.execute(statement):
                better = better or direction
                if value is None:
                    continue
                key = (str(engine), str(model))
                current = best.get(key)
                entry = Ranked(key[0], key[1], float(value), unit, run_id, run_name, case_id,
                               (current.entries if current else 0) + 1)
                if current is None or (value > current.value if direction == "higher" else value < current.value):
                    best[key] = entry
                else:
                    current.entries += 1
        ranked = sorted(best.values(), key=lambda r: -r.value if better == "higher" else r.value)
        return ranked, better
