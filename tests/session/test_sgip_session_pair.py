"""SGIP sessions back to back: no sockets, a fake clock.

The SP's submit connection: :class:`SgipClientSession` ⇄ the simulated SMG's
:class:`SmgSession` (bind, bind failures, message ids, window, TPS, throttling, idle close and
reopen, unbind).

The SMG's connection back to the SP: the simulated SMG's :class:`SmgCallbackSession` ⇄ the SP's
:class:`SgipListenerSession` (bind authentication, nothing before the bind, DELIVER and REPORT
answered only when the layer above says, unbind both ways, timeouts).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from carriers.framing import LengthPrefixedFramer
from carriers.link.channel import PeerError
from carriers.link.events import (
    BindRefused,
    Bound,
    CloseConnection,
    InboundAnswer,
    LinkState,
    MessageReceived,
    SubmitAccepted,
    SubmitNotSent,
    SubmitRejected,
    SubmitUnanswered,
    Throttled,
    Unbound,
)
from carriers.messages import (
    DeliveryReceipt,
    MessagePart,
    OutboundMessage,
    TextCoding,
)
from carriers.sgip import codec
from carriers.sgip.client import SgipClientSession, SgipClientSettings
from carriers.sgip.listener import (
    ListenerState,
    PeerBindRefused,
    PeerBound,
    SgipListenerSession,
    SgipListenerSettings,
)
from carriers.sgip.pdus import (
    HEADER_LENGTH,
    Bind,
    BindResp,
    Deliver,
    DeliverResp,
    LoginType,
    Pdu,
    Report,
    ReportResp,
    ReportState,
    ReportType,
    Result,
    Submit,
    SubmitResp,
    Unbind,
    UnbindResp,
)
from carriers.sgip.sequence import (
    SequenceGenerator,
    SequenceNumber,
    reference_of,
    sequence_text,
)
from carriers.sgip.smg import SmgCallbackSession, SmgSession, SmgState
from carriers.sgip.translate import SgipTranslator
from carriers.simulator.server_events import (
    BindDenied,
    ClientBound,
    ClientUnbound,
    CloseClient,
    ServerFaults,
    ServerSettings,
    SubmitReceived,
    SubmitRefused,
)

LOGIN = "SP0001"
PASSWORD = "pw"
SP_NODE = 3755012345
SMG_NODE = 175501
START = datetime(2026, 12, 2, 14, 10, 30)  # the SMG's wall time at now = 0


def wall_clock(now: float) -> datetime:
    return START + timedelta(seconds=now)


def frames_of(chunks: list[bytes]) -> list[bytes]:
    framer = LengthPrefixedFramer(min_length=20, max_length=codec.MAX_PDU_LENGTH)
    return [frame for chunk in chunks for frame in framer.feed(chunk)]


@dataclass
class Pair:
    """An SP client and an SMG session with a wire between them and a shared fake clock."""

    client: SgipClientSession
    smg: SmgSession
    now: float = 0.0
    client_events: list = field(default_factory=list)
    smg_events: list = field(default_factory=list)
    wire_to_smg: list[bytes] = field(default_factory=list)
    wire_to_client: list[bytes] = field(default_factory=list)
    cut: bool = False
    """When set, what the client sends is lost (an SMG that stopped answering)."""

    def pump(self) -> None:
        for _ in range(1000):
            to_smg = self.client.data_to_send()
            to_client = self.smg.data_to_send()
            if not to_smg and not to_client:
                return
            if to_smg and not self.cut:
                self.wire_to_smg.append(to_smg)
                self.smg_events += self.smg.receive_data(to_smg, self.now)
            if to_client:
                self.wire_to_client.append(to_client)
                self.client_events += self.client.receive_data(to_client, self.now)
        raise AssertionError("pair never went quiet")

    def advance(self, seconds: float) -> None:
        """Move the clock forward, ticking both sessions at every deadline on the way."""
        end = self.now + seconds
        for _ in range(100_000):
            deadlines = [d for d in (self.client.next_deadline(), self.smg.next_deadline())
                         if d is not None and d <= end]
            if not deadlines:
                break
            self.now = max(self.now, min(deadlines))
            self.client_events += self.client.tick(self.now)
            self.smg_events += self.smg.tick(self.now)
            self.pump()
            if self.now >= end:
                break
        else:
            raise AssertionError("sessions keep asking to be ticked without progress")
        self.now = end
        self.client_events += self.client.tick(self.now)
        self.smg_events += self.smg.tick(self.now)
        self.pump()

    def reconnect(self, **smg_options) -> None:
        """The transport's part: the old connection is gone, a new one is made."""
        self.client_events += self.client.connection_lost(self.now)
        self.smg = make_smg(**smg_options)
        self.smg.connection_made(self.now)
        self.client.connection_made(self.now)
        self.pump()

    def events(self, kind: type) -> list:
        return [e for e in self.client_events if isinstance(e, kind)]

    def smg_of(self, kind: type) -> list:
        return [e for e in self.smg_events if isinstance(e, kind)]

    def sent_by_client(self) -> list[Pdu]:
        return [codec.decode(f) for f in frames_of(self.wire_to_smg)]

    def sent_by_smg(self) -> list[Pdu]:
        return [codec.decode(f) for f in frames_of(self.wire_to_client)]


