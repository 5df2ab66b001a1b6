"""SGIP for the shared simulated carrier (:mod:`carriers.simulator.carrier_service`).

SGIP's MOs and reports do not go on the SP's connection but on one the SMG opens back to the
SP's listener (protocols.md §3.3).  :class:`SimulatedSgipSmg` is the shared
:class:`~carriers.simulator.carrier_service.SimulatedCarrier` (accounts, receipts after a
delay with a mix of outcomes, store and forward with redelivery, faults, counters, the control
endpoint) plus that second connection: a ``ClientService`` keeps a connection to the SP's
listener up, retrying with backoff, and the carrier delivers on it as on any connection whose
client can receive.  Each such connection has a :class:`CallbackServerSession`: a fresh
:class:`~carriers.sgip.smg.SmgCallbackSession` (BIND Login Type 2 with the credentials the SP
gave the SMG) told in the shared server session's words.  The SMG's submit connections
(:class:`~carriers.sgip.smg.SmgSession`) never receive.

:class:`SgipDialect`: message ids are the SUBMIT's own Sequence Number as text; an MO is a
DELIVER (MessageCoding 0 for ASCII text, else 8); a receipt is a REPORT naming the SUBMIT's
Sequence Number, State from the receipt's stat word (DELIVRD → 0 delivered; ENROUTE,
ACCEPTD → 1 waiting; any other → 2 failed, with ErrorCode :data:`ERROR_CODES` of the word).
ReportFlag 1 and 3 ask for every report, 0 for failures only, 2 for none.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IReactorTCP, IReactorTime, IStreamClientEndpoint

from carriers.codings import wire_number
from carriers.link.channel import PeerError
from carriers.link.events import (
    Bound,
    CloseConnection,
    SessionEvent,
    SubmitAccepted,
    SubmitNotSent,
    SubmitRejected,
    SubmitUnanswered,
)
from carriers.link.transport import ReconnectPolicy
from carriers.messages import Lane, TextCoding
from carriers.sgip.client import SgipClientSettings
from carriers.sgip.pdus import Deliver, Report, ReportState, Result, Submit
from carriers.sgip.sequence import ZERO, parse_sequence_text
from carriers.sgip.smg import SmgCallbackSession, SmgSession
from carriers.simulator import carrier_service
from carriers.simulator.carrier_service import (
    ReceiptWanted,
    ReceivedSubmit,
    SamePdu,
    SimulatedCarrier,
    SimulatorSettings,
    known_coding,
    mo_payload,
    readable_text,
)
from carriers.simulator.server_events import (
    ClientBound,
    CloseClient,
    DeliverAnswered,
    DeliverUnanswered,
    ServerEvent,
    ServerFaults,
    ServerSettings,
)

if TYPE_CHECKING:
    from carriers.protocols import SimulatorParts
    from carriers.sgip.config import SgipLinkConfig

__all__ = [
    "ERROR_CODES", "SMG_TIME", "CallbackServerSession", "SgipDialect", "SimulatedSgipSmg",
    "build_sgip_simulator",
]

log = logging.getLogger(__name__)

SMG_TIME = timezone(timedelta(hours=8), "CST")
"""The simulated SMG's local time: its Sequence Numbers are stamped in it."""
DEFAULT_NODE_ID = 175501
"""The simulated SMG's node id (1AAAAX)."""
ERROR_CODES: Mapping[str, int] = {
    "UNDELIV": Result.DESTINATION_UNREACHABLE,
    "EXPIRED": Result.HANDSET_RECEIVE_ERROR,
    "REJECTD": Result.USER_CANNOT_COMMUNICATE,
    "DELETED": Result.SYSTEM_FAILURE,
    "UNKNOWN": Result.SYSTEM_FAILURE,
}
"""The REPORT ErrorCode the simulator writes for each failing stat word (others: 32)."""
_WAITING = frozenset({"ENROUTE", "ACCEPTD"})
_RECEIPTS: Mapping[int, ReceiptWanted] = {
    0: ReceiptWanted.ON_FAILURE, 1: ReceiptWanted.ALWAYS, 2: ReceiptWanted.NONE,
    3: ReceiptWanted.ALWAYS,
}
_ASCII = wire_number("sgip", TextCoding.ASCII)


def _smg_wall_clock(now: float) -> datetime:
    return datetime.fromtimestamp(now, SMG_TIME)


