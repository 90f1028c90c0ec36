"""The registry service's tables: access tokens, submissions, published tasks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ob_registry_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scopes", sa.String(100), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer()),
        sa.Column("revoked", sa.DateTime(timezone=True)),
        sa.Column("revoked_by", sa.Integer()),
    )
    op.create_table(
        "ob_submissions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("archive_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("run_key", sa.String(200), nullable=False, unique=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("ob_runs.id", ondelete="SET NULL")),
        sa.Column("folder", sa.String(500), nullable=False),
        sa.Column("archive_bytes", sa.Integer(), nullable=False),
        sa.Column("tags", JSONType, nullable=False),
        sa.Column("description", sa.String(2000)),
        sa.Column("submitted", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_id", sa.Integer(), sa.ForeignKey("ob_registry_tokens.id"), nullable=False),
    )
    op.create_index("ix_ob_submissions_run_id", "ob_submissions", ["run_id"])
    op.create_index("ix_ob_submissions_submitted", "ob_submissions", ["submitted"])
    op.create_table(
        "ob_published_tasks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("kind", sa.String(50)),
        sa.Column("description", sa.String(2000)),
        sa.Column("definition_sha256", sa.String(64), nullable=False),
        sa.Column("files", JSONType, nullable=False),
        sa.Column("folder", sa.String(500), nullable=False),
        sa.Column("published", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_id", sa.Integer(), sa.ForeignKey("ob_registry_tokens.id"), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_ob_published_tasks_name_version"),
    )
    op.create_index("ix_ob_published_tasks_name", "ob_published_tasks", ["name"])


def downgrade() -> None:
    op.drop_table("ob_published_tasks")
    op.drop_table("ob_submissions")
    op.drop_table("ob_registry_tokens")
