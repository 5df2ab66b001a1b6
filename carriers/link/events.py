"""What a client session tells its transport, in protocol-neutral terms.

Every client session (SMPP's ESME, CMPP's SP client, …) returns lists of these from
``receive_data``, ``tick``, ``connection_lost`` and ``unbind``.  Status numbers are the
protocol's own; the link's translator names them and says which are worth a retry.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from carriers.link.channel import PeerError


class LinkState(enum.Enum):
    DISCONNECTED = "disconnected"
    BINDING = "binding"
    """Connected; the login (SMPP bind, CMPP connect) is not answered yet."""
    BOUND = "bound"
    DRAINING = "draining"
    """Shutting down: no new submits; waiting for outstanding responses."""
    UNBINDING = "unbinding"
    CLOSED = "closed"
    """Logged out on purpose; will not reconnect."""


class InboundAnswer(enum.Enum):
    """How the gateway answers an MO or receipt it was handed."""

    STORED = "stored"
    UNREADABLE = "unreadable"
    """It can never be stored (not text, no such receipt form): the carrier should not retry."""
    NOT_STORED = "not_stored"
    """Storing failed this time: the carrier should deliver it again."""


@dataclass(frozen=True, slots=True)
class Bound:
    peer_id: str


@dataclass(frozen=True, slots=True)
class BindRefused:
    status: int


@dataclass(frozen=True, slots=True)
class SubmitAccepted:
    token: int
    message_id: str
    latency: float = field(default=0.0, compare=False)
    """Seconds from writing the submit to reading its response (for the link's status;
    not part of what the event says, so not compared)."""


@dataclass(frozen=True, slots=True)
class SubmitRejected:
    """The carrier refused the submit (or throttled it more often than the session retries);
    ``status`` is the protocol's result code."""

    token: int
    status: int
    latency: float | None = field(default=None, compare=False)
    """Seconds from writing the submit to reading its response, as for
    :class:`SubmitAccepted`; None when not measured."""


@dataclass(frozen=True, slots=True)
class SubmitUnanswered:
    """The submit was sent but no response came (timeout or connection lost): the carrier
    may or may not have taken it."""

    token: int
    reason: str


@dataclass(frozen=True, slots=True)
class SubmitNotSent:
    """The submit never left: the session shut down (or gave it back) while it was queued."""

    token: int


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """An MO or a delivery receipt; answer with the session's ``acknowledge``."""

    connection: int
    pdu: Any


@dataclass(frozen=True, slots=True)
class Unbound:
    by_peer: bool


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """The transport should drop the connection (and reconnect unless closed)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Throttled:
    status: int
    pause: float


SessionEvent = (
    Bound | BindRefused | SubmitAccepted | SubmitRejected | SubmitUnanswered | SubmitNotSent
    | MessageReceived | Unbound | CloseConnection | PeerError | Throttled
)
