"""Champion and challengers: the arm that decided each customer, and every shadow score.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Adds a nullable column and an index to the decisions (NULL for every record made before
a live split existed, and for those made without one) and a new table beside them: no
existing record is changed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("arm", sa.String(16), nullable=True))
    op.create_table(
        "shadow_scores",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("probability", sa.Float(53), nullable=False),
        sa.Column("decision", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("grade", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
    )
    op.create_index("ix_shadow_scores_decision", "shadow_scores", ["request_id", "position"])
    # A customer's decision by (request, position): the comparison joins on it, and with
    # only the request id indexed, each of a 10,000-row batch's customers cost a scan of
    # the other 9,999 (measured: over 30 s for 24,000 customers).
    op.create_index("ix_decisions_customer", "decisions", ["request_id", "position"])


def downgrade() -> None:
    op.drop_index("ix_decisions_customer", "decisions")
    op.drop_index("ix_shadow_scores_decision", "shadow_scores")
    op.drop_table("shadow_scores")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("arm")