def make_smg(*, tps: float = 0.0, window: int = 0, idle_timeout: float = 0.0,
             faults: ServerFaults | None = None) -> SmgSession:
    return SmgSession(
        settings=ServerSettings(tps=tps, window=window, idle_timeout=idle_timeout),
        accounts={LOGIN: PASSWORD}, node_id=SMG_NODE, wall_clock=wall_clock, faults=faults)


def make_client(*, login_name: str = LOGIN, login_password: str = PASSWORD,
                **options: float) -> SgipClientSession:
    options.setdefault("tps", 0.0)
    return SgipClientSession(
        SgipClientSettings(login_name=login_name, login_password=login_password,
                           node_id=SP_NODE, **options),
        wall_clock=wall_clock)


def make_pair(*, smg_tps: float = 0.0, smg_window: int = 0, faults: ServerFaults | None = None,
              login_password: str = PASSWORD, **client_options: float) -> Pair:
    client = make_client(login_password=login_password, **client_options)
    smg = make_smg(tps=smg_tps, window=smg_window, faults=faults)
    pair = Pair(client, smg)
    smg.connection_made(pair.now)
    client.connection_made(pair.now)
    pair.pump()
    return pair


def submit(n: int = 1, text: str = "hello") -> Submit:
    return Submit(sequence=SequenceNumber(0, 0, 0), sp_number="1065501",
                  user_numbers=(f"86130{n:08d}",), message_content=text.encode())


# -- login -------------------------------------------------------------------------------


def test_bind_succeeds_with_login_type_1_and_the_sps_sequence() -> None:
    pair = make_pair()
    assert pair.client.state is LinkState.BOUND and pair.client.is_bound
    assert pair.events(Bound) == [Bound(f"SGIP 1.2 as {LOGIN}")]
    assert pair.smg_of(ClientBound) == [ClientBound(LOGIN, "sgip1.2")]
    assert pair.smg.login == LOGIN and pair.smg.state is SmgState.BOUND
    assert not pair.smg.can_receive  # MOs and reports go on the SMG's own connection
    bind = pair.sent_by_client()[0]
    assert bind == Bind(sequence=SequenceNumber(SP_NODE, 1202141030, 1),
                        login_type=LoginType.SP_TO_SMG, login_name=LOGIN,
                        login_password=PASSWORD)
    assert pair.sent_by_smg() == [BindResp(sequence=bind.sequence, result=0)]
    assert pair.client.login_name == LOGIN


def test_wrong_password_is_refused_with_result_1_and_closed() -> None:
    pair = make_pair(login_password="wrong")
    assert pair.events(BindRefused) == [BindRefused(Result.ILLEGAL_LOGIN)]
    closes = pair.events(CloseConnection)
    assert closes and "illegal login" in closes[0].reason
    assert not pair.client.is_bound
    assert pair.smg_of(BindDenied) == [BindDenied(LOGIN, 1)]
    assert pair.smg_of(CloseClient)


def test_refuse_binds_fault_gives_result_1() -> None:
    pair = make_pair(faults=ServerFaults(refuse_binds=True))
    assert pair.events(BindRefused) == [BindRefused(1)]


def test_smg_refuses_a_bind_of_the_wrong_login_type_with_result_4() -> None:
    smg = make_smg()
    bind = Bind(sequence=SequenceNumber(SP_NODE, 1, 1), login_type=LoginType.SMG_TO_SP,
                login_name=LOGIN, login_password=PASSWORD)
    events = smg.receive_data(codec.encode(bind), 0.0)
    assert BindDenied(LOGIN, Result.BAD_LOGIN_TYPE) in events
    assert any(isinstance(e, CloseClient) for e in events)
    assert codec.decode(smg.data_to_send()) == BindResp(sequence=bind.sequence, result=4)


def test_smg_answers_a_second_bind_with_result_2_and_stays() -> None:
    pair = make_pair()
    bind = Bind(sequence=SequenceNumber(SP_NODE, 1, 99), login_type=1, login_name=LOGIN,
                login_password=PASSWORD)
    events = pair.smg.receive_data(codec.encode(bind), 0.0)
    assert any(isinstance(e, PeerError) for e in events)
    assert codec.decode(pair.smg.data_to_send()) == BindResp(sequence=bind.sequence, result=2)
    assert pair.smg.state is SmgState.BOUND


def test_unanswered_bind_closes_the_connection() -> None:
    client = make_client(response_timeout=4.0)
    client.connection_made(0.0)
    client.data_to_send()
    assert client.next_deadline() == 4.0
    assert client.tick(3.9) == []
    closes = [e for e in client.tick(4.0) if isinstance(e, CloseConnection)]
    assert closes and "BIND not answered" in closes[0].reason


def test_smg_closes_a_connection_that_submits_before_bind() -> None:
    smg = make_smg()
    frame = codec.encode(replace(submit(), sequence=SequenceNumber(SP_NODE, 1, 1)))
    events = smg.receive_data(frame, 0.0)
    assert any(isinstance(e, PeerError) for e in events)
    assert any(isinstance(e, CloseClient) for e in events)
    assert smg.data_to_send() == b""
    assert smg.state is SmgState.CLOSED


def test_smg_closes_on_an_unreadable_bind() -> None:
    smg = make_smg()
    events = smg.receive_data(bytes.fromhex("00000015 00000001") + bytes(13), 0.0)
    assert any(isinstance(e, CloseClient) for e in events)
    assert codec.decode(smg.data_to_send()).result == Result.BAD_MESSAGE_LENGTH


