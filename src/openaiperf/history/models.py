"""The tables of the results history (SQLAlchemy 2.x ORM).

One row per run (``ob_runs``), per case of a run (``ob_cases``) and per metric
of a case (``ob_metrics``); the view ``ob_metric_points`` joins the three into
one row per run × case × metric, the shape dashboards and CSV exports want.
Tables carry an ``ob_`` prefix so the store can share a team's database.

The schema is versioned by the Alembic scripts in ``migrations/``: a change to
these classes needs a new script there (the tests compare the two).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: JSON in SQLite, JSONB in PostgreSQL (indexable, queryable from Grafana)
JSONType = JSON().with_variant(JSONB(), "postgresql")
#: the Alembic revision table, prefixed like the others
VERSION_TABLE = "ob_alembic_version"
POINTS_VIEW = "ob_metric_points"


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    """One benchmark run: one ``reports/<run-id>/`` folder."""

    __tablename__ = "ob_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: identity of the run across imports: run folder name + creation time
    run_key: Mapped[str] = mapped_column(String(200), unique=True)
    run_name: Mapped[str] = mapped_column(String(200))
    run_dir: Mapped[str | None] = mapped_column(String(1000))
    created: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    recorded: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True))
    hardware_profile: Mapped[str | None] = mapped_column(String(100), index=True)
    #: accelerators, else the CPU model and cores ("1x NVIDIA H100 80GB HBM3", "AMD EPYC, 2 cores")
    hardware_summary: Mapped[str | None] = mapped_column(String(300))
    host: Mapped[str | None] = mapped_column(String(200))
    git_commit: Mapped[str | None] = mapped_column(String(64), index=True)
    git_branch: Mapped[str | None] = mapped_column(String(200))
    git_dirty: Mapped[bool | None] = mapped_column(Boolean)
    #: ``GITHUB_REF`` of a CI run (refs/pull/12/merge, refs/heads/main)
    ci_ref: Mapped[str | None] = mapped_column(String(200))
    openaiperf_version: Mapped[str | None] = mapped_column(String(50))
    results_schema: Mapped[int | None] = mapped_column(Integer)
    cases_total: Mapped[int] = mapped_column(Integer, default=0)
    cases_passed: Mapped[int] = mapped_column(Integer, default=0)
    system: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: library versions of the run (torch, transformers, vllm, ...) from the system probe
    software: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    cases: Mapped[list[CaseRow]] = relationship(back_populates="run", cascade="all, delete-orphan",
                                                passive_deletes=True)


class CaseRow(Base):
    """One case of a run."""

    __tablename__ = "ob_cases"
    __table_args__ = (UniqueConstraint("run_id", "case_id", name="uq_ob_cases_run_case"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ob_runs.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(String(300), index=True)
    task: Mapped[str | None] = mapped_column(String(200))
    scenario: Mapped[str | None] = mapped_column(String(100))
    engine: Mapped[str | None] = mapped_column(String(100), index=True)
    model: Mapped[str | None] = mapped_column(String(200), index=True)
    hardware: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str | None] = mapped_column(String(20))
    valid: Mapped[bool | None] = mapped_column(Boolean)
    validity: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: "transformers 5.19.0, torch 2.13.0+cpu": the versions in the engine's info, for tables and filters
    engine_version: Mapped[str | None] = mapped_column(String(300))
    engine_info: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    run: Mapped[RunRow] = relationship(back_populates="cases")
    metrics: Mapped[list[MetricRow]] = relationship(back_populates="case", cascade="all, delete-orphan",
                                                    passive_deletes=True)


class MetricRow(Base):
    """One metric of one case, with the case's validity and the baseline verdict, if compared."""

    __tablename__ = "ob_metrics"
    __table_args__ = (UniqueConstraint("case_row_id", "name", name="uq_ob_metrics_case_name"),
                      Index("ix_ob_metrics_name", "name"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_row_id: Mapped[int] = mapped_column(ForeignKey("ob_cases.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(50))
    better: Mapped[str | None] = mapped_column(String(10))
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    valid: Mapped[bool | None] = mapped_column(Boolean)
    #: regression | inconclusive | no regression (None: not compared)
    baseline_verdict: Mapped[str | None] = mapped_column(String(30))
    baseline_value: Mapped[float | None] = mapped_column(Float)
    baseline_ratio: Mapped[float | None] = mapped_column(Float)

    case: Mapped[CaseRow] = relationship(back_populates="metrics")


#: the view the migrations create (one row per run × case × metric): queried by
#: ``ob history export`` and the Grafana dashboard. Kept out of ``Base.metadata`` so
#: that nothing tries to create it as a table.
points_view = Table(
    POINTS_VIEW, MetaData(),
    Column("run_id", Integer), Column("run_name", String), Column("created", DateTime(timezone=True)),
    Column("hardware_profile", String), Column("hardware_summary", String), Column("host", String),
    Column("git_commit", String), Column("git_branch", String), Column("git_dirty", Boolean),
    Column("ci_ref", String), Column("case_id", String), Column("task", String), Column("scenario", String),
    Column("engine", String), Column("engine_version", String), Column("model", String), Column("status", String),
    Column("metric", String), Column("value", Float), Column("unit", String), Column("better", String),
    Column("ci_low", Float), Column("ci_high", Float), Column("valid", Boolean),
    Column("baseline_verdict", String), Column("baseline_value", Float), Column("baseline_ratio", Float),
)


# -- the registry service (``ob registry serve``): who may write, what was submitted, which tasks are published
class RegistryTokenRow(Base):
    """An access token of the registry service. Only the token's sha256 is stored: the
    token itself is printed once when it is created."""

    __tablename__ = "ob_registry_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: a label for people ("runner h100-3"); never the token
    name: Mapped[str] = mapped_column(String(200))
    #: comma-separated, from read, submit, publish, admin
    scopes: Mapped[str] = mapped_column(String(100))
    created: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True))
    #: the token that created this one (None: created with ``ob registry token create`` on the store)
    created_by: Mapped[int | None] = mapped_column(Integer)
    revoked: Mapped[_dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[int | None] = mapped_column(Integer)


class SubmissionRow(Base):
    """One ``ob pack`` archive accepted by the registry: where it is stored, the run it
    loaded into the history and the token that sent it. An archive (by its sha256) and a
    run (by its key) are each accepted once."""

    __tablename__ = "ob_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    archive_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    run_key: Mapped[str] = mapped_column(String(200), unique=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ob_runs.id", ondelete="SET NULL"), index=True)
    #: the run folder under the service's data directory, relative to it
    folder: Mapped[str] = mapped_column(String(500))
    archive_bytes: Mapped[int] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    description: Mapped[str | None] = mapped_column(String(2000))
    submitted: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("ob_registry_tokens.id"))


class PublishedTaskRow(Base):
    """A task definition published to the registry (``ob task publish``), with its data
    files: ``files`` lists ``{"name", "sha256", "bytes"}``, stored beside the definition."""

    __tablename__ = "ob_published_tasks"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_ob_published_tasks_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str | None] = mapped_column(String(50))
    description: Mapped[str | None] = mapped_column(String(2000))
    definition_sha256: Mapped[str] = mapped_column(String(64))
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    #: the task's folder under the service's data directory, relative to it
    folder: Mapped[str] = mapped_column(String(500))
    published: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True))
    token_id: Mapped[int] = mapped_column(ForeignKey("ob_registry_tokens.id"))
