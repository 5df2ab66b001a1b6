"""The ``[carriers.<name>.link]`` table of an SMPP link, with SMPP's limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from carriers.link.config import LinkConfig

if TYPE_CHECKING:
    from carriers.smpp.esme import EsmeSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class SmppLinkConfig(LinkConfig):
    protocol: str = "smpp"
    system_id: str
    password: str | None = None
    password_env: str | None = None
    """Name of an environment variable holding the password (wins over ``password``)."""
    system_type: str = ""
    enquire_link_interval: float = 30.0

    login_key = "system_id"
    secret_key = "password"

    @property
    def login(self) -> str:
        return self.system_id

    def secret_sources(self) -> tuple[str | None, str | None]:
        return self.password, self.password_env

    def problems(self) -> list[tuple[str, str]]:
        found = LinkConfig.problems(self)
        if self.enquire_link_interval <= 0:
            found.append(("enquire_link_interval", "expected a number of seconds > 0"))
        if len(self.system_id.encode()) > 15:
            found.append(("system_id", "expected at most 15 characters"))
        if self.password is not None and len(self.password.encode()) > 8:
            found.append(("password", "expected at most 8 characters"))
        if len(self.system_type.encode()) > 12:
            found.append(("system_type", "expected at most 12 characters"))
        return found

    def session_settings(self, secret: str, *, tps_share: float = 1.0) -> EsmeSettings:
        from carriers.smpp.esme import (
            EsmeSettings,  # the session's module only when a link is built
        )

        return EsmeSettings(
            system_id=self.system_id, password=secret, system_type=self.system_type,
            window=self.window, tps=self.tps * tps_share,
            enquire_link_interval=self.enquire_link_interval,
            response_timeout=self.response_timeout, unbind_timeout=self.unbind_timeout,
            throttle_backoff=self.throttle_backoff,
        )