# -- submits and message ids ------------------------------------------------------------------


def test_the_message_id_is_the_submits_own_sequence_number() -> None:
    pair = make_pair()
    pair.advance(5.0)
    token = pair.client.submit(submit(), pair.now)
    pair.pump()
    sent = [p for p in pair.sent_by_client() if isinstance(p, Submit)]
    # The running count sits above the (absent here) part reference: 2 << 17.
    assert sent[0].sequence == SequenceNumber(SP_NODE, 1202141035, 2 << 17)
    expected = "3755012345-1202141035-0000262144"
    assert sequence_text(sent[0].sequence) == expected
    assert pair.events(SubmitAccepted) == [SubmitAccepted(token, expected)]
    assert pair.smg_of(SubmitReceived)[0].message_id == expected
    assert pair.smg_of(SubmitReceived)[0].pdu.user_numbers == ("8613000000001",)


def test_encoded_frames_and_templates_get_their_sequence_patched_in() -> None:
    pair = make_pair()
    template = codec.SubmitTemplate(submit())
    tokens = [pair.client.submit_encoded(template.frame(f"861300000000{n}"), pair.now)
              for n in range(3)]
    pair.pump()
    accepted = pair.events(SubmitAccepted)
    assert [e.token for e in accepted] == tokens
    received = pair.smg_of(SubmitReceived)
    assert [r.pdu.user_numbers[0] for r in received] == [f"861300000000{n}" for n in range(3)]
    assert [e.message_id for e in accepted] == [r.message_id for r in received]
    assert [r.pdu.sequence.counter for r in received] == [2 << 17, 3 << 17, 4 << 17]


def test_a_parts_reference_rides_in_its_submits_sequence_and_comes_back_in_the_report(
) -> None:
    """The translator writes each part's reference into the SUBMIT's counter word and the
    session keeps it when numbering: the REPORT names that Sequence Number, so its receipt
    carries the reference and the subscriber even when the SUBMIT_RESP was lost."""
    pair = make_pair()
    settings = SgipClientSettings(login_name=LOGIN, login_password=PASSWORD, node_id=SP_NODE)
    translator = SgipTranslator(settings)
    message = OutboundMessage(
        source="106558000678", destination="13000000001", want_receipt=True,
        parts=(MessagePart(payload=b"\x05\x00\x03\x07\x02\x01" + "一".encode("utf-16-be"),
                           coding=TextCoding.UCS2, has_udh=True),
               MessagePart(payload=b"\x05\x00\x03\x07\x02\x02" + "二".encode("utf-16-be"),
                           coding=TextCoding.UCS2, has_udh=True)),
        references=(0x1230, 0x1231))
    for frame in translator.frames_for(message):
        pair.client.submit_encoded(frame, pair.now)
    pair.pump()
    received = pair.smg_of(SubmitReceived)
    assert [reference_of(r.pdu.sequence.counter) for r in received] == [0x1230, 0x1231]
    assert len({r.message_id for r in received}) == 2
    report = Report(sequence=SequenceNumber(0, 0, 1), submit_sequence=received[1].pdu.sequence,
                    report_type=ReportType.SUBMIT, user_number="8613000000001",
                    state=ReportState.DELIVERED, error_code=0)
    now = datetime(2026, 12, 2, tzinfo=UTC)
    receipt = translator.read(report, carrier="china_unicom", received_at=now)
    assert isinstance(receipt, DeliveryReceipt)
    assert (receipt.reference, receipt.subscriber) == (0x1231, "8613000000001")
    assert receipt.message_id == received[1].message_id
    plain = translator.read(
        replace(report, submit_sequence=SequenceNumber(SP_NODE, 1202141035, 5 << 17)),
        carrier="china_unicom", received_at=now)
    assert isinstance(plain, DeliveryReceipt) and plain.reference is None


def test_sequence_numbers_keep_counting_across_reconnects() -> None:
    pair = make_pair()
    pair.reconnect()
    binds = [p for p in pair.sent_by_client() if isinstance(p, Bind)]
    assert [b.sequence.counter for b in binds] == [1, 2]
    pair.client.submit(submit(), pair.now)
    pair.pump()
    sent = [p for p in pair.sent_by_client() if isinstance(p, Submit)]
    assert sent[0].sequence.counter == 3 << 17  # BIND 1, BIND 2, then this SUBMIT (count 3)


def test_a_generator_may_be_shared_and_started_anywhere() -> None:
    numbers = SequenceGenerator(SP_NODE, start=500)
    client = SgipClientSession(SgipClientSettings(login_name=LOGIN, login_password=PASSWORD,
                                                  node_id=SP_NODE), wall_clock=wall_clock,
                               numbers=numbers)
    client.connection_made(0.0)
    assert codec.decode(client.data_to_send()).sequence.counter == 500


def test_a_refused_submit_is_rejected_with_its_result() -> None:
    client = make_client()
    client.connection_made(0.0)
    bind = codec.decode(client.data_to_send())
    client.receive_data(codec.encode(BindResp(sequence=bind.sequence)), 0.0)
    token = client.submit(submit(), 0.0)
    sent = codec.decode(client.data_to_send())
    events = client.receive_data(
        codec.encode(SubmitResp(sequence=sent.sequence, result=Result.UNKNOWN_USER)), 0.0)
    assert events == [SubmitRejected(token, 29)]


