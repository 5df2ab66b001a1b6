"""The carrier link transport on a fake clock: no sockets, no real time, no reactor.

An :class:`SmppLink` (and one :class:`CmppLink`) runs as a started service whose endpoint's
``connect()`` hands back a Deferred the test fires; each connection is a ``StringTransport``
and time is a ``task.Clock``.  The test plays the carrier: it decodes what the link wrote and
feeds it encoded PDUs.  An :class:`SgipLink` shows connecting on demand: after its idle close
the link does not reconnect until there is work.
"""

from __future__ import annotations

import logging
import random
import struct
from typing import Any

import pytest
from twisted.internet import defer, error
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from carriers.cmpp import codec as cmpp_codec
from carriers.cmpp.client import CmppClientSettings
from carriers.cmpp.link import CmppLink
from carriers.cmpp.pdus import Connect, ConnectResp, ConnectStatus
from carriers.link.events import LinkState
from carriers.link.transport import CarrierLinkService, ReconnectPolicy
from carriers.messages import (
    InboundMessage,
    Lane,
    MessagePart,
    OutboundMessage,
    SubmitOutcome,
    SubmitResult,
    TextCoding,
)
from carriers.sgip import codec as sgip_codec
from carriers.sgip.client import SgipClientSettings
from carriers.sgip.link import SgipLink
from carriers.sgip.pdus import Bind, BindResp, Submit, SubmitResp
from carriers.sgip.pdus import Unbind as SgipUnbind
from carriers.sgip.pdus import UnbindResp as SgipUnbindResp
from carriers.smpp import codec
from carriers.smpp.esme import EsmeSettings
from carriers.smpp.link import SmppLink
from carriers.smpp.pdus import (
    BindTransceiver,
    BindTransceiverResp,
    CommandStatus,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)

SETTINGS = EsmeSettings(
    system_id="gw", password="pw", window=2, tps=0, enquire_link_interval=30.0,
    response_timeout=10.0, unbind_timeout=5.0, throttle_backoff=1.0,
)
POLICY = ReconnectPolicy(initial_delay=1.0, max_delay=4.0, factor=2.0)


class Endpoint:
    """Records every connect attempt; the test decides how each one ends."""

    def __init__(self) -> None:
        self.attempts: list[tuple[Any, defer.Deferred[Any]]] = []

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        attempt = defer.Deferred[Any]()
        self.attempts.append((factory, attempt))
        return attempt


class Carrier:
    """The far end of one link: its connections, what it received, what was handed up."""

    def __init__(self, make_link: Any = None, **link_args: Any) -> None:
        self.clock = Clock()
        self.endpoint = Endpoint()
        self.handed: list[tuple[Any, defer.Deferred[None]]] = []
        make = make_link or (lambda **kw: SmppLink(settings=SETTINGS, **kw))
        self.link: CarrierLinkService = make(
            carrier="china_mobile", endpoint=self.endpoint, clock=self.clock,
            on_inbound=self._inbound, reconnect=POLICY, rng=random.Random(0), **link_args,
        )
        self.transport = StringTransport()
        self.proto: Any = None
        self.link.startService()

    def _inbound(self, message: Any) -> defer.Deferred[None]:
        stored = defer.Deferred[None]()
        self.handed.append((message, stored))
        return stored

    def accept(self) -> None:
        """The latest connect attempt succeeds on a fresh transport."""
        factory, attempt = self.endpoint.attempts[-1]
        self.transport = StringTransport()
        self.proto = factory.buildProtocol(None)
        self.proto.makeConnection(self.transport)
        attempt.callback(self.proto)

    def bind(self) -> None:
        self.accept()
        (bind,) = self.sent()
        assert isinstance(bind, BindTransceiver)
        self.feed(BindTransceiverResp(sequence_number=bind.sequence_number, system_id="smsc"))
        assert self.link.is_bound

    def feed(self, *pdus: Pdu) -> None:
        self.proto.dataReceived(b"".join(codec.encode(pdu) for pdu in pdus))

    def lose(self) -> None:
        self.proto.connectionLost(Failure(error.ConnectionLost()))

    def frames(self) -> list[bytes]:
        data = self.transport.value()
        self.transport.clear()
        frames = []
        while data:
            (length,) = struct.unpack(">I", data[:4])
            frames.append(data[:length])
            data = data[length:]
        return frames

    def sent(self) -> list[Any]:
        return [codec.decode(frame) for frame in self.frames()]


