"""an index for the redelivery check of every MO

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 16:30:00

Each MO is checked against the same number's recent MOs to the same code (an SMSC delivering
again after a lost response). With only (source, time) and (carrier, time) to choose from,
SQLite took the carrier's index and read every recent MO of the carrier, for each MO: under
hundreds of MOs a second the check grew with the traffic. (source, carrier, destination, time)
answers it from one number's rows.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbound_redelivery", "inbound_messages",
                    ["source_addr", "carrier", "destination_addr", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_inbound_redelivery", table_name="inbound_messages")