def test_a_response_with_another_node_or_time_is_not_ours() -> None:
    client = make_client()
    client.connection_made(0.0)
    bind = codec.decode(client.data_to_send())
    client.receive_data(codec.encode(BindResp(sequence=bind.sequence)), 0.0)
    client.submit(submit(), 0.0)
    sent = codec.decode(client.data_to_send())
    for wrong in (replace(sent.sequence, node_id=1), replace(sent.sequence, timestamp=1)):
        events = client.receive_data(codec.encode(SubmitResp(sequence=wrong)), 0.0)
        assert len(events) == 1 and isinstance(events[0], PeerError)
    assert client.in_flight == 1


def test_an_unanswered_submit_times_out() -> None:
    pair = make_pair(faults=ServerFaults(withhold_responses=True), response_timeout=4.0)
    token = pair.client.submit(submit(), pair.now)
    pair.pump()
    pair.advance(4.0)
    assert pair.events(SubmitUnanswered) == [SubmitUnanswered(token, "response timeout")]


def test_mos_on_the_submit_connection_are_unexpected_and_unanswered() -> None:
    pair = make_pair()
    deliver = Deliver(sequence=SequenceNumber(SMG_NODE, 1, 5), user_number="8613000000001",
                      sp_number="1065501", message_content=b"hi")
    events = pair.client.receive_data(codec.encode(deliver), pair.now)
    assert len(events) == 1 and isinstance(events[0], PeerError)
    assert pair.client.data_to_send() == b""


# -- flow control ------------------------------------------------------------------------------


def test_window_caps_what_is_in_flight() -> None:
    faults = ServerFaults(withhold_responses=True)
    pair = make_pair(faults=faults, window=3)
    for n in range(5):
        pair.client.submit(submit(n), pair.now)
    pair.pump()
    assert pair.client.in_flight == 3 and pair.client.queued == 2
    assert len(pair.smg_of(SubmitReceived)) == 3


def test_tps_spreads_submits_over_time() -> None:
    pair = make_pair(tps=10.0)
    for n in range(5):
        pair.client.submit(submit(n), pair.now)
    pair.pump()
    assert len(pair.smg_of(SubmitReceived)) == 1  # the bucket holds one token at 10 TPS
    pair.advance(0.25)
    assert len(pair.smg_of(SubmitReceived)) == 3
    pair.advance(1.0)
    assert len(pair.events(SubmitAccepted)) == 5


def test_node_busy_throttles_and_resends_after_a_pause() -> None:
    pair = make_pair(smg_tps=2.0, throttle_backoff=1.0)
    tokens = [pair.client.submit(submit(n), pair.now) for n in range(4)]
    pair.pump()
    refused = pair.smg_of(SubmitRefused)
    assert refused and {r.status for r in refused} == {Result.NODE_BUSY}
    assert pair.events(Throttled) == [Throttled(Result.NODE_BUSY, 1.0)]
    pair.advance(3.0)
    assert sorted(e.token for e in pair.events(SubmitAccepted)) == tokens
    assert not pair.events(SubmitRejected)


def test_smsc_queue_full_also_throttles() -> None:
    pair = make_pair(smg_window=1, faults=ServerFaults(response_delay=0.5))
    tokens = [pair.client.submit(submit(n), pair.now) for n in range(2)]
    pair.pump()
    assert {r.status for r in pair.smg_of(SubmitRefused)} == {Result.SMSC_QUEUE_FULL}
    pair.advance(0.5)
    assert pair.events(Throttled)[0].status == Result.SMSC_QUEUE_FULL
    pair.advance(5.0)
    assert sorted(e.token for e in pair.events(SubmitAccepted)) == tokens


# -- idle close and reopen ------------------------------------------------------------------


def test_an_idle_link_unbinds_and_closes_and_waits_for_work() -> None:
    pair = make_pair(idle_timeout=30.0)
    token = pair.client.submit(submit(), pair.now)
    pair.pump()
    pair.advance(10.0)
    assert pair.client.next_deadline() == 30.0  # idle since the SUBMIT_RESP at 0
    pair.advance(19.9)
    assert not [p for p in pair.sent_by_client() if isinstance(p, Unbind)]
    pair.advance(0.1)
    unbinds = [p for p in pair.sent_by_client() if isinstance(p, Unbind)]
    assert len(unbinds) == 1
    assert pair.smg_of(ClientUnbound)
    assert pair.events(Unbound) == [Unbound(by_peer=False)]
    closes = pair.events(CloseConnection)
    assert closes and closes[0].reason.startswith("idle for 30s")
    assert pair.client.state is LinkState.DISCONNECTED and not pair.client.is_bound
    assert pair.client.idle_closes == 1
    assert pair.events(SubmitAccepted)[0].token == token
    pair.client_events += pair.client.connection_lost(pair.now)
    assert pair.client.state is LinkState.DISCONNECTED
    assert not pair.client.wants_connection
    assert pair.client.next_deadline() is None

    # Work arrives: the link wants a connection, binds again and sends.
    token = pair.client.submit(submit(2), pair.now)
    assert pair.client.wants_connection
    pair.smg = make_smg()
    pair.smg.connection_made(pair.now)
    pair.client.connection_made(pair.now)
    pair.pump()
    assert pair.client.is_bound
    assert pair.events(SubmitAccepted)[-1].token == token


