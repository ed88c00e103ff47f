"""The decision log: one row per scored customer, and the health probe's heartbeat.

Revision ID: 0001
Revises:
Create Date: 2026-11-30

Written out column by column, not derived from the contract, so that a later change to
the contract changes the tables only through a new revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INTEGER_INPUTS = (
    "sex", "education", "marriage", "age", "pay_0", "pay_2", "pay_3", "pay_4", "pay_5", "pay_6",
)  # fmt: skip
AMOUNT_INPUTS = (
    "limit_bal",
    "bill_amt1", "bill_amt2", "bill_amt3", "bill_amt4", "bill_amt5", "bill_amt6",
    "pay_amt1", "pay_amt2", "pay_amt3", "pay_amt4", "pay_amt5", "pay_amt6",
)  # fmt: skip
INPUTS = ("limit_bal", *INTEGER_INPUTS, *AMOUNT_INPUTS[1:])


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("route", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("threshold", sa.Float(53), nullable=False),
        *(
            sa.Column(
                name, sa.Integer() if name in INTEGER_INPUTS else sa.Float(53), nullable=False
            )
            for name in INPUTS
        ),
        sa.Column("probability", sa.Float(53), nullable=False),
        sa.Column("decision", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=True),
    )
    op.create_index("ix_decisions_request_id", "decisions", ["request_id"])
    op.create_index("ix_decisions_decided_at", "decisions", ["decided_at"])
    op.create_index("ix_decisions_model_version", "decisions", ["model_version"])
    op.create_table(
        "decision_log_heartbeat",
        sa.Column("writer", sa.String(64), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("decision_log_heartbeat")
    op.drop_index("ix_decisions_model_version", "decisions")
    op.drop_index("ix_decisions_decided_at", "decisions")
    op.drop_index("ix_decisions_request_id", "decisions")
    op.drop_table("decisions")
