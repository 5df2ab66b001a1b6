"""What the gateway sees of a carrier link, and what a protocol brings to the shared one.

The gateway (dispatch, replies, the console) holds :class:`CarrierLink` objects and never a
protocol's types.  A protocol plugs into :class:`~carriers.link.transport.CarrierLinkService`
with two objects: a client :class:`LinkSession` (sans-IO, on the shared flow control) and a
:class:`MessageTranslator` that turns neutral messages into encoded submits and received PDUs
into MOs and receipts, and names and classifies the protocol's result codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from twisted.internet import defer

from carriers.link.events import InboundAnswer, LinkState, MessageReceived, SessionEvent
from carriers.link.status import LinkStatus
from carriers.messages import (
    DeliveryReceipt,
    InboundMessage,
    Lane,
    OutboundMessage,
    SubmitOutcome,
    SubmitResult,
)


class UnreadableMessage(ValueError):
    """A received PDU the gateway cannot turn into an MO or a receipt."""


class LinkSession(Protocol):
    """A client session the shared transport drives. Time is always an argument.

    Optional: a ``wants_connection`` property (bool).  Absent or True, the transport keeps a
    connection up (reconnecting with backoff).  False when a connection ends (SGIP after an
    idle close, until work is queued), the transport does not reconnect until a submit queues
    work or ``when_bound`` is asked (``carriers.link.transport``)."""

    state: LinkState

    @property
    def login_name(self) -> str:
        """Who the session logs in as (SMPP system_id, CMPP SP code), for logs."""
        ...

    @property
    def stop_timeout(self) -> float:
        """How long a graceful stop may take: drain, then the logout's answer."""
        ...

    @property
    def queued(self) -> int: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def window(self) -> int: ...

    @property
    def is_bound(self) -> bool: ...

    def connection_made(self, now: float) -> None: ...

    def connection_lost(self, now: float) -> list[SessionEvent]: ...

    def receive_data(self, data: bytes, now: float) -> list[SessionEvent]: ...

    def tick(self, now: float) -> list[SessionEvent]: ...

    def next_deadline(self) -> float | None: ...

    def data_to_send(self) -> bytes: ...

    def submit_encoded(self, frame: bytes, now: float, lane: Lane = Lane.BULK) -> int: ...

    def acknowledge(
        self, received: MessageReceived, answer: InboundAnswer = InboundAnswer.STORED
    ) -> bool:
        """Queue the answer to ``received`` (False when its connection is gone). It moves
        none of the session's deadlines: the transport writes it without rescheduling."""

    def unbind(self, now: float) -> list[SessionEvent]: ...

    def abandon_queued(self, lane: Lane = Lane.BULK) -> list[SessionEvent]: ...

    def hold_bulk(self, held: bool, now: float) -> None:
        """Hold bulk submits while too much inbound awaits storage (replies still go)."""


class MessageTranslator(Protocol):
    """One protocol's words for the neutral messages. Pure."""

    protocol: str
    """"smpp", "cmpp", …"""

    def frames_for(self, message: OutboundMessage) -> Sequence[bytes]:
        """One encoded submit per part (sequence number left for the session to patch)."""
        ...

    def read(
        self, pdu: Any, *, carrier: str, received_at: datetime
    ) -> InboundMessage | DeliveryReceipt:
        """The MO or receipt a received PDU carries; ``UnreadableMessage`` when it is
        neither."""
        ...

    def sender_of(self, pdu: Any) -> str:
        """The number a received PDU came from, for logs."""
        ...

    def classify(self, status: int) -> SubmitOutcome:
        """A refused submit's result code: TRANSIENT (retry later) or PERMANENT."""
        ...

    def status_name(self, status: int) -> str:
        """A submit's result code as people read it, with its number."""
        ...

    def login_status_name(self, status: int) -> str:
        """A refused login's status (SMPP bind_resp, CMPP CONNECT_RESP) as people read it."""
        ...


class CarrierLink(Protocol):
    """A link to one carrier, kept up while it runs (a Twisted service)."""

    carrier: str
    protocol: str
    peer: str
    binds: int
    throttled: int
    paused_reading: int
    name: str
    running: int

    @property
    def status(self) -> LinkStatus:
        """The link's state and figures (:mod:`carriers.link.status`)."""
        ...

    def submit(self, message: OutboundMessage) -> defer.Deferred[list[SubmitResult]]:
        """Queue every part of ``message``; fires with one classified result per part."""
        ...

    def when_bound(self) -> defer.Deferred[None]: ...

    def abandon_queued(self) -> int:
        """Give back the bulk submits not written yet (each resolves NOT_SENT)."""
        ...

    @property
    def is_bound(self) -> bool: ...

    @property
    def queued(self) -> int: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def window(self) -> int: ...

    @property
    def unacknowledged(self) -> int: ...

    @property
    def reading_paused(self) -> bool: ...

    def startService(self) -> None: ...

    def stopService(self) -> defer.Deferred[None]: ...

    def setServiceParent(self, parent: Any) -> None: ...
