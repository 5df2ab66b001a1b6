"""The ``[carriers.<name>.link]`` table of a CMPP link (China Mobile), with CMPP's limits.

Defaults follow the CMPP 3.0 specification's transport rules (window 16, ACTIVE_TEST after
three idle minutes, three missed answers close the connection) and a subscription service
billed by the month outside the SMS itself (FeeType "01" free per message).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from carriers.link.config import LinkConfig

if TYPE_CHECKING:
    from carriers.cmpp.client import CmppClientSettings

_SP_CODE = re.compile(r"\d{6}")
VERSIONS = (0x20, 0x30)


@dataclass(frozen=True, slots=True, kw_only=True)
class CmppLinkConfig(LinkConfig):
    protocol: str = "cmpp"
    source_addr: str
    """The SP's enterprise code (SP_Id, 6 digits): the login and every SUBMIT's Msg_src."""
    shared_secret: str | None = None
    shared_secret_env: str | None = None
    """Name of an environment variable holding the shared secret (wins over it)."""
    version: int = 0x30
    """0x30 for CMPP 3.0, 0x20 for CMPP 2.0 (TOML takes hex: ``version = 0x30``)."""
    service_id: str = ""
    """Service_Id (business code, at most 10 characters) on every SUBMIT."""
    fee_user_type: int = 2
    """0 charge the destination, 1 the source, 2 the SP, 3 Fee_terminal_Id."""
    fee_type: str = "01"
    """"01" free, "02" per message, "03" monthly (2.0 also "04", "05")."""
    fee_code: str = "000000"
    """Fee in fen (0.01 CNY), up to 6 digits."""
    msg_level: int = 0
    active_test_interval: float = 180.0
    """Idle seconds before an ACTIVE_TEST (the spec's C = 3 minutes)."""
    active_test_tries: int = 3
    """ACTIVE_TESTs left unanswered in a row that close the connection (the spec's N)."""

    login_key = "source_addr"
    secret_key = "shared_secret"

    @property
    def login(self) -> str:
        return self.source_addr

    def secret_sources(self) -> tuple[str | None, str | None]:
        return self.shared_secret, self.shared_secret_env

    def problems(self) -> list[tuple[str, str]]:
        found = LinkConfig.problems(self)
        if not _SP_CODE.fullmatch(self.source_addr):
            found.append(("source_addr", "expected the 6-digit SP code"))
        if self.version not in VERSIONS:
            found.append(("version", "expected 0x30 (CMPP 3.0) or 0x20 (CMPP 2.0)"))
        if len(self.service_id.encode()) > 10 or not self.service_id.isascii():
            found.append(("service_id", "expected at most 10 ASCII characters"))
        if self.fee_user_type not in (0, 1, 2, 3):
            found.append(("fee_user_type", "expected 0, 1, 2 or 3"))
        fee_types = ("01", "02", "03", "04", "05") if self.version == 0x20 else (
            "01", "02", "03")
        if self.fee_type not in fee_types:
            found.append(("fee_type", f"expected one of {', '.join(fee_types)}"))
        if not re.fullmatch(r"\d{1,6}", self.fee_code):
            found.append(("fee_code", "expected up to 6 digits (fen)"))
        if not 0 <= self.msg_level <= 9:
            found.append(("msg_level", "expected 0 to 9"))
        if self.active_test_interval <= 0:
            found.append(("active_test_interval", "expected a number of seconds > 0"))
        if not 1 <= self.active_test_tries <= 10:
            found.append(("active_test_tries", "expected 1 to 10"))
        return found

    def session_settings(self, secret: str, *, tps_share: float = 1.0) -> CmppClientSettings:
        from carriers.cmpp.client import (
            CmppClientSettings,  # the session's module only when a link is built
        )

        return CmppClientSettings(
            source_addr=self.source_addr, shared_secret=secret, version=self.version,
            window=self.window, tps=self.tps * tps_share,
            response_timeout=self.response_timeout,
            active_test_interval=self.active_test_interval,
            active_test_tries=self.active_test_tries, terminate_timeout=self.unbind_timeout,
            throttle_backoff=self.throttle_backoff, service_id=self.service_id,
            fee_user_type=self.fee_user_type, fee_type=self.fee_type, fee_code=self.fee_code,
            msg_level=self.msg_level,
        )
