"""Score points and the master-scale grade answered, beside each decision.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Both columns are added empty (NULL) and nullable: records made before score points and
grades keep exactly what they held, and nothing is invented for them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as table:
        table.add_column(sa.Column("score", sa.Integer(), nullable=True))
        table.add_column(sa.Column("grade", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as table:
        table.drop_column("grade")
        table.drop_column("score")
