"""Alembic environment: runs migrations on the engine handed in by gateway.db.engine."""

from __future__ import annotations

from alembic import context

from gateway.db import (  # noqa: F401  (registers their tables)
    console_models,
    dispatch_models,
    edition_models,
    mms_models,
)
from gateway.db.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
