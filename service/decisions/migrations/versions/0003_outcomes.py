"""Outcomes: whether each decided customer defaulted, append-only.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

A new table beside the decisions: no existing record is touched.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("defaulted", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("correction", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_outcomes_decision", "outcomes", ["request_id", "position"])


def downgrade() -> None:
    op.drop_index("ix_outcomes_decision", "outcomes")
    op.drop_table("outcomes")
