"""A simulated China Unicom SMG (SGIP 1.2) for tests and demos: both of its connections.

* **Submit side.** It listens for SPs (BIND Login Type 1) and runs one
  :class:`~carriers.sgip.smg.SmgSession` per connection: logins checked against ``accounts``,
  SUBMITs answered under the SMG's TPS and window, every accepted SUBMIT recorded.
* **Connect-back side.** Like a real SMG it opens its own connection to the SP's listener,
  binds with Login Type 2 and the name and password the SP gave it, and sends DELIVERs (MOs,
  :meth:`SimulatedSmg.send_mo`) and REPORTs (``receipt_delay`` after each accepted SUBMIT whose
  ReportFlag asks for one).  One :class:`~carriers.sgip.smg.SmgCallbackSession` lives as long
  as the simulator; Twisted's ``ClientService`` keeps its connection up, retrying with
  backoff, and what could not be delivered waits in the session's queue (a DELIVER_RESP /
  REPORT_RESP of 11 puts it back and it is sent again after a pause).

It is not (yet) a :class:`~carriers.simulator.carrier_service.SimulatedCarrier` dialect: that
service delivers MOs and receipts on the client's own connection, and SGIP needs the second,
outgoing one.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from twisted.application import service
from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer, protocol
from twisted.internet.interfaces import (
    IListeningPort,
    IReactorTime,
    IStreamClientEndpoint,
    IStreamServerEndpoint,
)
from twisted.python.failure import Failure

from carriers.link.events import (
    CloseConnection,
    SessionEvent,
    SubmitAccepted,
    SubmitNotSent,
    SubmitRejected,
    SubmitUnanswered,
)
from carriers.link.transport import ReconnectPolicy
from carriers.messages import Lane
from carriers.sgip.client import SgipClientSettings
from carriers.sgip.pdus import Deliver, Report, ReportState, Submit
from carriers.sgip.sequence import ZERO
from carriers.sgip.smg import SmgCallbackSession, SmgSession
from carriers.simulator.server_events import (
    CloseClient,
    ServerEvent,
    ServerFaults,
    ServerSettings,
    SubmitReceived,
)

__all__ = ["SMG_TIME", "SimulatedSmg", "SmgSimulatorSettings"]

log = logging.getLogger(__name__)

SMG_TIME = timezone(timedelta(hours=8), "CST")
"""The simulated SMG's local time: its Sequence Numbers are stamped in it."""
_REPORT_ALWAYS = 1
_REPORT_ON_ERROR = 0
_REPORT_MONTHLY = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class SmgSimulatorSettings:
    accounts: Mapping[str, str]
    """SP Login Name → password, for the SPs' BINDs."""
    callback_login: str
    """What the SMG binds with at the SP's listener (Login Type 2)."""
    callback_password: str
    node_id: int = 175501
    """The SMG's node id (1AAAAX)."""
    server: ServerSettings = field(default_factory=lambda: ServerSettings(idle_timeout=0.0))
    receipt_delay: float = 0.5
    report_state: int = ReportState.DELIVERED
    report_error: int = 0
    callback_idle_timeout: float = 3600.0
    """Idle seconds before the connect-back connection is unbound and closed."""


def _smg_wall_clock(now: float) -> datetime:
    return datetime.fromtimestamp(now, SMG_TIME)