def message(text: str = "hello") -> OutboundMessage:
    return OutboundMessage(source="10658000", destination="13800138000",
                           parts=(MessagePart(payload=text.encode(), coding=TextCoding.GSM7),))


def answer(submit: SubmitSm, status: int = 0, message_id: str = "") -> SubmitSmResp:
    return SubmitSmResp(sequence_number=submit.sequence_number, command_status=status,
                        message_id=message_id)


def results(submitted: defer.Deferred[list[SubmitResult]]) -> list[SubmitResult]:
    assert submitted.called
    got: list[SubmitResult] = submitted.result
    return got


@pytest.fixture
def carrier() -> Carrier:
    return Carrier()


def test_connect_writes_bind_and_its_resp_fires_when_bound(carrier: Carrier) -> None:
    bound = carrier.link.when_bound()
    assert len(carrier.endpoint.attempts) == 1
    carrier.accept()
    (bind,) = carrier.sent()
    assert isinstance(bind, BindTransceiver)
    assert (bind.system_id, bind.password) == ("gw", "pw")
    assert not bound.called
    carrier.feed(BindTransceiverResp(sequence_number=bind.sequence_number, system_id="smsc"))
    assert bound.called and carrier.link.binds == 1
    assert carrier.link.when_bound().called  # at once when already bound


def test_window_bounds_submits_in_flight_and_each_response_releases_one(
    carrier: Carrier,
) -> None:
    carrier.bind()
    submitted = [carrier.link.submit(message(f"m{n}")) for n in range(5)]
    first = carrier.sent()
    assert [type(pdu) for pdu in first] == [SubmitSm, SubmitSm]
    assert (carrier.link.in_flight, carrier.link.queued) == (2, 3)
    carrier.feed(answer(first[0], message_id="id0"))
    (third,) = carrier.sent()
    assert third.short_message == b"m2"
    assert (carrier.link.in_flight, carrier.link.queued) == (2, 2)
    assert results(submitted[0]) == [SubmitResult(outcome=SubmitOutcome.ACCEPTED,
                                                  message_id="id0")]
    assert not submitted[1].called
    carrier.feed(answer(first[1]), answer(third))
    assert len(carrier.sent()) == 2
    assert (carrier.link.in_flight, carrier.link.queued) == (2, 0)


def test_submits_coalesced_are_written_together_at_the_end(carrier: Carrier) -> None:
    carrier.bind()
    writes: list[bytes] = []
    write = carrier.transport.write
    carrier.transport.write = lambda data: (writes.append(data), write(data))  # type: ignore
    with carrier.link.coalesced():
        submitted = [carrier.link.submit(message(f"m{n}")) for n in range(3)]
        with carrier.link.coalesced():
            carrier.link.submit(message("m3"))
        assert writes == [] and carrier.transport.value() == b""
    assert len(writes) == 1  # the window's two, in one write
    first = carrier.sent()
    assert [pdu.short_message for pdu in first] == [b"m0", b"m1"]
    assert carrier.link.queued == 2
    carrier.feed(answer(first[0], message_id="id0"))  # not coalesced: written at once
    assert [pdu.short_message for pdu in carrier.sent()] == [b"m2"]
    assert results(submitted[0])[0].message_id == "id0"


