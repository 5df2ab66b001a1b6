"""edition render segments store their coding by name

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 14:00:00

``edition_render_segments.data_coding`` (SMPP's number) becomes ``coding``, the protocol-neutral
name (``carriers.messages.TextCoding``) each link maps to its own number: 0 → ``gsm7``,
8 → ``ucs2``, 4 and anything else → ``binary`` (builds only ever stored 0, 4 and 8). The
downgrade writes SMPP's numbers back (``gbk`` as 15, which SMPP links read as GBK). On SQLite
the column changes go through one batch (a copy of the table); renders are a few rows per
edition and carrier.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLE = "edition_render_segments"


def upgrade() -> None:
    op.add_column(_TABLE, sa.Column("coding", sa.String(length=16), nullable=True))
    op.execute(
        f"UPDATE {_TABLE} SET coding = CASE data_coding"
        " WHEN 0 THEN 'gsm7' WHEN 8 THEN 'ucs2' ELSE 'binary' END"
    )
    with op.batch_alter_table(_TABLE) as batch_op:
        batch_op.alter_column("coding", existing_type=sa.String(length=16), nullable=False)
        batch_op.drop_column("data_coding")


def downgrade() -> None:
    op.add_column(_TABLE, sa.Column("data_coding", sa.Integer(), nullable=True))
    op.execute(
        f"UPDATE {_TABLE} SET data_coding = CASE coding"
        " WHEN 'gsm7' THEN 0 WHEN 'ascii' THEN 1 WHEN 'latin1' THEN 3 WHEN 'ucs2' THEN 8"
        " WHEN 'gbk' THEN 15 ELSE 4 END"
    )
    with op.batch_alter_table(_TABLE) as batch_op:
        batch_op.alter_column("data_coding", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("coding")