def test_not_idle_while_submits_wait_or_are_in_flight() -> None:
    pair = make_pair(idle_timeout=5.0, response_timeout=10.0,
                     faults=ServerFaults(withhold_responses=True))
    token = pair.client.submit(submit(), pair.now)
    pair.pump()
    pair.advance(9.9)
    assert not [p for p in pair.sent_by_client() if isinstance(p, Unbind)]
    pair.advance(0.1)
    assert pair.events(SubmitUnanswered) == [SubmitUnanswered(token, "response timeout")]
    pair.advance(4.9)
    assert not [p for p in pair.sent_by_client() if isinstance(p, Unbind)]
    pair.advance(0.1)
    assert len([p for p in pair.sent_by_client() if isinstance(p, Unbind)]) == 1


def test_not_idle_during_a_long_throttling_pause() -> None:
    pair = make_pair(idle_timeout=2.0, smg_tps=1.0, throttle_backoff=5.0)
    tokens = [pair.client.submit(submit(n), pair.now) for n in range(2)]
    pair.pump()
    assert pair.events(Throttled)
    pair.advance(6.0)
    assert sorted(e.token for e in pair.events(SubmitAccepted)) == tokens
    assert not [p for p in pair.sent_by_client() if isinstance(p, Unbind)]


def test_submits_during_the_idle_unbind_wait_for_the_next_connection() -> None:
    pair = make_pair(idle_timeout=30.0, response_timeout=5.0)
    pair.cut = True  # the SMG never sees (or answers) the idle UNBIND
    pair.advance(30.0)
    assert pair.client.is_bound
    token = pair.client.submit(submit(), pair.now)
    pair.pump()
    assert pair.client.queued == 1 and pair.client.in_flight == 0
    assert pair.client.next_deadline() == 35.0  # only the UNBIND's answer is awaited
    pair.advance(5.0)
    closes = pair.events(CloseConnection)
    assert closes and closes[0].reason == "idle UNBIND not answered"
    pair.cut = False
    pair.client_events += pair.client.connection_lost(pair.now)
    assert pair.client.wants_connection  # work is queued
    assert pair.client.idle_closes == 0
    pair.smg = make_smg()
    pair.smg.connection_made(pair.now)
    pair.client.connection_made(pair.now)
    pair.pump()
    assert [e.token for e in pair.events(SubmitAccepted)] == [token]


def test_an_idle_close_with_no_answer_still_waits_for_work() -> None:
    pair = make_pair(idle_timeout=30.0, response_timeout=5.0)
    pair.cut = True
    pair.advance(35.0)
    assert pair.events(CloseConnection)
    pair.client_events += pair.client.connection_lost(pair.now)
    assert not pair.client.wants_connection


def test_the_smg_unbinding_an_idle_link_is_answered() -> None:
    pair = make_pair()
    pair.smg.unbind(pair.now)
    pair.pump()
    unbind = next(p for p in pair.sent_by_smg() if isinstance(p, Unbind))
    assert unbind.sequence.node_id == SMG_NODE
    assert [p for p in pair.sent_by_client() if isinstance(p, UnbindResp)] == [
        UnbindResp(sequence=unbind.sequence)]
    assert pair.events(Unbound) == [Unbound(by_peer=True)]
    assert pair.client.state is LinkState.DISCONNECTED
    assert pair.client.wants_connection  # not an idle close of ours: reconnect as usual
    assert pair.smg_of(CloseClient)


# -- graceful stop -----------------------------------------------------------------------------


def test_unbind_drains_then_unbinds() -> None:
    pair = make_pair(faults=ServerFaults(response_delay=1.0), window=1)
    in_flight = pair.client.submit(submit(1), pair.now)
    queued = pair.client.submit(submit(2), pair.now)
    pair.pump()
    pair.client_events += pair.client.unbind(pair.now)
    assert pair.client.state is LinkState.DRAINING
    assert pair.events(SubmitNotSent) == []
    with pytest.raises(RuntimeError):
        pair.client.submit(submit(3), pair.now)
    pair.advance(1.0)
    assert [e.token for e in pair.events(SubmitAccepted)] == [in_flight]
    assert [p for p in pair.sent_by_client() if isinstance(p, Unbind)]
    assert pair.events(Unbound) == [Unbound(by_peer=False)]
    assert pair.client.state is LinkState.CLOSED
    assert pair.events(SubmitNotSent) == [SubmitNotSent(queued)]
    assert pair.smg_of(ClientUnbound)
    pair.client_events += pair.client.connection_lost(pair.now)
    assert pair.client.state is LinkState.CLOSED and not pair.client.wants_connection


def test_unbind_while_the_idle_unbind_is_out_ends_closed() -> None:
    pair = make_pair(idle_timeout=30.0)
    pair.cut = True
    pair.advance(30.0)
    pair.cut = False
    pair.client_events += pair.client.unbind(pair.now)
    pair.pump()
    assert pair.client.state is LinkState.CLOSED
    assert pair.client.idle_closes == 0