def test_a_submit_not_answered_in_time_is_unanswered(carrier: Carrier) -> None:
    carrier.bind()
    submitted = carrier.link.submit(message())
    assert len(carrier.sent()) == 1
    carrier.clock.advance(SETTINGS.response_timeout - 0.01)
    assert not submitted.called
    carrier.clock.advance(0.01)
    (result,) = results(submitted)
    assert result.outcome is SubmitOutcome.UNANSWERED and "timeout" in result.reason
    assert carrier.link.in_flight == 0


@pytest.mark.parametrize(("status", "outcome"), [
    (CommandStatus.ESME_RINVDSTADR, SubmitOutcome.PERMANENT),
    (CommandStatus.ESME_RSYSERR, SubmitOutcome.TRANSIENT),
])
def test_a_refused_submit_is_classified_and_named(
    carrier: Carrier, status: CommandStatus, outcome: SubmitOutcome
) -> None:
    carrier.bind()
    submitted = carrier.link.submit(message())
    (submit,) = carrier.sent()
    carrier.feed(answer(submit, status))
    (result,) = results(submitted)
    assert (result.outcome, result.status) == (outcome, status)
    assert status.name in result.reason


def test_throttling_pauses_then_resends_on_the_clock(carrier: Carrier) -> None:
    carrier.bind()
    submitted = carrier.link.submit(message())
    (submit,) = carrier.sent()
    carrier.feed(answer(submit, CommandStatus.ESME_RTHROTTLED))
    assert carrier.link.throttled == 1
    assert not submitted.called
    carrier.clock.advance(SETTINGS.throttle_backoff - 0.01)
    assert carrier.sent() == []
    carrier.clock.advance(0.01)
    (again,) = carrier.sent()
    assert again.short_message == submit.short_message
    assert again.sequence_number != submit.sequence_number
    carrier.feed(answer(again, message_id="id1"))
    assert results(submitted)[0].outcome is SubmitOutcome.ACCEPTED


def test_enquire_link_after_silence_and_the_connection_dropped_unanswered(
    carrier: Carrier,
) -> None:
    carrier.bind()
    carrier.clock.advance(SETTINGS.enquire_link_interval - 0.01)
    assert carrier.sent() == []
    carrier.clock.advance(0.01)
    (probe,) = carrier.sent()
    assert isinstance(probe, EnquireLink)
    carrier.feed(EnquireLinkResp(sequence_number=probe.sequence_number))
    carrier.clock.advance(SETTINGS.enquire_link_interval)
    (probe,) = carrier.sent()
    assert isinstance(probe, EnquireLink) and not carrier.transport.disconnecting
    carrier.clock.advance(SETTINGS.response_timeout)
    assert carrier.transport.disconnecting


def test_after_the_connection_is_lost_the_client_retries_with_backoff(
    carrier: Carrier,
) -> None:
    jitter = random.Random(0)
    carrier.bind()
    carrier.lose()
    assert not carrier.link.is_bound
    for failed, delay in enumerate([2.0, 4.0, 4.0], start=1):  # 1 * 2**n, at most 4
        wait = delay + jitter.random()
        carrier.clock.advance(wait - 0.01)
        assert len(carrier.endpoint.attempts) == failed
        carrier.clock.advance(0.02)
        assert len(carrier.endpoint.attempts) == failed + 1
        if failed < 3:
            carrier.endpoint.attempts[-1][1].errback(error.ConnectionRefusedError())
    bound = carrier.link.when_bound()
    carrier.bind()  # the fourth attempt gets through
    assert bound.called and carrier.link.binds == 2


def test_inbound_is_acknowledged_only_once_stored(carrier: Carrier) -> None:
    carrier.bind()
    for sequence in (7, 8):
        carrier.feed(DeliverSm(sequence_number=sequence, source_addr="13800138000",
                               destination_addr="10658000", short_message=b"JOIN"))
    assert [type(m) for m, _ in carrier.handed] == [InboundMessage, InboundMessage]
    assert carrier.handed[0][0].text == "JOIN"
    assert carrier.sent() == []  # nothing is acknowledged before it is stored
    carrier.handed[0][1].callback(None)
    assert carrier.sent() == [DeliverSmResp(sequence_number=7, command_status=0)]
    carrier.handed[1][1].errback(RuntimeError("database down"))
    assert carrier.sent() == [
        DeliverSmResp(sequence_number=8, command_status=CommandStatus.ESME_RX_T_APPN)]


