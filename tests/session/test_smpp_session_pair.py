"""ESME session ⇄ SMSC session, wired back to back with no sockets and a fake clock."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from carriers.link.flow import FlowControl, FlowSettings
from carriers.simulator.server_events import (
    ClientBound,
    ClientUnbound,
    DeliverAnswered,
    SubmitReceived,
    SubmitRefused,
)
from carriers.smpp import codec
from carriers.smpp.esme import (
    BindRefused,
    Bound,
    CloseConnection,
    EsmeSession,
    EsmeSettings,
    EsmeState,
    Lane,
    MessageReceived,
    SubmitAccepted,
    SubmitNotSent,
    SubmitRejected,
    SubmitUnanswered,
    Throttled,
    Unbound,
)
from carriers.smpp.pdus import (
    BindTransceiverResp,
    CommandStatus,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    SubmitSm,
)
from carriers.smpp.smsc import SmscFaults, SmscSession, SmscSettings

PASSWORD = "secret"


def _authenticate(system_id: str, password: str) -> int:
    if system_id == "gw" and password == PASSWORD:
        return CommandStatus.ESME_ROK
    return CommandStatus.ESME_RBINDFAIL


@dataclass
class Pair:
    """An ESME and an SMSC session with a wire between them and a shared fake clock."""

    esme: EsmeSession
    smsc: SmscSession
    now: float = 0.0
    esme_events: list = field(default_factory=list)
    smsc_events: list = field(default_factory=list)
    wire_to_smsc: list[bytes] = field(default_factory=list)

    def pump(self) -> None:
        """Move bytes both ways until nothing is left to send."""
        for _ in range(1000):
            to_smsc = self.esme.data_to_send()
            to_esme = self.smsc.data_to_send()
            if not to_smsc and not to_esme:
                return
            if to_smsc:
                self.wire_to_smsc.append(to_smsc)
                self.smsc_events += self.smsc.receive_data(to_smsc, self.now)
            if to_esme:
                self.esme_events += self.esme.receive_data(to_esme, self.now)
        raise AssertionError("pair never went quiet")

    def advance(self, seconds: float) -> None:
        """Move the clock forward, ticking both sessions at every deadline on the way."""
        end = self.now + seconds
        for _ in range(100_000):
            deadlines = [d for d in (self.esme.next_deadline(), self.smsc.next_deadline()) if d]
            upcoming = min((d for d in deadlines if d <= end), default=None)
            if upcoming is None or upcoming < self.now:
                upcoming = None if upcoming is None else self.now
            if upcoming is None:
                break
            self.now = max(self.now, upcoming)
            self.esme_events += self.esme.tick(self.now)
            self.smsc_events += self.smsc.tick(self.now)
            self.pump()
            if self.now >= end:
                break
        else:
            raise AssertionError("sessions keep asking to be ticked without progress")
        self.now = end
        self.esme_events += self.esme.tick(self.now)
        self.smsc_events += self.smsc.tick(self.now)
        self.pump()

    def events(self, kind: type) -> list:
        return [e for e in self.esme_events if isinstance(e, kind)]

    def smsc_of(self, kind: type) -> list:
        return [e for e in self.smsc_events if isinstance(e, kind)]


def make_pair(
    *,
    password: str = PASSWORD,
    window: int = 16,
    tps: float = 0.0,
    smsc_tps: float = 0.0,
    faults: SmscFaults | None = None,
    **esme_options: float,
) -> Pair:
    counter = itertools.count(1)
    esme = EsmeSession(
        EsmeSettings(system_id="gw", password=password, window=window, tps=tps, **esme_options)
    )
    smsc = SmscSession(
        settings=SmscSettings(tps=smsc_tps),
        authenticate=_authenticate,
        next_message_id=lambda: f"m{next(counter)}",
        faults=faults,
    )
    pair = Pair(esme, smsc)
    esme.connection_made(pair.now)
    pair.pump()
    return pair


def submit(n: int = 1, text: str = "hello") -> SubmitSm:
    return SubmitSm(
        sequence_number=0,
        source_addr="10658000",
        destination_addr=f"1380013{n:04d}",
        short_message=text.encode(),
    )


def test_bind_succeeds_with_right_password() -> None:
    pair = make_pair()
    assert pair.esme.state is EsmeState.BOUND
    assert pair.events(Bound)
    assert pair.smsc_of(ClientBound)[0].login == "gw"


def test_bind_refused_with_wrong_password_closes_connection() -> None:
    pair = make_pair(password="wrong")
    assert pair.events(BindRefused)[0].status == CommandStatus.ESME_RBINDFAIL
    assert pair.events(CloseConnection)
    assert pair.esme.state is not EsmeState.BOUND


def test_submit_gets_message_id() -> None:
    pair = make_pair()
    token = pair.esme.submit(submit(), pair.now)
    pair.pump()
    accepted = pair.events(SubmitAccepted)
    assert accepted == [SubmitAccepted(token, "m1")]
    assert pair.smsc_of(SubmitReceived)[0].pdu.short_message == b"hello"


def test_submits_wait_while_unbound_and_go_after_bind() -> None:
    esme = EsmeSession(EsmeSettings(system_id="gw", password=PASSWORD, tps=0))
    token = esme.submit(submit(), 0.0)
    assert esme.data_to_send() == b""
    counter = itertools.count(1)
    smsc = SmscSession(settings=SmscSettings(), authenticate=_authenticate,
                       next_message_id=lambda: f"m{next(counter)}")
    pair = Pair(esme, smsc)
    esme.connection_made(0.0)
    pair.pump()
    assert pair.events(SubmitAccepted) == [SubmitAccepted(token, "m1")]


def test_window_limits_requests_in_flight() -> None:
    faults = SmscFaults(withhold_responses=True)
    pair = make_pair(window=4, faults=faults, response_timeout=100.0)
    for n in range(10):
        pair.esme.submit(submit(n), pair.now)
    pair.pump()
    assert len(pair.smsc_of(SubmitReceived)) == 4
    assert pair.esme.in_flight == 4 and pair.esme.queued == 6


def test_window_frees_as_responses_arrive() -> None:
    faults = SmscFaults(response_delay=0.5)
    pair = make_pair(window=2, faults=faults)
    for n in range(6):
        pair.esme.submit(submit(n), pair.now)
    pair.pump()
    assert len(pair.smsc_of(SubmitReceived)) == 2
    pair.advance(0.5)
    assert len(pair.smsc_of(SubmitReceived)) == 4
    pair.advance(1.0)
    assert len(pair.events(SubmitAccepted)) == 6


def test_tps_cap_spreads_submits_over_time() -> None:
    pair = make_pair(tps=10.0)
    for n in range(30):
        pair.esme.submit(submit(n), pair.now)
    pair.pump()
    first_burst = len(pair.smsc_of(SubmitReceived))
    assert first_burst <= 2
    pair.advance(1.0)
    after_one_second = len(pair.smsc_of(SubmitReceived))
    assert 10 <= after_one_second <= 12
    pair.advance(2.0)
    assert len(pair.events(SubmitAccepted)) == 30


def test_interactive_lane_jumps_the_bulk_queue() -> None:
    pair = make_pair(tps=1.0)
    bulk = [pair.esme.submit(submit(n), pair.now) for n in range(5)]
    reply = pair.esme.submit(submit(99, "reply"), pair.now, Lane.INTERACTIVE)
    pair.pump()
    pair.advance(1.0)
    order = [e.token for e in pair.events(SubmitAccepted)]
    assert order[:2] == [bulk[0], reply]


def test_throttled_submits_are_resent_after_backoff() -> None:
    pair = make_pair(smsc_tps=3, throttle_backoff=0.5)
    tokens = [pair.esme.submit(submit(n), pair.now) for n in range(5)]
    pair.pump()
    assert len(pair.smsc_of(SubmitRefused)) == 2
    assert pair.events(Throttled)
    pair.advance(2.0)
    assert sorted(e.token for e in pair.events(SubmitAccepted)) == tokens
    assert not pair.events(SubmitRejected)


def test_queue_full_is_also_retried() -> None:
    faults = SmscFaults(response_delay=0.2)
    esme = EsmeSession(EsmeSettings(system_id="gw", password=PASSWORD, window=8, tps=0,
                                    throttle_backoff=0.3))
    counter = itertools.count(1)
    smsc = SmscSession(settings=SmscSettings(window=2), authenticate=_authenticate,
                       next_message_id=lambda: f"m{next(counter)}", faults=faults)
    pair = Pair(esme, smsc)
    esme.connection_made(0.0)
    pair.pump()
    tokens = [esme.submit(submit(n), 0.0) for n in range(5)]
    pair.pump()
    pair.advance(5.0)
    assert sorted(e.token for e in pair.events(SubmitAccepted)) == tokens
    assert any(r.status == CommandStatus.ESME_RMSGQFUL for r in pair.smsc_of(SubmitRefused))


def test_permanent_error_is_reported_not_retried() -> None:
    pair = make_pair()
    pair.esme.submit(submit(), pair.now)
    # An SMSC that answers with a permanent error.
    data = pair.esme.data_to_send()
    request = codec.decode(data)
    from carriers.smpp.pdus import SubmitSmResp

    response = SubmitSmResp(sequence_number=request.sequence_number,
                            command_status=CommandStatus.ESME_RINVDSTADR)
    events = pair.esme.receive_data(codec.encode(response), pair.now)
    assert next(e for e in events if isinstance(e, SubmitRejected)).status == (
        CommandStatus.ESME_RINVDSTADR
    )


def test_response_timeout_reports_unanswered_and_frees_window() -> None:
    faults = SmscFaults(withhold_responses=True)
    pair = make_pair(window=1, faults=faults, response_timeout=5.0)
    first = pair.esme.submit(submit(1), pair.now)
    pair.esme.submit(submit(2), pair.now)
    pair.pump()
    pair.advance(4.9)
    assert not pair.events(SubmitUnanswered)
    pair.advance(0.2)
    assert pair.events(SubmitUnanswered)[0].token == first
    assert len(pair.smsc_of(SubmitReceived)) == 2


def test_enquire_link_sent_when_idle_and_answered() -> None:
    pair = make_pair(enquire_link_interval=30.0)
    pair.advance(29.0)
    assert not any(isinstance(codec.decode(b), EnquireLink) for b in pair.wire_to_smsc[1:])
    pair.advance(2.0)
    sent = [codec.decode(b) for b in pair.wire_to_smsc[1:]]
    assert any(isinstance(p, EnquireLink) for p in sent)
    assert not pair.events(CloseConnection)


def test_unanswered_enquire_link_drops_the_link() -> None:
    esme = EsmeSession(EsmeSettings(system_id="gw", password=PASSWORD,
                                    enquire_link_interval=10.0, response_timeout=3.0))
    esme.connection_made(0.0)
    bind = codec.decode(esme.data_to_send())
    esme.receive_data(codec.encode(BindTransceiverResp(sequence_number=bind.sequence_number,
                                                       system_id="SMSC")), 0.0)
    assert esme.next_deadline() == 10.0
    assert esme.tick(10.0) == []
    probe = codec.decode(esme.data_to_send())
    assert isinstance(probe, EnquireLink)
    assert esme.next_deadline() == 13.0
    assert esme.tick(12.9) == []
    events = esme.tick(13.0)
    assert any(isinstance(e, CloseConnection) for e in events)


def test_esme_answers_smsc_enquire_link() -> None:
    pair = make_pair()
    events = pair.esme.receive_data(codec.encode(EnquireLink(sequence_number=77)), pair.now)
    assert events == []
    assert codec.decode(pair.esme.data_to_send()) == EnquireLinkResp(sequence_number=77)


def test_mo_is_acknowledged_only_when_told() -> None:
    pair = make_pair()
    token = pair.smsc.deliver(
        DeliverSm(sequence_number=0, source_addr="13800138000", destination_addr="10658000",
                  short_message=b"SD"), pair.now)
    pair.pump()
    received = pair.events(MessageReceived)
    assert received[0].pdu.short_message == b"SD"
    assert not pair.smsc_of(DeliverAnswered)
    assert pair.esme.acknowledge(received[0])
    pair.pump()
    assert pair.smsc_of(DeliverAnswered) == [DeliverAnswered(token, 0)]


def test_ack_after_reconnect_is_refused_so_mo_is_redelivered() -> None:
    pair = make_pair()
    pair.smsc.deliver(DeliverSm(sequence_number=0, source_addr="1", destination_addr="2"),
                      pair.now)
    pair.pump()
    received = pair.events(MessageReceived)[0]
    pair.esme.connection_lost(pair.now)
    pair.esme.connection_made(pair.now)
    assert not pair.esme.acknowledge(received)


def test_connection_lost_reports_in_flight_and_keeps_queue() -> None:
    faults = SmscFaults(withhold_responses=True)
    pair = make_pair(window=1, faults=faults)
    first = pair.esme.submit(submit(1), pair.now)
    second = pair.esme.submit(submit(2), pair.now)
    pair.pump()
    events = pair.esme.connection_lost(pair.now)
    assert [e.token for e in events if isinstance(e, SubmitUnanswered)] == [first]
    assert pair.esme.queued == 1
    # A new SMSC connection: the queued submit goes out after the bind.
    counter = itertools.count(100)
    smsc = SmscSession(settings=SmscSettings(), authenticate=_authenticate,
                       next_message_id=lambda: f"m{next(counter)}")
    pair2 = Pair(pair.esme, smsc, now=pair.now)
    pair.esme.connection_made(pair.now)
    pair2.pump()
    assert pair2.events(SubmitAccepted) == [SubmitAccepted(second, "m100")]


def test_graceful_unbind_waits_for_outstanding_responses() -> None:
    faults = SmscFaults(response_delay=1.0)
    pair = make_pair(faults=faults, unbind_timeout=5.0)
    token = pair.esme.submit(submit(), pair.now)
    queued_late = None
    pair.pump()
    pair.esme_events += pair.esme.unbind(pair.now)
    with pytest.raises(RuntimeError):
        queued_late = pair.esme.submit(submit(2), pair.now)
    assert queued_late is None
    pair.pump()
    assert not pair.smsc_of(ClientUnbound)
    pair.advance(1.0)
    assert pair.events(SubmitAccepted) == [SubmitAccepted(token, "m1")]
    assert pair.smsc_of(ClientUnbound)
    assert pair.events(Unbound)
    assert pair.esme.state is EsmeState.CLOSED


def test_unbind_gives_up_waiting_after_timeout() -> None:
    faults = SmscFaults(withhold_responses=True)
    pair = make_pair(faults=faults, unbind_timeout=2.0, response_timeout=60.0)
    token = pair.esme.submit(submit(), pair.now)
    queued = [pair.esme.submit(submit(n), pair.now) for n in range(2, 40)]
    pair.pump()
    pair.esme_events += pair.esme.unbind(pair.now)
    pair.advance(2.5)
    unanswered = [e.token for e in pair.events(SubmitUnanswered)]
    not_sent = [e.token for e in pair.events(SubmitNotSent)]
    assert unanswered == [token, *queued[:14]]  # 15 of the window of 16 (1 kept for replies)
    assert not_sent == queued[14:]
    assert pair.smsc_of(ClientUnbound)
    assert pair.events(Unbound)


def test_garbage_from_peer_is_nacked_and_session_lives() -> None:
    pair = make_pair()
    # command_id 0x00000099 is unknown: a well-framed PDU with a bad id.
    garbage = bytes.fromhex("00000010000000990000000000000005")
    events = pair.esme.receive_data(garbage, pair.now)
    assert events and not any(isinstance(e, CloseConnection) for e in events)
    nack = codec.decode(pair.esme.data_to_send())
    assert isinstance(nack, GenericNack)
    assert nack.command_status == CommandStatus.ESME_RINVCMDID
    assert nack.sequence_number == 5
    pair.esme.submit(submit(), pair.now)
    pair.pump()
    assert pair.events(SubmitAccepted)


def test_insane_length_closes_the_connection() -> None:
    pair = make_pair()
    events = pair.esme.receive_data(bytes.fromhex("7fffffff00000004"), pair.now)
    assert any(isinstance(e, CloseConnection) for e in events)


def test_smsc_refuses_submit_before_bind() -> None:
    counter = itertools.count(1)
    smsc = SmscSession(settings=SmscSettings(), authenticate=_authenticate,
                       next_message_id=lambda: f"m{next(counter)}")
    smsc.receive_data(codec.encode(submit()), 0.0)
    response = codec.decode(smsc.data_to_send())
    assert response.command_status == CommandStatus.ESME_RINVBNDSTS


def test_deliver_sm_resp_from_esme_decodes() -> None:
    assert codec.decode(codec.encode(DeliverSmResp(sequence_number=3))).sequence_number == 3


def test_bulk_leaves_a_slot_of_the_window_for_a_reply() -> None:
    faults = SmscFaults(withhold_responses=True)
    pair = make_pair(window=16, faults=faults, response_timeout=100.0)
    for n in range(20):
        pair.esme.submit(submit(n), pair.now)
    pair.pump()
    assert len(pair.smsc_of(SubmitReceived)) == 15  # 1 slot in 16 is kept for replies
    pair.esme.submit(submit(99, "reply"), pair.now, Lane.INTERACTIVE)
    pair.esme.submit(submit(98, "reply"), pair.now, Lane.INTERACTIVE)
    pair.pump()
    received = pair.smsc_of(SubmitReceived)
    assert len(received) == 16 and received[-1].pdu.short_message == b"reply"
    assert pair.esme.in_flight == 16 and pair.esme.queued == 6


def test_a_full_bulk_share_of_the_window_asks_for_no_tick() -> None:
    flow = FlowControl(FlowSettings(window=16, tps=0.0, keepalive_interval=30.0))
    for n in range(20):
        flow.enqueue(b"bulk%d" % n, Lane.BULK)
    sequences = itertools.count(1)
    assert flow.pump(5.0, lambda _frame: next(sequences), 0)
    assert flow.in_flight == 15
    assert flow.deadlines(0) == [35.0]  # the keep-alive only: no busy loop on bulk
    flow.enqueue(b"reply", Lane.INTERACTIVE)
    assert min(flow.deadlines(0)) <= 5.0  # the reply may go now
