"""the MMS edition as the subscriber's choice, and per-subscriber MMS notifications

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 08:30:00

- ``subscription_events.message_format``: the format a ``CX``/``DX`` choice set.
- ``subscriber_counts.mms``: of each count, the subscribers with the MMS edition; the
  subscribers' (carrier, status) index gains ``message_format`` so that count still reads
  the index alone.
- ``mms_notifications``: one per MMS delivery, with its random content-location token,
  transaction id, expiry, and what the handset did (retrievals, acknowledgements).
- ``mms_dispatch_stats``: the console's MMS figures per dispatch.

Columns are added with plain ``ADD COLUMN`` (nullable or with a constant default).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("subscription_events",
                  sa.Column("message_format", sa.String(length=8), nullable=True))
    op.add_column("subscriber_counts", sa.Column("mms", sa.Integer(), nullable=False,
                                                 server_default="0"))
    op.create_index("ix_subscribers_carrier_status_format", "subscribers",
                    ["carrier", "status", "message_format"])
    op.drop_index("ix_subscribers_carrier_status", table_name="subscribers")
    op.create_table(
        "mms_notifications",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("delivery_id", _BIG_ID, nullable=False),
        sa.Column("dispatch_id", _BIG_ID, nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("transaction_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("first_retrieved_at", _TIME, nullable=True),
        sa.Column("last_retrieved_at", _TIME, nullable=True),
        sa.Column("retrievals", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.Column("response_status", sa.String(length=16), nullable=True),
        sa.Column("responded_at", _TIME, nullable=True),
        sa.Column("acknowledged_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"]),
        sa.ForeignKeyConstraint(["dispatch_id"], ["dispatches.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delivery_id", name="uq_mms_notifications_delivery"),
        sa.UniqueConstraint("token", name="uq_mms_notifications_token"),
        sa.UniqueConstraint("transaction_id", name="uq_mms_notifications_transaction"),
    )
    op.create_index("ix_mms_notifications_dispatch", "mms_notifications", ["dispatch_id"])
    op.create_table(
        "mms_dispatch_stats",
        sa.Column("dispatch_id", _BIG_ID, nullable=False),
        sa.Column("notifications", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("retrieved", sa.Integer(), nullable=False),
        sa.Column("acknowledged", sa.Integer(), nullable=False),
        sa.Column("mm7_reports", sa.Integer(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("computed_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["dispatch_id"], ["dispatches.id"]),
        sa.PrimaryKeyConstraint("dispatch_id"),
    )


def downgrade() -> None:
    op.drop_table("mms_dispatch_stats")
    op.drop_index("ix_mms_notifications_dispatch", table_name="mms_notifications")
    op.drop_table("mms_notifications")
    op.create_index("ix_subscribers_carrier_status", "subscribers", ["carrier", "status"])
    op.drop_index("ix_subscribers_carrier_status_format", table_name="subscribers")
    with op.batch_alter_table("subscriber_counts") as batch_op:
        batch_op.drop_column("mms")
    with op.batch_alter_table("subscription_events") as batch_op:
        batch_op.drop_column("message_format")
