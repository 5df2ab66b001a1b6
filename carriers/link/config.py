"""The settings every carrier link has, whatever its protocol.

A protocol's own settings table extends :class:`LinkConfig` (``carriers/<protocol>/config.py``)
and checks its own limits in :meth:`LinkConfig.problems`; the gateway's configuration loader
picks the table by ``protocol`` and reports each problem as a message naming file and key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class MissingSecret(LookupError):
    """The environment variable that should hold a link's secret is not set."""

    def __init__(self, variable: str, key: str) -> None:
        super().__init__(f"environment variable named by link.{key} is not set")
        self.variable = variable
        self.key = key


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkConfig:
    protocol: str
    host: str = "127.0.0.1"
    port: int
    window: int = 16
    """Requests awaiting a response at once."""
    tps: float = 100.0
    """Submits per second on this link; 0 lifts the cap."""
    response_timeout: float = 10.0
    connect_timeout: float = 10.0
    reconnect_initial_delay: float = 1.0
    reconnect_max_delay: float = 60.0
    unbind_timeout: float = 5.0
    """How long a graceful shutdown waits for outstanding responses and the logout's answer."""
    throttle_backoff: float = 1.0
    """Pause before resending after the carrier throttles (doubling while it goes on)."""
    max_unacknowledged: int = 1000
    """MOs and receipts read but not yet stored and acknowledged above which the link stops
    reading from the carrier (TCP then holds it back); reading resumes at half of this."""
    own_process: bool = False
    """Run this link (its socket, session and codec) in a worker process of its own, so it
    works on another core than the dispatch and the database (``gateway.link_process``)."""

    # What each protocol names its login and secret (overridden by the protocol's table).
    login_key = "login"
    secret_key = "secret"

    @property
    def login(self) -> str:
        """Who the link logs in as (SMPP system_id, CMPP source_addr)."""
        raise NotImplementedError

    def secret_sources(self) -> tuple[str | None, str | None]:
        """The secret as configured and the environment variable naming it (which wins)."""
        raise NotImplementedError

    def resolved_secret(self, environ: Mapping[str, str] | None = None) -> str:
        """The link's password or shared secret, read from the environment when configured
        so; ``MissingSecret`` when that variable is not set."""
        value, variable = self.secret_sources()
        if variable:
            found = (os.environ if environ is None else environ).get(variable)
            if found is None:
                raise MissingSecret(variable, f"{self.secret_key}_env")
            return found
        return value or ""

    def problems(self) -> list[tuple[str, str]]:
        """(key under ``link.``, what is wrong) for every value outside its limits."""
        found: list[tuple[str, str]] = []
        value, variable = self.secret_sources()
        if value is None and variable is None:
            found.append((self.secret_key, f"required (or link.{self.secret_key}_env)"))
        for key, number, low, high in (
            ("port", self.port, 1, 65535), ("window", self.window, 1, 1000),
            ("tps", self.tps, 0, 1_000_000), ("max_unacknowledged", self.max_unacknowledged,
                                              1, 1_000_000),
        ):
            if not low <= number <= high:
                found.append((key, f"expected a value from {low} to {high}, got {number}"))
        for key in ("response_timeout", "connect_timeout", "reconnect_initial_delay",
                    "reconnect_max_delay", "unbind_timeout", "throttle_backoff"):
            if getattr(self, key) <= 0:
                found.append((key, "expected a number of seconds > 0"))
        return found
