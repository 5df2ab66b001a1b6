"""Persistence: typed models, engine set-up and Alembic migrations."""
