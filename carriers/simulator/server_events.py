"""What a simulated carrier's server session tells the simulator, whatever its protocol.

Each protocol's server session (SMPP's SMSC, CMPP's ISMG, …) is sans-IO, like the clients,
and returns lists of these from ``receive_data`` and ``tick``.  ``pdu`` fields hold the
protocol's own submit PDU; the simulator's protocol dialect reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carriers.link.channel import PeerError


@dataclass(slots=True, kw_only=True)
class ServerFaults:
    """What the simulated carrier does wrong on purpose (tests and the control endpoint
    flip these)."""

    refuse_binds: bool = False
    response_delay: float = 0.0
    withhold_responses: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """Limits and timeouts of one simulated carrier's connections."""

    system_id: str = "SDSIM"
    """What the server calls itself where the protocol says (SMPP bind responses)."""
    tps: float = 0.0
    """Submits per second accepted per connection; above it the protocol's throttling
    result (ESME_RTHROTTLED, CMPP result 8). 0 = no cap."""
    window: int = 0
    """Unanswered submits tolerated; above it the protocol's queue-full result. 0 = no cap."""
    deliver_timeout: float = 10.0
    idle_timeout: float = 120.0
    """A connection with no PDU from the client for this long is closed (0 = never), as real
    carriers do; a logged-in client keeps it open with its keep-alive."""
    read_timeout: float = 10.0
    """A PDU received only in part for this long closes the connection (0 = never)."""


@dataclass(frozen=True, slots=True)
class ClientBound:
    login: str
    """Who logged in (SMPP system_id, CMPP Source_Addr)."""
    mode: str
    """How (SMPP bound_trx/bound_tx/bound_rx, CMPP 3.0/2.0)."""


@dataclass(frozen=True, slots=True)
class BindDenied:
    login: str
    status: int


@dataclass(frozen=True, slots=True)
class SubmitReceived:
    """A submit the server accepted under ``message_id``."""

    pdu: Any
    message_id: str


@dataclass(frozen=True, slots=True)
class SubmitRefused:
    pdu: Any
    status: int


@dataclass(frozen=True, slots=True)
class DeliverAnswered:
    """The client answered an MO or receipt; ``status`` 0 means it took it."""

    token: int
    status: int


@dataclass(frozen=True, slots=True)
class DeliverUnanswered:
    token: int


@dataclass(frozen=True, slots=True)
class ClientUnbound:
    pass


@dataclass(frozen=True, slots=True)
class CloseClient:
    reason: str


ServerEvent = (
    ClientBound | BindDenied | SubmitReceived | SubmitRefused | DeliverAnswered
    | DeliverUnanswered | ClientUnbound | CloseClient | PeerError
)
