"""articles editions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 15:27:08.698545
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("published", sa.Date(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("editor", sa.Text(), nullable=True),
        sa.Column("channel", sa.JSON(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("canonical_url", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("paragraphs", sa.JSON(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("canonical_url"),
        sa.UniqueConstraint("content_hash"),
    )
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_articles_published"), ["published"], unique=False)

    op.create_table(
        "editions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("newspaper_date", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("article_order", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("newspaper_date", "slot", name="uq_editions_date_slot"),
    )
    op.create_table(
        "edition_articles",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "edition_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "article_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
        ),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("edition_id", "article_id", name="uq_edition_articles_article"),
        sa.UniqueConstraint("edition_id", "position", name="uq_edition_articles_position"),
    )
    with op.batch_alter_table("edition_articles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_edition_articles_article_id"), ["article_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_edition_articles_edition_id"), ["edition_id"], unique=False
        )

    op.create_table(
        "edition_renders",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "edition_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("carrier", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("sms_text", sa.Text(), nullable=True),
        sa.Column("mms_pdu", sa.LargeBinary(), nullable=True),
        sa.Column("mms_size", sa.Integer(), nullable=True),
        sa.Column("mms_pages", sa.JSON(), nullable=True),
        sa.Column("content_location", sa.Text(), nullable=True),
        sa.Column("fitting", sa.JSON(), nullable=False),
        sa.Column("rendered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("edition_id", "carrier", "format", name="uq_edition_renders_target"),
    )
    with op.batch_alter_table("edition_renders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_edition_renders_edition_id"), ["edition_id"], unique=False
        )

    op.create_table(
        "edition_render_segments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "render_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("short_message", sa.LargeBinary(), nullable=False),
        sa.Column("data_coding", sa.Integer(), nullable=False),
        sa.Column("udhi", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["render_id"],
            ["edition_renders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("render_id", "number", name="uq_edition_render_segments_number"),
    )
    with op.batch_alter_table("edition_render_segments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_edition_render_segments_render_id"), ["render_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("edition_render_segments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_edition_render_segments_render_id"))

    op.drop_table("edition_render_segments")
    with op.batch_alter_table("edition_renders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_edition_renders_edition_id"))

    op.drop_table("edition_renders")
    with op.batch_alter_table("edition_articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_edition_articles_edition_id"))
        batch_op.drop_index(batch_op.f("ix_edition_articles_article_id"))

    op.drop_table("edition_articles")
    op.drop_table("editions")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_articles_published"))

    op.drop_table("articles")