class SgipDialect:
    """SGIP 1.2 for :class:`~carriers.simulator.carrier_service.SimulatedCarrier`."""

    name = "sgip"

    def __init__(self, *, node_id: int = DEFAULT_NODE_ID) -> None:
        self.node_id = node_id

    def new_session(
        self,
        *,
        settings: ServerSettings,
        accounts: Mapping[str, str],
        faults: ServerFaults,
        next_message_id: Callable[[], Any],
    ) -> SmgSession:
        """``next_message_id`` is not used: an SGIP message id is the SUBMIT's own
        Sequence Number."""
        del next_message_id
        return SmgSession(settings=settings, accounts=accounts, node_id=self.node_id,
                          wall_clock=_smg_wall_clock, faults=faults)

    def next_message_id(self) -> str:
        return ""

    def read_submit(
        self, pdu: Submit, *, login: str, message_id: Any, now: float
    ) -> ReceivedSubmit:
        """The first UserNumber stands for the submit (the gateway sends one per SUBMIT)."""
        content = pdu.message_content
        udh = b""
        if pdu.tp_udhi and content:
            udh, content = content[: content[0] + 1], content[content[0] + 1 :]
        coding = known_coding("sgip", pdu.message_coding)
        return ReceivedSubmit(
            message_id=str(message_id),
            login=login,
            source=pdu.sp_number,
            destination=pdu.user_numbers[0] if pdu.user_numbers else "",
            text=readable_text(content, coding),
            coding=coding,
            wire_coding=pdu.message_coding,
            udh=udh,
            received_at=now,
            receipt_wanted=_RECEIPTS.get(pdu.report_flag, ReceiptWanted.ALWAYS),
        )

    def mo_pdu(self, source: str, destination: str, text: str) -> SamePdu:
        """ValueError when a number is not ASCII or over 21 octets, or the text does not fit
        one SM (the simulator does not split MOs)."""
        payload, coding = mo_payload("sgip", source, destination, text)
        return SamePdu(Deliver(sequence=ZERO, user_number=source, sp_number=destination,
                               message_coding=coding, message_content=payload))

    def receipt_pdu(
        self, submit: ReceivedSubmit, *, stat: str, done_at: float, echo_reference: bool
    ) -> SamePdu:
        """``done_at`` and ``echo_reference`` do not apply: a REPORT carries no times and
        no reference."""
        word = stat.upper()
        if word == "DELIVRD":
            state, error = ReportState.DELIVERED, 0
        elif word in _WAITING:
            state, error = ReportState.WAITING, 0
        else:
            state, error = ReportState.FAILED, ERROR_CODES.get(word, Result.SYSTEM_FAILURE)
        return SamePdu(Report(sequence=ZERO,
                              submit_sequence=parse_sequence_text(submit.message_id),
                              user_number=submit.destination, state=state, error_code=error))


class CallbackServerSession:
    """One SMG → SP connection of the simulator, in the shared server session's words.

    ``deliver`` tokens are the callback session's submit tokens: its DELIVER_RESP /
    REPORT_RESP Result comes back as :class:`DeliverAnswered` (11, "not now", is resent by
    the session itself after a pause and reported only once it ends); no answer or a closed
    connection is :class:`DeliverUnanswered`.  :class:`ClientBound` names ``sp_login``, the
    SP account whose reports this connection takes.
    """

    def __init__(self, settings: SgipClientSettings, *, sp_login: str,
                 clock: IReactorTime) -> None:
        self._session = SmgCallbackSession(settings, wall_clock=_smg_wall_clock)
        self._sp_login = sp_login
        self._clock = clock

    @property
    def can_receive(self) -> bool:
        return self._session.is_bound

    @property
    def state(self) -> Any:
        return self._session.state

    def connection_made(self, now: float) -> None:
        self._session.connection_made(now)

    def connection_lost(self, now: float) -> list[ServerEvent]:
        """What was in flight or still queued in this connection's session is given back
        (:class:`DeliverUnanswered`): the simulator delivers it again on the next one."""
        events = self._session.connection_lost(now)
        for lane in (Lane.INTERACTIVE, Lane.BULK):
            events.extend(self._session.abandon_queued(lane))
        return self._translate(events)

    def receive_data(self, data: bytes, now: float) -> list[ServerEvent]:
        return self._translate(self._session.receive_data(data, now))

    def tick(self, now: float) -> list[ServerEvent]:
        return self._translate(self._session.tick(now))

    def next_deadline(self) -> float | None:
        return self._session.next_deadline()

    def data_to_send(self) -> bytes:
        return self._session.data_to_send()

    def deliver(self, pdu: Deliver | Report, now: float) -> int:
        return self._session.deliver(pdu, now)

    def unbind(self) -> None:
        self._session.unbind(self._clock.seconds())

    def send_raw(self, data: bytes) -> None:
        self._session._channel.send_raw(data)

    def _translate(self, events: list[SessionEvent]) -> list[ServerEvent]:
        translated: list[ServerEvent] = []
        for event in events:
            if isinstance(event, SubmitAccepted):
                translated.append(DeliverAnswered(event.token, 0))
            elif isinstance(event, SubmitRejected):
                translated.append(DeliverAnswered(event.token, event.status))
            elif isinstance(event, SubmitUnanswered | SubmitNotSent):
                translated.append(DeliverUnanswered(event.token))
            elif isinstance(event, Bound):
                translated.append(ClientBound(self._sp_login, "sgip1.2 connect-back"))
            elif isinstance(event, CloseConnection):
                translated.append(CloseClient(event.reason))
            elif isinstance(event, PeerError):
                translated.append(event)
        return translated


