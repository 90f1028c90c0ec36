"""The first schema: runs, cases, metrics, and the metric points view.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

POINTS_VIEW_SQL = """
CREATE VIEW ob_metric_points AS
SELECT r.id AS run_id, r.run_name, r.created, r.hardware_profile, r.hardware_summary, r.host,
       r.git_commit, r.git_branch, r.git_dirty, r.ci_ref,
       c.case_id, c.task, c.scenario, c.engine, c.engine_version, c.model, c.status,
       m.name AS metric, m.value, m.unit, m.better, m.ci_low, m.ci_high, m.valid,
       m.baseline_verdict, m.baseline_value, m.baseline_ratio
FROM ob_metrics m
JOIN ob_cases c ON c.id = m.case_row_id
JOIN ob_runs r ON r.id = c.run_id
"""


def upgrade() -> None:
    op.create_table(
        "ob_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_key", sa.String(200), nullable=False, unique=True),
        sa.Column("run_name", sa.String(200), nullable=False),
        sa.Column("run_dir", sa.String(1000)),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hardware_profile", sa.String(100)),
        sa.Column("hardware_summary", sa.String(300)),
        sa.Column("host", sa.String(200)),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("git_branch", sa.String(200)),
        sa.Column("git_dirty", sa.Boolean()),
        sa.Column("ci_ref", sa.String(200)),
        sa.Column("openaiperf_version", sa.String(50)),
        sa.Column("results_schema", sa.Integer()),
        sa.Column("cases_total", sa.Integer(), nullable=False),
        sa.Column("cases_passed", sa.Integer(), nullable=False),
        sa.Column("system", JSONType, nullable=False),
        sa.Column("config", JSONType, nullable=False),
        sa.Column("software", JSONType, nullable=False),
    )
    op.create_index("ix_ob_runs_created", "ob_runs", ["created"])
    op.create_index("ix_ob_runs_hardware_profile", "ob_runs", ["hardware_profile"])
    op.create_index("ix_ob_runs_git_commit", "ob_runs", ["git_commit"])
    op.create_table(
        "ob_cases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("ob_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("case_id", sa.String(300), nullable=False),
        sa.Column("task", sa.String(200)),
        sa.Column("scenario", sa.String(100)),
        sa.Column("engine", sa.String(100)),
        sa.Column("model", sa.String(200)),
        sa.Column("hardware", sa.String(100)),
        sa.Column("status", sa.String(20)),
        sa.Column("valid", sa.Boolean()),
        sa.Column("validity", JSONType, nullable=False),
        sa.Column("engine_version", sa.String(300)),
        sa.Column("engine_info", JSONType, nullable=False),
        sa.Column("settings", JSONType, nullable=False),
        sa.UniqueConstraint("run_id", "case_id", name="uq_ob_cases_run_case"),
    )
    op.create_index("ix_ob_cases_run_id", "ob_cases", ["run_id"])
    op.create_index("ix_ob_cases_case_id", "ob_cases", ["case_id"])
    op.create_index("ix_ob_cases_engine", "ob_cases", ["engine"])
    op.create_index("ix_ob_cases_model", "ob_cases", ["model"])
    op.create_table(
        "ob_metrics",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("case_row_id", sa.Integer(), sa.ForeignKey("ob_cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("unit", sa.String(50)),
        sa.Column("better", sa.String(10)),
        sa.Column("ci_low", sa.Float()),
        sa.Column("ci_high", sa.Float()),
        sa.Column("valid", sa.Boolean()),
        sa.Column("baseline_verdict", sa.String(30)),
        sa.Column("baseline_value", sa.Float()),
        sa.Column("baseline_ratio", sa.Float()),
        sa.UniqueConstraint("case_row_id", "name", name="uq_ob_metrics_case_name"),
    )
    op.create_index("ix_ob_metrics_case_row_id", "ob_metrics", ["case_row_id"])
    op.create_index("ix_ob_metrics_name", "ob_metrics", ["name"])
    op.execute(POINTS_VIEW_SQL)


def downgrade() -> None:
    op.execute("DROP VIEW ob_metric_points")
    op.drop_table("ob_metrics")
    op.drop_table("ob_cases")
    op.drop_table("ob_runs")