class _SubmitConnection(protocol.Protocol):
    """One SP's submit connection to the simulated SMG."""

    def __init__(self, smg: SimulatedSmg) -> None:
        self.smg = smg
        self.session = SmgSession(settings=smg.settings.server, accounts=smg.settings.accounts,
                                  node_id=smg.settings.node_id, wall_clock=_smg_wall_clock,
                                  faults=smg.faults)
        self._timer: Any = None

    def connectionMade(self) -> None:
        self.session.connection_made(self.smg._now())
        self.flush()

    def dataReceived(self, data: bytes) -> None:
        self.handle(self.session.receive_data(data, self.smg._now()))
        self.flush()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def flush(self) -> None:
        data = self.session.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        deadline = self.session.next_deadline()
        if deadline is not None and self.transport is not None:
            self._timer = self.smg._clock.callLater(max(0.0, deadline - self.smg._now()),
                                                    self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.handle(self.session.tick(self.smg._now()))
        self.flush()

    def handle(self, events: list[ServerEvent]) -> None:
        for event in events:
            if isinstance(event, SubmitReceived):
                self.smg._accepted(event.pdu)
            elif isinstance(event, CloseClient):
                self.flush()
                if self.transport is not None:
                    self.transport.loseConnection()


class _CallbackConnection(protocol.Protocol):
    """The SMG's connection back to the SP's listener."""

    def __init__(self, smg: SimulatedSmg) -> None:
        self.smg = smg

    def connectionMade(self) -> None:
        self.smg._callback_made(self)

    def dataReceived(self, data: bytes) -> None:
        self.smg._callback_events(self.smg.callback.receive_data(data, self.smg._now()))

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.smg._callback_lost(self)


class SimulatedSmg(service.Service):
    """The simulated SMG: listens for SP binds, connects back to the SP's listener."""

    def __init__(
        self,
        settings: SmgSimulatorSettings,
        *,
        endpoint: IStreamServerEndpoint,
        callback_endpoint: IStreamClientEndpoint,
        clock: IReactorTime,
        reconnect: ReconnectPolicy | None = None,
        rng: random.Random | None = None,
        faults: ServerFaults | None = None,
        on_answer: Callable[[int, int | None], None] | None = None,
    ) -> None:
        """``on_answer(token, result)`` is told how each MO or report ended: the SP's Result,
        or None when it was never answered."""
        self.settings = settings
        self.faults = faults or ServerFaults()
        self._endpoint = endpoint
        self._clock = clock
        self._on_answer = on_answer
        self.callback = SmgCallbackSession(
            SgipClientSettings(login_name=settings.callback_login,
                               login_password=settings.callback_password,
                               node_id=settings.node_id, tps=0.0,
                               idle_timeout=settings.callback_idle_timeout),
            wall_clock=_smg_wall_clock)
        policy = reconnect or ReconnectPolicy()
        self._client = ClientService(
            callback_endpoint, protocol.Factory.forProtocol(lambda: _CallbackConnection(self)),
            retryPolicy=backoffPolicy(initialDelay=policy.initial_delay,
                                      maxDelay=policy.max_delay, factor=policy.factor,
                                      jitter=(rng or random.Random()).random),
            clock=clock)
        self._port: IListeningPort | None = None
        self._callback_protocol: _CallbackConnection | None = None
        self._timer: Any = None
        self.received: list[Submit] = []
        """Every SUBMIT accepted, in order."""
        self.answers: dict[int, int | None] = {}
        """Token of each MO / report → the SP's Result (None: never answered)."""

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulated SMG is not listening")
        return int(self._port.getHost().port)  # type: ignore[attr-defined]

    def startService(self) -> None:
        super().startService()
        factory = protocol.Factory.forProtocol(lambda: _SubmitConnection(self))

        def listening(port: IListeningPort) -> None:
            self._port = port

        self._endpoint.listen(factory).addCallback(listening)
        self._client.startService()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        port, self._port = self._port, None
        stopping = [self._client.stopService()]
        if port is not None:
            stopping.append(defer.maybeDeferred(port.stopListening))
        return defer.DeferredList(stopping).addCallback(lambda _: None)

    def send_mo(self, source: str, destination: str, text: str) -> int:
        """Queue an MO from handset ``source`` to the SP number ``destination``; return the
        token its answer is recorded under in :attr:`answers`."""
        if text.isascii():
            payload, coding = text.encode("ascii"), 0
        else:
            payload, coding = text.encode("utf-16-be"), 8
        pdu = Deliver(sequence=ZERO, user_number=source, sp_number=destination,
                      message_coding=coding, message_content=payload)
        return self._deliver(pdu)

    # -- internals ---------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock.seconds()

    def _deliver(self, pdu: Deliver | Report) -> int:
        token = self.callback.deliver(pdu, self._now(), Lane.BULK)
        self._flush()
        return token

    def _accepted(self, pdu: Submit) -> None:
        self.received.append(pdu)
        s = self.settings
        failed = s.report_state == ReportState.FAILED
        if pdu.report_flag in (_REPORT_ALWAYS, _REPORT_MONTHLY) or (
                pdu.report_flag == _REPORT_ON_ERROR and failed):
            report = Report(sequence=ZERO, submit_sequence=pdu.sequence,
                            user_number=pdu.user_numbers[0], state=s.report_state,
                            error_code=s.report_error if failed else 0)
            self._clock.callLater(s.receipt_delay, self._deliver, report)

    def _callback_made(self, connection: _CallbackConnection) -> None:
        self._callback_protocol = connection
        self.callback.connection_made(self._now())
        self._flush()

    def _callback_lost(self, connection: _CallbackConnection) -> None:
        if connection is not self._callback_protocol:
            return
        self._callback_protocol = None
        self._callback_events(self.callback.connection_lost(self._now()))

    def _callback_events(self, events: list[SessionEvent]) -> None:
        for event in events:
            if isinstance(event, SubmitAccepted):
                self._answered(event.token, 0)
            elif isinstance(event, SubmitRejected):
                self._answered(event.token, event.status)
            elif isinstance(event, SubmitUnanswered | SubmitNotSent):
                self._answered(event.token, None)
            elif isinstance(event, CloseConnection):
                log.info("simulated SMG: closing the connection back: %s", event.reason)
                self._flush()
                connection = self._callback_protocol
                if connection is not None and connection.transport is not None:
                    connection.transport.loseConnection()
        self._flush()

    def _answered(self, token: int, result: int | None) -> None:
        self.answers[token] = result
        if self._on_answer is not None:
            self._on_answer(token, result)

    def _flush(self) -> None:
        connection = self._callback_protocol
        data = self.callback.data_to_send()
        if data and connection is not None and connection.transport is not None:
            connection.transport.write(data)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        deadline = self.callback.next_deadline()
        if deadline is not None and connection is not None:
            self._timer = self._clock.callLater(max(0.0, deadline - self._now()), self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._callback_events(self.callback.tick(self._now()))
