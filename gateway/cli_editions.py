"""``sdgw ingest`` and ``sdgw edition …`` (articles and editions)."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    """Add this module's subcommands to the ``sdgw`` parser."""
