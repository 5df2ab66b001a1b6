"""The ``[carriers.<name>.link]`` table of an SGIP link (China Unicom), with SGIP's limits.

An SGIP link is two connections (protocols.md §3.3): the SP's submit connection to the SMG
(``host``/``port``, ``login_name``/``password``, Login Type 1) and the SMG's connection back
to a server the SP runs (``listen_host``/``listen_port``; the SMG must log in with
``smg_login_name``/``smg_password``, Login Type 2).  ``node_id`` is the SP's node id
``3AAAAQQQQQ`` (``carriers.sgip.sequence.sp_node_id``): the first word of every Sequence
Number, and so of every stored SGIP message id.

Defaults: SGIP has no keep-alive, so an idle submit connection is unbound after
``idle_timeout`` seconds; a subscription service billed outside the SMS (FeeType 1, free).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from carriers.link.config import LinkConfig, MissingSecret

if TYPE_CHECKING:
    from collections.abc import Mapping

    from carriers.sgip.client import SgipClientSettings
    from carriers.sgip.listener import SgipListenerSettings

__all__ = ["SgipLinkConfig"]

_DIGITS = re.compile(r"\d*")


def _text_problem(value: str, width: int) -> str | None:
    if not value.isascii() or len(value) > width:
        return f"expected at most {width} ASCII characters"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class SgipLinkConfig(LinkConfig):
    protocol: str = "sgip"
    login_name: str
    """The SP's Login Name at the SMG (at most 16 characters)."""
    password: str | None = None
    password_env: str | None = None
    """Name of an environment variable holding the password (wins over it)."""
    node_id: int
    """The SP's node id, 3AAAAQQQQQ (area code and corp id)."""
    corp_id: str = ""
    """CorpId on every SUBMIT (5 digits)."""
    service_type: str = ""
    """ServiceType on every SUBMIT (at most 10 characters)."""
    charge_number: str = ""
    """Empty: the user pays; 21 zeros: the SP pays."""
    fee_type: int = 1
    """0 channel fee only, 1 free, 2 per message, 3 monthly, 4 SP-collected."""
    fee_value: str = "0"
    """In fen, up to 6 digits."""
    given_value: str = "0"
    agent_flag: int = 0
    priority: int = 0
    idle_timeout: float = 60.0
    """Idle seconds before the submit connection is unbound and closed."""
    listen_host: str = "127.0.0.1"
    listen_port: int
    """Where the SMG connects back to deliver MOs and reports (loopback unless configured:
    set the address the SMG can reach)."""
    allowed_smg_addresses: tuple[str, ...] = ()
    """IP addresses the listener accepts connections from; empty = any (then the SMG's
    login name and password are the only gate)."""
    smg_login_name: str
    """What the SMG must bind with on the listener."""
    smg_password: str | None = None
    smg_password_env: str | None = None
    bind_timeout: float = 10.0
    listener_idle_timeout: float = 600.0
    """Close an SMG connection with no PDU for this long (0 = never)."""
    timezone: str = "Asia/Shanghai"

    login_key = "login_name"
    secret_key = "password"

    @property
    def login(self) -> str:
        return self.login_name

    def secret_sources(self) -> tuple[str | None, str | None]:
        return self.password, self.password_env

    def resolved_smg_password(self, environ: Mapping[str, str] | None = None) -> str:
        """The password the SMG must bind with; ``MissingSecret`` when its variable is not
        set."""
        import os

        if self.smg_password_env:
            found = (os.environ if environ is None else environ).get(self.smg_password_env)
            if found is None:
                raise MissingSecret(self.smg_password_env, "smg_password_env")
            return found
        return self.smg_password or ""

    def problems(self) -> list[tuple[str, str]]:
        found = LinkConfig.problems(self)
        if self.smg_password is None and self.smg_password_env is None:
            found.append(("smg_password", "required (or link.smg_password_env)"))
        for key, width in (("login_name", 16), ("smg_login_name", 16), ("service_type", 10),
                           ("charge_number", 21)):
            problem = _text_problem(getattr(self, key), width)
            if problem:
                found.append((key, problem))
        for key in ("password", "smg_password"):
            value = getattr(self, key)
            if value is not None and _text_problem(value, 16):
                found.append((key, "expected at most 16 ASCII characters"))
        if not 0 <= self.node_id <= 0xFFFFFFFF:
            found.append(("node_id", "expected the SP's node id, 3AAAAQQQQQ (a 32-bit number)"))
        if not re.fullmatch(r"\d{5}|", self.corp_id):
            found.append(("corp_id", "expected the 5-digit corp id"))
        if self.fee_type not in (0, 1, 2, 3, 4):
            found.append(("fee_type", "expected 0, 1, 2, 3 or 4"))
        for key in ("fee_value", "given_value"):
            value = getattr(self, key)
            if not (1 <= len(value) <= 6 and _DIGITS.fullmatch(value)):
                found.append((key, "expected up to 6 digits (fen)"))
        if self.agent_flag not in (0, 1):
            found.append(("agent_flag", "expected 0 or 1"))
        if not 0 <= self.priority <= 9:
            found.append(("priority", "expected 0 to 9"))
        if not 1 <= self.listen_port <= 65535:
            found.append(("listen_port", f"expected a value from 1 to 65535, got "
                                         f"{self.listen_port}"))
        for key in ("idle_timeout", "bind_timeout"):
            if getattr(self, key) <= 0:
                found.append((key, "expected a number of seconds > 0"))
        for address in self.allowed_smg_addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                found.append(("allowed_smg_addresses", f"{address!r} is not an IP address"))
        if self.listener_idle_timeout < 0:
            found.append(("listener_idle_timeout", "expected a number of seconds >= 0"))
        return found

    def session_settings(self, secret: str, *, tps_share: float = 1.0) -> SgipClientSettings:
        from carriers.sgip.client import SgipClientSettings  # only when a link is built

        return SgipClientSettings(
            login_name=self.login_name, login_password=secret, node_id=self.node_id,
            window=self.window, tps=self.tps * tps_share,
            response_timeout=self.response_timeout, idle_timeout=self.idle_timeout,
            unbind_timeout=self.unbind_timeout, throttle_backoff=self.throttle_backoff,
            timezone=self.timezone, corp_id=self.corp_id, service_type=self.service_type,
            charge_number=self.charge_number, fee_type=self.fee_type,
            fee_value=self.fee_value, given_value=self.given_value,
            agent_flag=self.agent_flag, priority=self.priority,
        )

    def listener_settings(self, smg_password: str) -> SgipListenerSettings:
        from carriers.sgip.listener import SgipListenerSettings

        return SgipListenerSettings(
            login_name=self.smg_login_name, login_password=smg_password,
            node_id=self.node_id, bind_timeout=self.bind_timeout,
            idle_timeout=self.listener_idle_timeout, unbind_timeout=self.unbind_timeout,
            timezone=self.timezone,
        )
