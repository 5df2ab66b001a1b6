"""The SMG's side of an SP's submit connection (SGIP 1.2, Login Type 1), sans-IO; used by the
simulator and the session tests.

One :class:`SmgSession` per connection an SP opens, with the public interface of CMPP's
:class:`~carriers.cmpp.ismg.IsmgSession` and the neutral events of
:mod:`carriers.simulator.server_events`.  It checks the SP's BIND, answers SUBMITs, enforces
the SMG's own TPS and window and notices UNBINDs.  MOs and reports do not go on this
connection (protocols.md §3.3): the SMG sends them on its own connection back to the SP, so
:attr:`SmgSession.can_receive` is always False here.  Choices made here:

* **Login.** BIND_RESP Result (§3.4): a Login Type other than 1 → 4 (bad login type); the fault
  ``refuse_binds``, an unknown Login Name or a wrong password → 1 (illegal login); a second
  BIND on a bound connection → 2 (repeated login, the connection stays).  A refused BIND is
  followed by :class:`CloseClient`; so is anything but a BIND before login.
* **Message ids.** An accepted SUBMIT's id is ``sequence_text`` of its own Sequence Number:
  the key a REPORT names it by.
* **Refusing submits.** Above the TPS cap → 11 (node busy); above the window → 33 (SMSC queue
  full).  Both are SGIP's "not now".
* **Faults** ``response_delay`` and ``withhold_responses`` apply to SUBMIT_RESP only; BIND and
  UNBIND are always answered.

:class:`SmgCallbackSession` is the other half: the simulated SMG's connection back to the SP
(Login Type 2), carrying DELIVERs and REPORTs.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime

from carriers.link.channel import PeerError
from carriers.messages import Lane
from carriers.sgip import codec
from carriers.sgip.channel import SgipChannel
from carriers.sgip.client import SgipClientSession
from carriers.sgip.pdus import (
    Bind,
    BindResp,
    Deliver,
    DeliverResp,
    LoginType,
    Pdu,
    Report,
    ReportResp,
    Result,
    Submit,
    SubmitResp,
    Unbind,
    UnbindResp,
)
from carriers.sgip.sequence import ZERO, SequenceGenerator, sequence_text, timestamp_for
from carriers.simulator.server_events import (
    BindDenied,
    ClientBound,
    ClientUnbound,
    ServerEvent,
    ServerFaults,
    ServerSettings,
    SubmitReceived,
    SubmitRefused,
)
from carriers.simulator.server_session import QUEUE_FULL, LoginFirstSession

__all__ = ["SmgCallbackSession", "SmgSession", "SmgState"]


class SmgState(enum.Enum):
    OPEN = "open"
    """Connected; no BIND accepted yet."""
    BOUND = "bound"
    CLOSED = "closed"


_ACCEPTED: dict[SmgState, frozenset[type]] = {
    SmgState.OPEN: frozenset({Bind}),
    SmgState.BOUND: frozenset({Bind, Submit, Unbind, UnbindResp}),
}


class SmgSession(LoginFirstSession):
    """One simulated SMG submit connection."""

    open_state = SmgState.OPEN
    closed_state = SmgState.CLOSED
    login_request = "BIND"

    def __init__(
        self,
        *,
        settings: ServerSettings,
        accounts: Mapping[str, str],
        node_id: int,
        wall_clock: Callable[[float], datetime],
        faults: ServerFaults | None = None,
    ) -> None:
        """``accounts``: SP Login Name → password.  ``node_id`` numbers the SMG's own
        requests (its UNBIND); ``wall_clock`` stamps them."""
        self._numbers = SequenceGenerator(node_id)
        super().__init__(settings=settings, channel=SgipChannel(self._numbers), faults=faults)
        self._sgip_channel: SgipChannel = self._channel  # type: ignore[assignment]
        self._accounts = accounts
        self._wall_clock = wall_clock
        self.state = SmgState.OPEN
        self.login = ""
        """The SP's Login Name once bound."""

    @property
    def can_receive(self) -> bool:
        return False

    def receive_data(self, data: bytes, now: float) -> list[ServerEvent]:
        self._stamp(now)
        return super().receive_data(data, now)

    def unbind(self, now: float) -> None:
        """Ask the SP to end the session (what an SMG does to an idle link)."""
        self._stamp(now)
        self._channel.request(Unbind(sequence=ZERO))

    # -- internals -------------------------------------------------------------------

    def _stamp(self, now: float) -> None:
        self._sgip_channel.stamp(timestamp_for(self._wall_clock(now)))

    def _handle(self, pdu: Pdu, now: float) -> None:
        if type(pdu) not in _ACCEPTED.get(self.state, frozenset()):
            self._events.append(PeerError(
                f"{type(pdu).__name__} not allowed while {self.state.value}", 0, ""))
            if self.state is SmgState.OPEN:
                self._close("the SP did not bind first")
            return
        if isinstance(pdu, Submit):
            self._on_submit(pdu, now)
        elif isinstance(pdu, Bind):
            self._on_bind(pdu)
        elif isinstance(pdu, Unbind):
            self._channel.send(UnbindResp(sequence=pdu.sequence))
            self._events.append(ClientUnbound())
            self._close("the SP unbound")
        elif isinstance(pdu, UnbindResp):
            self._close("UNBIND answered")

    def _bind_result(self, pdu: Bind) -> int:
        if self.state is SmgState.BOUND:
            return Result.REPEATED_LOGIN
        if pdu.login_type != LoginType.SP_TO_SMG:
            return Result.BAD_LOGIN_TYPE
        if self.faults.refuse_binds or self._accounts.get(pdu.login_name) != pdu.login_password:
            return Result.ILLEGAL_LOGIN
        return Result.OK

    def _on_bind(self, pdu: Bind) -> None:
        result = self._bind_result(pdu)
        self._channel.send(BindResp(sequence=pdu.sequence, result=result))
        if result == Result.REPEATED_LOGIN:
            self._events.append(PeerError("a second BIND on a bound connection", result, ""))
            return
        if result != Result.OK:
            self._events.append(BindDenied(pdu.login_name, result))
            self._close(f"login refused (BIND_RESP result {result})")
            return
        self.state = SmgState.BOUND
        self.login = pdu.login_name
        self._events.append(ClientBound(pdu.login_name, "sgip1.2"))

    def _on_submit(self, pdu: Submit, now: float) -> None:
        refusal = self._submit_refusal(now)
        if refusal is not None:
            result = Result.SMSC_QUEUE_FULL if refusal == QUEUE_FULL else Result.NODE_BUSY
            self._events.append(SubmitRefused(pdu, result))
            self._respond(SubmitResp(sequence=pdu.sequence, result=result), now)
            return
        self._events.append(SubmitReceived(pdu, sequence_text(pdu.sequence)))
        self._respond(SubmitResp(sequence=pdu.sequence), now)


class SmgCallbackSession(SgipClientSession):
    """The simulated SMG's connection back to the SP's listener (Login Type 2).

    The SP's client session with the roles swapped: it binds with the name and password the SP
    gave the SMG (``settings.login_name`` / ``login_password``; ``node_id`` is the SMG's), and
    its "submits" are DELIVERs and REPORTs, sent through the same window, TPS and throttling.
    DELIVER_RESP / REPORT_RESP Result 0 is :class:`~carriers.link.events.SubmitAccepted`;
    11 (node busy: the SP could not store it) pauses and delivers it again; any other Result is
    :class:`~carriers.link.events.SubmitRejected`.  Idle, it unbinds and closes like the SP's
    client, and connects again when there is something to deliver.
    """

    login_type = LoginType.SMG_TO_SP
    answer_classes = frozenset({DeliverResp, ReportResp})
    login_request = "BIND (SMG to SP)"
    peer_logged_out = "the SP unbound the session"

    def deliver(self, pdu: Deliver | Report, now: float, lane: Lane = Lane.BULK) -> int:
        """Queue an MO or a report (its Sequence Number is assigned on sending)."""
        return self.submit_encoded(codec.encode(pdu), now, lane)