class _CallbackConnection(carrier_service._ServerConnection):
    """The simulator's connection to the SP's listener: a connection like any other to the
    shared carrier, except that the simulator made it."""

    def __init__(self, simulator: SimulatedSgipSmg) -> None:  # no super(): its own session
        self.simulator = simulator
        self.session = simulator._callback_session()  # type: ignore[assignment]
        self.login = None
        self._timer = None
        self._delivers = {}

    def connectionLost(self, reason: Any = protocol.connectionDone) -> None:
        self.simulator._handle(self, self.session.connection_lost(  # type: ignore[attr-defined]
            self.simulator._now()))
        super().connectionLost(reason)


class SimulatedSgipSmg(SimulatedCarrier):
    """The shared simulated carrier speaking SGIP, connecting back to the SP's listener at
    ``callback_endpoint`` with ``callback_login`` / ``callback_password``."""

    def __init__(
        self,
        settings: SimulatorSettings,
        *,
        reactor: IReactorTCP,
        clock: IReactorTime,
        callback_endpoint: IStreamClientEndpoint,
        callback_login: str,
        callback_password: str,
        host: str = "127.0.0.1",
        port: int = 0,
        rng: random.Random | None = None,
        node_id: int = DEFAULT_NODE_ID,
        reconnect: ReconnectPolicy | None = None,
        callback_idle_timeout: float = 3600.0,
    ) -> None:
        super().__init__(settings, SgipDialect(node_id=node_id), reactor=reactor, clock=clock,
                         host=host, port=port, rng=rng)
        if len(settings.accounts) != 1:
            raise ValueError("an SGIP simulator connects back for exactly one SP account")
        self._sp_login = next(iter(settings.accounts))
        self._callback_settings = SgipClientSettings(
            login_name=callback_login, login_password=callback_password, node_id=node_id,
            tps=0.0, window=settings.deliver_window, idle_timeout=callback_idle_timeout)
        policy = reconnect or ReconnectPolicy()
        self._callback = ClientService(
            callback_endpoint, protocol.Factory.forProtocol(lambda: _CallbackConnection(self)),
            retryPolicy=backoffPolicy(initialDelay=policy.initial_delay,
                                      maxDelay=policy.max_delay, factor=policy.factor,
                                      jitter=self._rng.random),
            clock=clock)

    def startService(self) -> None:
        super().startService()
        self._callback.startService()

    def stopService(self) -> defer.Deferred[None]:
        stopping = super().stopService()
        stopped = [self._callback.stopService()]
        if stopping is not None:
            stopped.append(stopping)
        return defer.DeferredList(stopped).addCallback(lambda _: None)

    def stop_accepting(self) -> defer.Deferred[None]:
        """The SMG goes away: its connection back to the SP's listener too."""
        stopped = [super().stop_accepting()]
        if self._callback.running:
            stopped.append(self._callback.stopService())
        return defer.DeferredList(stopped).addCallback(lambda _: None)

    def start_accepting(self) -> None:
        super().start_accepting()
        if self.running and not self._callback.running:
            self._callback.startService()

    def _callback_session(self) -> CallbackServerSession:
        return CallbackServerSession(self._callback_settings, sp_login=self._sp_login,
                                     clock=self._clock)


def build_sgip_simulator(
    settings: SimulatorSettings, parts: SimulatorParts, *, link: SgipLinkConfig,
    smg_password: str,
) -> SimulatedSgipSmg:
    """The simulated SMG for a gateway whose SGIP link is ``link`` (not started): it accepts
    the link's login, and connects back to the link's listener with ``smg_login_name`` and
    ``smg_password`` (on 127.0.0.1 when the listener listens on every interface)."""
    from twisted.internet.endpoints import TCP4ClientEndpoint

    host = "127.0.0.1" if link.listen_host in ("", "0.0.0.0") else link.listen_host
    return SimulatedSgipSmg(
        settings, reactor=parts.reactor, clock=parts.clock,
        callback_endpoint=TCP4ClientEndpoint(parts.reactor, host, link.listen_port),
        callback_login=link.smg_login_name, callback_password=smg_password,
        host=parts.host, port=parts.port, rng=parts.rng,
    )