def test_the_messages_of_one_read_carry_its_time(carrier: Carrier) -> None:
    carrier.bind()
    carrier.clock.advance(100.5)
    carrier.feed(*(DeliverSm(sequence_number=sequence, source_addr="13800138000",
                             destination_addr="10658000", short_message=b"JOIN")
                   for sequence in (7, 8)))
    carrier.clock.advance(2.0)
    carrier.feed(DeliverSm(sequence_number=9, source_addr="13800138000",
                           destination_addr="10658000", short_message=b"Y"))
    times = [message.received_at.timestamp() for message, _ in carrier.handed]
    assert times == [100.5, 100.5, 102.5]


def test_stop_waits_for_the_submit_in_flight_then_unbinds(
    carrier: Carrier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="carriers.link.transport")
    carrier.bind()
    submitted = carrier.link.submit(message())
    (submit,) = carrier.sent()
    stopped = carrier.link.stopService()
    assert carrier.sent() == []  # draining: no unbind while a response is due
    carrier.feed(answer(submit, message_id="id1"))
    assert results(submitted)[0].outcome is SubmitOutcome.ACCEPTED
    (unbind,) = carrier.sent()
    assert isinstance(unbind, Unbind)
    assert not stopped.called
    carrier.feed(UnbindResp(sequence_number=unbind.sequence_number))
    assert "unbound (by us)" in caplog.text
    assert carrier.transport.disconnecting and not stopped.called
    carrier.lose()
    assert stopped.called and carrier.link.session.state is LinkState.CLOSED
    assert len(carrier.endpoint.attempts) == 1  # and no reconnect
    carrier.clock.advance(60)
    assert len(carrier.endpoint.attempts) == 1


def test_cmpp_login_refused_is_logged_by_its_status_name_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = CmppClientSettings(source_addr="901234", shared_secret="secret")
    carrier = Carrier(lambda **kw: CmppLink(settings=settings, **kw))
    carrier.accept()
    (frame,) = carrier.frames()
    connect = cmpp_codec.decode(frame, settings.version)
    assert isinstance(connect, Connect) and connect.source_addr == "901234"
    refusal = ConnectResp(sequence_id=connect.sequence_id, version=settings.version,
                          status=ConnectStatus.AUTHENTICATION_FAILED)
    carrier.proto.dataReceived(cmpp_codec.encode(refusal, settings.version))
    assert "login refused: CONNECT status 3 (authentication failed)" in caplog.text
    assert carrier.transport.disconnecting and not carrier.link.is_bound


SGIP_SETTINGS = SgipClientSettings(login_name="SP0001", login_password="pw",
                                   node_id=3755012345, idle_timeout=60.0, tps=0)


def sgip_carrier() -> Carrier:
    return Carrier(lambda **kw: SgipLink(settings=SGIP_SETTINGS, **kw))


def sgip_sent(carrier: Carrier) -> list[Any]:
    return [sgip_codec.decode(frame) for frame in carrier.frames()]


def sgip_feed(carrier: Carrier, *pdus: Any) -> None:
    carrier.proto.dataReceived(b"".join(sgip_codec.encode(pdu) for pdu in pdus))


def sgip_bind(carrier: Carrier) -> None:
    carrier.accept()
    (bind,) = sgip_sent(carrier)
    assert isinstance(bind, Bind) and bind.login_name == "SP0001"
    sgip_feed(carrier, BindResp(sequence=bind.sequence))
    assert carrier.link.is_bound


