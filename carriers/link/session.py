"""The life of a client session, shared by every protocol. Pure: time is always an argument.

:class:`ClientSession` is what SMPP's ESME and CMPP's SP client have in common: it lives as
long as the link and survives reconnects (its queue waits while the link is down); it logs in
when a connection is made, keeps the link alive when idle, sends submits through the shared
:class:`~carriers.link.flow.FlowControl`, hands received MOs and receipts up and answers them
only when told, and stops gracefully (no new submits, wait for the responses in flight up to a
drain time, then log out).  A protocol's session says only what its PDUs are: the login,
keep-alive and logout requests, how a received PDU is handled, and how an MO is answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carriers.link.channel import FramingLost, PduChannel, PeerError
from carriers.link.events import (
    Bound,
    CloseConnection,
    InboundAnswer,
    LinkState,
    MessageReceived,
    SessionEvent,
    SubmitAccepted,
    SubmitNotSent,
    SubmitRejected,
    SubmitUnanswered,
    Throttled,
    Unbound,
)
from carriers.link.flow import FlowControl, FlowSettings, QueuedSubmit
from carriers.messages import Lane

LOGIN = "login"
KEEPALIVE = "keepalive"
LOGOUT = "logout"


@dataclass(slots=True)
class _Control:
    kind: str  # LOGIN, KEEPALIVE or LOGOUT
    deadline: float


class ClientSession:
    """Login, keep-alive, window, TPS, lanes, timeouts and graceful logout for one link.

    Subclasses set the class attributes naming their requests (for reasons people read) and
    implement the ``_new_channel``, ``_login``, ``_keepalive``, ``_logout``, ``_handle`` and
    ``_answer`` hooks; they call ``_logged_in``, ``_login_refused``, ``_submit_answered``,
    ``_control_answered`` and ``_logged_out`` from ``_handle``.
    """

    login_request = "login"
    keepalive_request = "keep-alive"
    logout_request = "logout"
    logged_out = "logged out"
    """Why what was in flight is given up and the connection closed after our logout."""
    peer_logged_out = "the carrier logged us out"

    def __init__(self, flow: FlowSettings, *, drain_timeout: float, keepalive_tries: int = 1
                 ) -> None:
        self.state = LinkState.DISCONNECTED
        self._flow = FlowControl(flow)
        self._response_timeout = flow.response_timeout
        self._drain_timeout = drain_timeout
        self._keepalive_tries = keepalive_tries
        self._missed_keepalives = 0
        self._control: dict[int, _Control] = {}
        self._channel = self._new_channel()
        self._connection = 0
        self._drain_deadline = 0.0
        self._events: list[SessionEvent] = []

    # -- hooks for the protocol -------------------------------------------------------

    def _new_channel(self) -> PduChannel:
        raise NotImplementedError

    def _login(self, now: float) -> Any:
        """The login request for a new connection (its sequence number is assigned here)."""
        raise NotImplementedError

    def _keepalive(self) -> Any:
        raise NotImplementedError

    def _logout(self) -> Any:
        raise NotImplementedError

    def _handle(self, pdu: Any, now: float) -> None:
        raise NotImplementedError

    def _answer(self, pdu: Any, answer: InboundAnswer) -> Any:
        """The response to a received MO or receipt."""
        raise NotImplementedError

    def _send_answer(self, pdu: Any, answer: InboundAnswer) -> None:
        """Queue the response to a received MO or receipt (a protocol may encode its
        commonest answer more cheaply than through ``_answer``)."""
        self._channel.send(self._answer(pdu, answer))

    # -- inputs from the transport -------------------------------------------------

    def connection_made(self, now: float) -> None:
        """A TCP connection is up: log in."""
        self._connection += 1
        self._channel = self._new_channel()
        self._flow.give_up_in_flight()
        self._control.clear()
        self._missed_keepalives = 0
        self.state = LinkState.BINDING
        self._flow.last_activity = now
        self._send_control(self._login(now), LOGIN, now)

    def connection_lost(self, now: float) -> list[SessionEvent]:
        """The connection is gone; unanswered submits are reported, queued ones wait."""
        events = self._take_events()
        events.extend(self._give_up_in_flight("connection lost"))
        self._control.clear()
        if self.state in (LinkState.DRAINING, LinkState.UNBINDING, LinkState.CLOSED):
            self.state = LinkState.CLOSED
            events.extend(self._abandon_queue())
        else:
            self.state = LinkState.DISCONNECTED
        return events

    def receive_data(self, data: bytes, now: float) -> list[SessionEvent]:
        self._flow.last_activity = now
        for item in self._channel.receive(data):
            if isinstance(item, PeerError):
                self._events.append(item)
            elif isinstance(item, FramingLost):
                self._events.append(CloseConnection(item.reason))
            else:
                self._handle(item, now)
        self._finish_draining(now)
        self._pump(now)
        return self._take_events()

    def tick(self, now: float) -> list[SessionEvent]:
        """Handle timeouts and keep-alives due at ``now``; release queued submits."""
        for expired in self._flow.expired(now):
            self._events.append(SubmitUnanswered(expired.token, "response timeout"))
        probe_again = link_dead = False
        for sequence, outstanding in list(self._control.items()):
            if outstanding.deadline > now:
                continue
            del self._control[sequence]
            if outstanding.kind == KEEPALIVE:
                self._missed_keepalives += 1
                if self._missed_keepalives >= self._keepalive_tries:
                    link_dead = True
                    self._events.append(CloseConnection(self._keepalive_lost()))
                else:
                    probe_again = True
            elif outstanding.kind == LOGIN:
                self._events.append(CloseConnection(f"{self.login_request} not answered"))
            elif outstanding.kind == LOGOUT:
                self._logged_out(by_peer=False)
        self._finish_draining(now)
        if (
            self.state is LinkState.BOUND
            and not link_dead
            and (probe_again or self._flow.keepalive_due(now))
            and not any(o.kind == KEEPALIVE for o in self._control.values())
        ):
            self._send_control(self._keepalive(), KEEPALIVE, now)
            self._flow.last_activity = now
        self._pump(now)
        return self._take_events()

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must next be called, or None when nothing is timed."""
        candidates = [o.deadline for o in self._control.values()]
        response = self._flow.first_response_deadline()
        if response is not None:
            candidates.append(response)
        if self.state is LinkState.BOUND:
            candidates.extend(self._flow.deadlines(len(self._control)))
        if self.state is LinkState.DRAINING:
            candidates.append(self._drain_deadline)
        return min(candidates) if candidates else None

    def data_to_send(self) -> bytes:
        return self._channel.data_to_send()

    # -- inputs from the layer above -----------------------------------------------

    def submit_encoded(self, frame: bytes, now: float, lane: Lane = Lane.BULK) -> int:
        """Queue an encoded submit (its sequence number is patched in when it is sent)."""
        if self.state in (LinkState.CLOSED, LinkState.DRAINING, LinkState.UNBINDING):
            raise RuntimeError("the link is shutting down; no new submits")
        token = self._flow.enqueue(frame, lane)
        self._pump(now)
        return token

    def acknowledge(
        self, received: MessageReceived, answer: InboundAnswer = InboundAnswer.STORED
    ) -> bool:
        """Answer an MO/receipt once the layer above has stored it (or failed to).

        Returns False when the connection it came on is gone: the carrier will deliver it
        again, so nothing is lost.
        """
        if received.connection != self._connection or self.state in (
            LinkState.DISCONNECTED, LinkState.CLOSED,
        ):
            return False
        self._send_answer(received.pdu, answer)
        return True

    def unbind(self, now: float) -> list[SessionEvent]:
        """Start a graceful stop: no new submits, wait for responses, then log out."""
        if self.state is LinkState.BOUND:
            self.state = LinkState.DRAINING
            self._drain_deadline = now + self._drain_timeout
            if not self._flow.in_flight:
                self._send_logout(now)
        elif self.state in (LinkState.DISCONNECTED, LinkState.BINDING):
            self.state = LinkState.CLOSED
            self._events.extend(self._abandon_queue())
            self._events.append(CloseConnection("shutting down"))
        return self._take_events()

    def hold_bulk(self, held: bool, now: float) -> None:
        """Hold bulk submits (or let them go again): see ``FlowControl.bulk_held``."""
        self._flow.bulk_held = held
        if not held:
            self._pump(now)

    def abandon_queued(self, lane: Lane = Lane.BULK) -> list[SessionEvent]:
        """Give up the submits of ``lane`` not written yet (a stopping sender takes them
        back): one :class:`SubmitNotSent` each. What is in flight stays in flight."""
        return [SubmitNotSent(token) for token in self._flow.take_back(lane)]

    # -- introspection ---------------------------------------------------------------

    @property
    def queued(self) -> int:
        return self._flow.queued

    @property
    def in_flight(self) -> int:
        return self._flow.in_flight

    @property
    def window(self) -> int:
        return self._flow.settings.window

    @property
    def stop_timeout(self) -> float:
        return self._drain_timeout + self._response_timeout

    @property
    def is_bound(self) -> bool:
        return self.state is LinkState.BOUND

    # -- for the protocol's _handle -------------------------------------------------------

    def _logged_in(self, peer_id: str, now: float) -> None:
        self.state = LinkState.BOUND
        self._flow.start(now)
        self._events.append(Bound(peer_id))

    def _control_answered(self, sequence: int) -> str | None:
        """The kind of control request a response answers (now no longer awaited), if any."""
        control = self._control.pop(sequence, None)
        if control is None:
            return None
        if control.kind == KEEPALIVE:
            self._missed_keepalives = 0
        return control.kind

    def _submit_answered(
        self, sequence: int, *, accepted: bool, throttled: bool, status: int, message_id: str,
        now: float,
    ) -> bool:
        """A submit's response: accepted, throttled (re-queued, pause) or refused. False when
        no submit with ``sequence`` is in flight."""
        item = self._flow.answered(sequence)
        if item is None:
            return False
        self._submit_outcome(item, accepted=accepted, throttled=throttled, status=status,
                             message_id=message_id, now=now)
        return True

    def _submit_outcome(
        self, item: QueuedSubmit, *, accepted: bool, throttled: bool, status: int,
        message_id: str, now: float,
    ) -> None:
        latency = now - item.sent_at
        if accepted:
            self._flow.accepted()
            self._events.append(SubmitAccepted(item.token, message_id, latency))
            return
        if throttled:
            pause = self._flow.throttled(item, now)
            if pause is not None:
                if pause:
                    self._events.append(Throttled(status, pause))
                return
        self._events.append(SubmitRejected(item.token, status, latency))

    def _logged_out(self, *, by_peer: bool) -> None:
        """The logout finished (or the peer logged us out)."""
        self._events.extend(self._give_up_in_flight(self.logged_out))
        self._control.clear()
        if by_peer and self.state in (LinkState.BOUND, LinkState.BINDING):
            self.state = LinkState.DISCONNECTED
            self._events.append(Unbound(by_peer=True))
            self._events.append(CloseConnection(self.peer_logged_out))
            return
        self.state = LinkState.CLOSED
        self._events.extend(self._abandon_queue())
        self._events.append(Unbound(by_peer=by_peer))
        self._events.append(CloseConnection(self.logged_out))

    def _take_events(self) -> list[SessionEvent]:
        events, self._events = self._events, []
        return events

    # -- internals -------------------------------------------------------------------

    def _keepalive_lost(self) -> str:
        if self._keepalive_tries == 1:
            return f"{self.keepalive_request} not answered"
        return f"{self._missed_keepalives} {self.keepalive_request}s in a row not answered"

    def _send_control(self, pdu: Any, kind: str, now: float) -> None:
        sequence = self._channel.request(pdu)
        self._control[sequence] = _Control(kind, now + self._response_timeout)

    def _finish_draining(self, now: float) -> None:
        """Log out once the last response is in, or when the drain time is up."""
        if self.state is LinkState.DRAINING and (
            not self._flow.in_flight or now >= self._drain_deadline
        ):
            self._send_logout(now)

    def _send_logout(self, now: float) -> None:
        self.state = LinkState.UNBINDING
        self._events.extend(self._give_up_in_flight(f"{self.logout_request} timeout"))
        self._send_control(self._logout(), LOGOUT, now)

    def _abandon_queue(self) -> list[SessionEvent]:
        return [SubmitNotSent(token) for token in self._flow.take_back_all()]

    def _give_up_in_flight(self, reason: str) -> list[SessionEvent]:
        return [SubmitUnanswered(token, reason) for token in self._flow.give_up_in_flight()]

    def _pump(self, now: float) -> None:
        """Send queued submits as far as state, window, pause and TPS allow."""
        if self.state is not LinkState.BOUND:
            return
        self._flow.pump(now, self._send_submit, len(self._control))

    def _send_submit(self, frame: bytes) -> int:
        """Write one queued submit under the next sequence number; return that number."""
        sequence = self._channel.next_sequence()
        self._channel.send_encoded(frame, sequence)
        return sequence