def test_unbind_before_bound_closes_at_once() -> None:
    client = make_client()
    events = client.unbind(0.0)
    assert any(isinstance(e, CloseConnection) for e in events)
    assert client.state is LinkState.CLOSED


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="login_name"):
        SgipClientSettings(login_name="x" * 17, login_password="", node_id=1)
    with pytest.raises(ValueError, match="node_id"):
        SgipClientSettings(login_name="a", login_password="", node_id=1 << 32)
    with pytest.raises(ValueError, match="idle_timeout"):
        SgipClientSettings(login_name="a", login_password="", node_id=1, idle_timeout=0)


# == the SMG's connection back to the SP =========================================================

SMG_LOGIN = "UNICOM"
SMG_PASSWORD = "back"


@dataclass
class CallbackPair:
    """The simulated SMG connecting back to the SP's listener, on a shared fake clock."""

    smg: SmgCallbackSession
    listener: SgipListenerSession
    now: float = 0.0
    smg_events: list = field(default_factory=list)
    listener_events: list = field(default_factory=list)
    wire_to_listener: list[bytes] = field(default_factory=list)
    wire_to_smg: list[bytes] = field(default_factory=list)

    def pump(self) -> None:
        for _ in range(1000):
            to_listener = self.smg.data_to_send()
            to_smg = self.listener.data_to_send()
            if not to_listener and not to_smg:
                return
            if to_listener:
                self.wire_to_listener.append(to_listener)
                self.listener_events += self.listener.receive_data(to_listener, self.now)
            if to_smg:
                self.wire_to_smg.append(to_smg)
                self.smg_events += self.smg.receive_data(to_smg, self.now)
        raise AssertionError("pair never went quiet")

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        for _ in range(100_000):
            deadlines = [d for d in (self.smg.next_deadline(), self.listener.next_deadline())
                         if d is not None and d <= end]
            if not deadlines:
                break
            self.now = max(self.now, min(deadlines))
            self.smg_events += self.smg.tick(self.now)
            self.listener_events += self.listener.tick(self.now)
            self.pump()
            if self.now >= end:
                break
        self.now = end
        self.smg_events += self.smg.tick(self.now)
        self.listener_events += self.listener.tick(self.now)
        self.pump()

    def received(self) -> list[MessageReceived]:
        return [e for e in self.listener_events if isinstance(e, MessageReceived)]

    def of(self, kind: type) -> list:
        return [e for e in self.listener_events if isinstance(e, kind)]

    def smg_of(self, kind: type) -> list:
        return [e for e in self.smg_events if isinstance(e, kind)]

    def sent_by_listener(self) -> list[Pdu]:
        return [codec.decode(f) for f in frames_of(self.wire_to_smg)]


def make_listener(**options: float) -> SgipListenerSession:
    return SgipListenerSession(
        SgipListenerSettings(login_name=SMG_LOGIN, login_password=SMG_PASSWORD,
                             node_id=SP_NODE, **options),
        connection=7, wall_clock=wall_clock)


def make_callback_pair(*, login_name: str = SMG_LOGIN, login_password: str = SMG_PASSWORD,
                       login_type: int | None = None, listener_options: dict | None = None,
                       **smg_options: float) -> CallbackPair:
    smg_options.setdefault("tps", 0.0)
    smg = SmgCallbackSession(
        SgipClientSettings(login_name=login_name, login_password=login_password,
                           node_id=SMG_NODE, **smg_options),
        wall_clock=wall_clock)
    if login_type is not None:
        smg.login_type = login_type
    listener = make_listener(**(listener_options or {}))
    pair = CallbackPair(smg, listener)
    listener.connection_made(pair.now)
    smg.connection_made(pair.now)
    pair.pump()
    return pair


def mo(text: bytes = b"SD") -> Deliver:
    return Deliver(sequence=SequenceNumber(0, 0, 0), user_number="8613000000001",
                   sp_number="1065501", message_content=text)


def report_on(submit_sequence: SequenceNumber, state: int = ReportState.DELIVERED) -> Report:
    return Report(sequence=SequenceNumber(0, 0, 0), submit_sequence=submit_sequence,
                  user_number="8613000000001", state=state)


# -- bind authentication -------------------------------------------------------------------------


def test_the_smg_binds_with_login_type_2_and_the_configured_pair() -> None:
    pair = make_callback_pair()
    assert pair.of(PeerBound) == [PeerBound(SMG_LOGIN)]
    assert pair.listener.is_bound and pair.listener.state is ListenerState.BOUND
    assert pair.smg.is_bound
    assert pair.sent_by_listener()[0].result == 0
    bind = codec.decode(frames_of(pair.wire_to_listener)[0])
    assert bind.login_type == LoginType.SMG_TO_SP and bind.sequence.node_id == SMG_NODE


@pytest.mark.parametrize(("name", "password"), [(SMG_LOGIN, "wrong"), ("OTHER", SMG_PASSWORD)])
def test_a_wrong_name_or_password_gets_result_1_and_is_closed(name: str, password: str) -> None:
    pair = make_callback_pair(login_name=name, login_password=password)
    assert pair.of(PeerBindRefused) == [PeerBindRefused(name, Result.ILLEGAL_LOGIN)]
    assert pair.of(CloseConnection)
    assert pair.listener.state is ListenerState.CLOSED
    assert pair.sent_by_listener() == [BindResp(
        sequence=codec.decode(frames_of(pair.wire_to_listener)[0]).sequence, result=1)]
    assert pair.smg_of(BindRefused) == [BindRefused(1)]


