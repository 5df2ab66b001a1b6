"""The ``[carriers.<name>.link]`` table of an SMGP link (China Telecom), with SMGP's limits.

Defaults: transmit login mode (submits and Delivers on one connection), window 16, an
Active_Test after three idle minutes and three missed answers close the connection (as CMPP),
and a subscription billed outside the SMS itself (FeeType "00" free).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from carriers.link.config import LinkConfig

if TYPE_CHECKING:
    from carriers.smgp.client import SmgpClientSettings

_CLIENT_ID = re.compile(r"[\x21-\x7e]{1,8}")
_FEE = re.compile(r"\d{1,6}")
FEE_TYPES = ("00", "01", "02", "03")
LOGIN_MODES = (0, 1, 2)
MAX_SECRET_OCTETS = 15
"""§4.3: the shared secret is at most 15 octets."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SmgpLinkConfig(LinkConfig):
    protocol: str = "smgp"
    client_id: str
    """The SP's login (ClientID, at most 8 characters, often the service code)."""
    shared_secret: str | None = None
    shared_secret_env: str | None = None
    """Name of an environment variable holding the shared secret (wins over it)."""
    login_mode: int = 2
    """0 send only, 1 receive only, 2 transmit (both, on one connection)."""
    service_id: str = ""
    """ServiceID (at most 10 characters) on every Submit."""
    fee_type: str = "00"
    """"00" free, "01" per message (fee_code), "02" monthly (fixed_fee), "03" capped."""
    fee_code: str = "000000"
    """Fee per message in fen (0.01 CNY), up to 6 digits."""
    fixed_fee: str = "000000"
    """Monthly fee or cap in fen, up to 6 digits."""
    priority: int = 0
    """0 low, 1 normal, 2 higher, 3 highest."""
    charge_term_id: str = ""
    """ChargeTermID (the number charged), usually empty."""
    msg_src: str = ""
    """MsgSrc TLV (the SP code, at most 8 characters), or empty to leave it out."""
    active_test_interval: float = 180.0
    """Idle seconds before an Active_Test."""
    active_test_tries: int = 3
    """Active_Tests left unanswered in a row that close the connection."""

    login_key = "client_id"
    secret_key = "shared_secret"

    @property
    def login(self) -> str:
        return self.client_id

    def secret_sources(self) -> tuple[str | None, str | None]:
        return self.shared_secret, self.shared_secret_env

    def problems(self) -> list[tuple[str, str]]:
        found = LinkConfig.problems(self)
        if not _CLIENT_ID.fullmatch(self.client_id):
            found.append(("client_id", "expected 1 to 8 printable ASCII characters"))
        secret = self.shared_secret
        if secret is not None and (not secret.isascii() or len(secret) > MAX_SECRET_OCTETS):
            found.append(("shared_secret",
                          f"expected at most {MAX_SECRET_OCTETS} ASCII characters"))
        if self.login_mode not in LOGIN_MODES:
            found.append(("login_mode", "expected 0 (send), 1 (receive) or 2 (transmit)"))
        if len(self.service_id) > 10 or not self.service_id.isascii():
            found.append(("service_id", "expected at most 10 ASCII characters"))
        if self.fee_type not in FEE_TYPES:
            found.append(("fee_type", f"expected one of {', '.join(FEE_TYPES)}"))
        for key in ("fee_code", "fixed_fee"):
            if not _FEE.fullmatch(getattr(self, key)):
                found.append((key, "expected up to 6 digits (fen)"))
        if not 0 <= self.priority <= 3:
            found.append(("priority", "expected 0 to 3"))
        if len(self.charge_term_id) > 21 or not self.charge_term_id.isascii():
            found.append(("charge_term_id", "expected at most 21 ASCII characters"))
        if len(self.msg_src) > 8 or not self.msg_src.isascii():
            found.append(("msg_src", "expected at most 8 ASCII characters"))
        if self.active_test_interval <= 0:
            found.append(("active_test_interval", "expected a number of seconds > 0"))
        if not 1 <= self.active_test_tries <= 10:
            found.append(("active_test_tries", "expected 1 to 10"))
        return found

    def session_settings(self, secret: str, *, tps_share: float = 1.0) -> SmgpClientSettings:
        from carriers.smgp.client import (
            SmgpClientSettings,  # the session's module only when a link is built
        )

        return SmgpClientSettings(
            client_id=self.client_id, shared_secret=secret, login_mode=self.login_mode,
            window=self.window, tps=self.tps * tps_share,
            response_timeout=self.response_timeout,
            active_test_interval=self.active_test_interval,
            active_test_tries=self.active_test_tries, exit_timeout=self.unbind_timeout,
            throttle_backoff=self.throttle_backoff, service_id=self.service_id,
            fee_type=self.fee_type, fee_code=self.fee_code, fixed_fee=self.fixed_fee,
            priority=self.priority, charge_term_id=self.charge_term_id, msg_src=self.msg_src,
        )