def sgip_idle_out(carrier: Carrier) -> None:
    """Nothing to do for idle_timeout: the link unbinds and the SMG closes the connection."""
    carrier.clock.advance(SGIP_SETTINGS.idle_timeout)
    (unbind,) = sgip_sent(carrier)
    assert isinstance(unbind, SgipUnbind)
    sgip_feed(carrier, SgipUnbindResp(sequence=unbind.sequence))
    assert carrier.transport.disconnecting
    carrier.lose()


def sgip_message(text: str = "hello") -> OutboundMessage:
    return OutboundMessage(
        source="10655012", destination="8613800138000",
        parts=(MessagePart(payload=text.encode("utf-16-be"), coding=TextCoding.UCS2),),
        lane=Lane.INTERACTIVE)


def test_an_idle_sgip_link_stays_closed_until_a_submit_then_connects_once() -> None:
    carrier = sgip_carrier()
    sgip_bind(carrier)
    sgip_idle_out(carrier)
    link = carrier.link
    assert link.idle and not link.is_bound and link.running
    for _ in range(48):  # two days of nothing: no connect attempt, no retry timer
        carrier.clock.advance(3600)
    assert len(carrier.endpoint.attempts) == 1
    assert carrier.clock.getDelayedCalls() == []
    submitted = link.submit(sgip_message("after a pause"))
    assert len(carrier.endpoint.attempts) == 2 and not link.idle  # at once, exactly one
    assert not submitted.called and link.queued == 1
    sgip_bind(carrier)
    (submit,) = sgip_sent(carrier)
    assert isinstance(submit, Submit)
    sgip_feed(carrier, SubmitResp(sequence=submit.sequence))
    (result,) = results(submitted)
    assert result.outcome is SubmitOutcome.ACCEPTED and link.binds == 2
    carrier.clock.advance(600)
    assert len(carrier.endpoint.attempts) == 2
    sgip_idle_out(carrier)  # and idles out again, as before
    carrier.clock.advance(3600)
    assert link.idle and len(carrier.endpoint.attempts) == 2


def test_an_idle_sgip_link_that_fails_to_connect_retries_with_backoff() -> None:
    carrier = sgip_carrier()
    sgip_bind(carrier)
    sgip_idle_out(carrier)
    submitted = carrier.link.submit(sgip_message())
    assert len(carrier.endpoint.attempts) == 2
    carrier.endpoint.attempts[-1][1].errback(error.ConnectionRefusedError())
    carrier.clock.advance(POLICY.initial_delay * POLICY.factor + 1.0)  # backoff + jitter < 1
    assert len(carrier.endpoint.attempts) == 3
    sgip_bind(carrier)
    (submit,) = sgip_sent(carrier)
    sgip_feed(carrier, SubmitResp(sequence=submit.sequence))
    assert results(submitted)[0].outcome is SubmitOutcome.ACCEPTED


def test_a_lost_sgip_connection_not_closed_for_idleness_reconnects() -> None:
    carrier = sgip_carrier()
    sgip_bind(carrier)
    carrier.lose()  # dropped, not idle: the session still wants a connection
    assert not carrier.link.idle
    carrier.clock.advance(POLICY.initial_delay * POLICY.factor + 1.0)
    assert len(carrier.endpoint.attempts) == 2


def test_when_bound_on_an_idle_sgip_link_connects_on_demand() -> None:
    carrier = sgip_carrier()
    sgip_bind(carrier)
    sgip_idle_out(carrier)
    bound = carrier.link.when_bound()
    assert len(carrier.endpoint.attempts) == 2 and not bound.called
    sgip_bind(carrier)
    assert bound.called


def test_stopping_an_idle_sgip_link_finishes_at_once() -> None:
    carrier = sgip_carrier()
    sgip_bind(carrier)
    sgip_idle_out(carrier)
    stopped = carrier.link.stopService()
    assert stopped.called and carrier.link.session.state is LinkState.CLOSED
    assert carrier.link.submit(sgip_message()).result[0].outcome is SubmitOutcome.NOT_SENT
    carrier.clock.advance(3600)
    assert len(carrier.endpoint.attempts) == 1