def test_a_bind_of_login_type_1_on_the_listener_gets_result_4() -> None:
    pair = make_callback_pair(login_type=LoginType.SP_TO_SMG)
    assert pair.of(PeerBindRefused) == [PeerBindRefused(SMG_LOGIN, Result.BAD_LOGIN_TYPE)]
    assert pair.listener.state is ListenerState.CLOSED


@pytest.mark.parametrize("first", [
    Deliver(sequence=SequenceNumber(SMG_NODE, 1, 1), user_number="8613000000001",
            message_content=b"x"),
    Report(sequence=SequenceNumber(SMG_NODE, 1, 1), submit_sequence=SequenceNumber(1, 2, 3)),
    Unbind(sequence=SequenceNumber(SMG_NODE, 1, 1)),
], ids=["deliver", "report", "unbind"])
def test_nothing_is_taken_before_the_bind(first: Pdu) -> None:
    listener = make_listener()
    listener.connection_made(0.0)
    events = listener.receive_data(codec.encode(first), 0.0)
    assert any(isinstance(e, PeerError) for e in events)
    assert any(isinstance(e, CloseConnection) for e in events)
    assert not any(isinstance(e, MessageReceived) for e in events)
    assert listener.data_to_send() == b""  # unanswered: the SMG delivers it again
    assert listener.receive_data(codec.encode(first), 0.0) == []


def test_an_unreadable_frame_before_the_bind_closes() -> None:
    listener = make_listener()
    listener.connection_made(0.0)
    events = listener.receive_data(bytes.fromhex("00000015 00000001") + bytes(13), 0.0)
    assert any(isinstance(e, CloseConnection) for e in events)


def test_an_smg_that_does_not_bind_is_dropped() -> None:
    listener = make_listener(bind_timeout=5.0)
    listener.connection_made(0.0)
    assert listener.next_deadline() == 5.0
    assert listener.tick(4.9) == []
    assert listener.tick(5.0) == [CloseConnection("the SMG did not bind within 5s")]


def test_a_second_bind_gets_result_2() -> None:
    pair = make_callback_pair()
    bind = Bind(sequence=SequenceNumber(SMG_NODE, 1, 50), login_type=2, login_name=SMG_LOGIN,
                login_password=SMG_PASSWORD)
    events = pair.listener.receive_data(codec.encode(bind), pair.now)
    assert any(isinstance(e, PeerError) for e in events)
    assert codec.decode(pair.listener.data_to_send()) == BindResp(sequence=bind.sequence,
                                                                  result=2)
    assert pair.listener.is_bound


# -- DELIVER and REPORT --------------------------------------------------------------------------


def test_a_deliver_is_answered_only_when_acknowledged() -> None:
    pair = make_callback_pair()
    token = pair.smg.deliver(mo(b"SD"), pair.now)
    pair.pump()
    [received] = pair.received()
    assert received.connection == 7
    assert received.pdu.message_content == b"SD" and received.pdu.user_number == "8613000000001"
    assert pair.listener.unanswered == 1
    assert not [p for p in pair.sent_by_listener() if isinstance(p, DeliverResp)]
    assert not pair.smg_of(SubmitAccepted)

    assert pair.listener.acknowledge(received)
    pair.pump()
    assert [p for p in pair.sent_by_listener() if isinstance(p, DeliverResp)] == [
        DeliverResp(sequence=received.pdu.sequence, result=0)]
    assert pair.smg_of(SubmitAccepted) == [
        SubmitAccepted(token, sequence_text(received.pdu.sequence))]
    assert pair.listener.unanswered == 0
    assert not pair.listener.acknowledge(received)  # answered already


def test_not_stored_is_node_busy_and_the_smg_delivers_again() -> None:
    pair = make_callback_pair(throttle_backoff=1.0)
    token = pair.smg.deliver(mo(), pair.now)
    pair.pump()
    [first] = pair.received()
    pair.listener.acknowledge(first, InboundAnswer.NOT_STORED)
    pair.pump()
    assert pair.sent_by_listener()[-1] == DeliverResp(sequence=first.pdu.sequence, result=11)
    assert pair.smg_of(Throttled) == [Throttled(Result.NODE_BUSY, 1.0)]
    pair.advance(1.0)
    second = pair.received()[1]
    assert second.pdu.message_content == first.pdu.message_content
    assert second.pdu.sequence != first.pdu.sequence
    pair.listener.acknowledge(second)
    pair.pump()
    assert [e.token for e in pair.smg_of(SubmitAccepted)] == [token]


def test_unreadable_is_a_permanent_refusal() -> None:
    pair = make_callback_pair()
    token = pair.smg.deliver(mo(), pair.now)
    pair.pump()
    pair.listener.acknowledge(pair.received()[0], InboundAnswer.UNREADABLE)
    pair.pump()
    assert pair.smg_of(SubmitRejected) == [SubmitRejected(token, Result.BAD_PARAMETER_FORMAT)]


