"""dispatch leases, uncertain-part evidence and reconciliation

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:00:00

Columns are added with plain ``ADD COLUMN`` (nullable or with a constant default), which
neither SQLite nor PostgreSQL answers by rewriting the table: a deliveries table of millions
of rows upgrades in an instant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dispatch_leases",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("claim", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("command", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("node", name="uq_dispatch_lease_node"),
        sa.UniqueConstraint("claim", name="uq_dispatch_lease_claim"),
    )
    op.add_column("deliveries", sa.Column("uncertain_at", sa.Float(), nullable=True))
    op.add_column("deliveries", sa.Column("recovery", sa.String(length=12), nullable=True))
    op.add_column("deliveries", sa.Column("resend_parts", sa.Integer(), nullable=True))
    op.add_column("unmatched_receipts",
                  sa.Column("subscriber", sa.String(length=21), nullable=True))
    op.add_column("unmatched_receipts", sa.Column("reference", sa.Integer(), nullable=True))
    op.create_index("ix_unmatched_subscriber", "unmatched_receipts",
                    ["carrier", "subscriber"], unique=False)
    op.create_index("ix_unmatched_received", "unmatched_receipts", ["received_at"],
                    unique=False)
    for column in ("uncertain", "reconciled", "resent", "skipped"):
        op.add_column("dispatch_stats", sa.Column(column, sa.Integer(), nullable=False,
                                                  server_default="0"))


def downgrade() -> None:
    for column in ("skipped", "resent", "reconciled", "uncertain"):
        with op.batch_alter_table("dispatch_stats") as batch_op:
            batch_op.drop_column(column)
    op.drop_index("ix_unmatched_received", table_name="unmatched_receipts")
    op.drop_index("ix_unmatched_subscriber", table_name="unmatched_receipts")
    with op.batch_alter_table("unmatched_receipts") as batch_op:
        batch_op.drop_column("reference")
        batch_op.drop_column("subscriber")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("resend_parts")
        batch_op.drop_column("recovery")
        batch_op.drop_column("uncertain_at")
    op.drop_table("dispatch_leases")