def test_a_report_names_the_submit_by_the_message_id_the_sp_was_given() -> None:
    """End to end without sockets: SP submits to the SMG, the SMG reports back on its own
    connection, and the report's key is the message id the submit connection returned."""
    submit_pair = make_pair()
    submit_pair.client.submit(submit(), submit_pair.now)
    submit_pair.pump()
    [accepted] = submit_pair.events(SubmitAccepted)
    [taken] = submit_pair.smg_of(SubmitReceived)

    pair = make_callback_pair()
    pair.smg.deliver(report_on(taken.pdu.sequence, ReportState.FAILED), pair.now)
    pair.pump()
    [received] = pair.received()
    assert isinstance(received.pdu, Report)
    assert sequence_text(received.pdu.submit_sequence) == accepted.message_id
    assert received.pdu.state == ReportState.FAILED
    pair.listener.acknowledge(received)
    pair.pump()
    assert isinstance(pair.sent_by_listener()[-1], ReportResp)
    assert pair.sent_by_listener()[-1].result == 0


def test_many_delivers_are_answered_in_the_order_they_are_stored() -> None:
    pair = make_callback_pair(window=8)
    tokens = [pair.smg.deliver(mo(str(n).encode()), pair.now) for n in range(3)]
    pair.pump()
    received = pair.received()
    assert len(received) == 3 and pair.listener.unanswered == 3
    for event in reversed(received):
        assert pair.listener.acknowledge(event)
    pair.pump()
    assert sorted(e.token for e in pair.smg_of(SubmitAccepted)) == tokens


def test_an_undecodable_deliver_is_answered_with_the_codecs_result() -> None:
    pair = make_callback_pair()
    frame = bytearray(codec.encode(replace(mo(), sequence=SequenceNumber(SMG_NODE, 1, 99))))
    length_at = HEADER_LENGTH + 45  # MessageLength, after UserNumber .. MessageCoding
    frame[length_at : length_at + 4] = (200).to_bytes(4, "big")  # past the end
    events = pair.listener.receive_data(bytes(frame), pair.now)
    assert [type(e) for e in events] == [PeerError]
    assert codec.decode(pair.listener.data_to_send()) == DeliverResp(
        sequence=SequenceNumber(SMG_NODE, 1, 99), result=Result.BAD_MESSAGE_LENGTH)
    assert pair.listener.is_bound


def test_acknowledging_after_the_connection_is_gone_is_refused() -> None:
    pair = make_callback_pair()
    pair.smg.deliver(mo(), pair.now)
    pair.pump()
    [received] = pair.received()
    pair.listener.connection_lost(pair.now)
    assert not pair.listener.acknowledge(received)
    assert pair.listener.data_to_send() == b""


def test_acknowledging_another_connections_message_is_refused() -> None:
    pair = make_callback_pair()
    pair.smg.deliver(mo(), pair.now)
    pair.pump()
    [received] = pair.received()
    assert not pair.listener.acknowledge(replace(received, connection=8))
    assert pair.listener.unanswered == 1


# -- closing -------------------------------------------------------------------------------------


def test_the_smgs_unbind_is_answered_and_closes() -> None:
    pair = make_callback_pair()
    pair.smg_events += pair.smg.unbind(pair.now)
    pair.pump()
    assert pair.of(Unbound) == [Unbound(by_peer=True)]
    assert pair.of(CloseConnection) == [CloseConnection("the SMG unbound")]
    assert pair.smg.state is LinkState.CLOSED


def test_the_listener_unbinds_and_closes_on_the_answer() -> None:
    pair = make_callback_pair()
    pair.listener_events += pair.listener.unbind(pair.now)
    assert pair.listener.state is ListenerState.UNBINDING
    pair.pump()
    unbind = next(p for p in pair.sent_by_listener() if isinstance(p, Unbind))
    assert unbind.sequence.node_id == SP_NODE
    assert pair.of(Unbound) == [Unbound(by_peer=False)]
    assert pair.of(CloseConnection) == [CloseConnection("unbound")]
    assert pair.smg_of(Unbound) == [Unbound(by_peer=True)]


def test_an_unanswered_unbind_closes_after_the_timeout() -> None:
    listener = make_listener(unbind_timeout=3.0)
    listener.connection_made(0.0)
    listener.receive_data(codec.encode(Bind(
        sequence=SequenceNumber(SMG_NODE, 1, 1), login_type=2, login_name=SMG_LOGIN,
        login_password=SMG_PASSWORD)), 0.0)
    listener.data_to_send()
    listener.unbind(1.0)
    assert listener.next_deadline() == 4.0
    assert listener.tick(4.0) == [CloseConnection("UNBIND not answered")]


def test_unbind_before_a_bind_closes_at_once() -> None:
    listener = make_listener()
    listener.connection_made(0.0)
    assert listener.unbind(0.0) == [CloseConnection("shutting down")]


def test_a_silent_bound_connection_is_closed_after_the_idle_time() -> None:
    pair = make_callback_pair(listener_options={"idle_timeout": 50.0}, idle_timeout=100.0)
    pair.advance(49.0)
    assert not pair.of(CloseConnection)
    pair.advance(1.0)
    assert pair.of(CloseConnection) == [CloseConnection("no PDU from the SMG for 50s")]


def test_the_smg_idles_out_before_the_listener_does() -> None:
    pair = make_callback_pair(idle_timeout=30.0)
    pair.advance(30.0)
    assert pair.of(Unbound) == [Unbound(by_peer=True)]
    assert pair.smg.idle_closes == 1


def test_listener_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="login_password"):
        SgipListenerSettings(login_name="a", login_password="x" * 17, node_id=1)
    with pytest.raises(ValueError, match="bind_timeout"):
        SgipListenerSettings(login_name="a", login_password="", node_id=1, bind_timeout=0)
