"""SMGP SP client session ⇄ simulated SMGW session, back to back: no sockets, a fake clock."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

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
from carriers.simulator.server_events import (
    BindDenied,
    ClientBound,
    ClientUnbound,
    CloseClient,
    DeliverAnswered,
    ServerFaults,
    ServerSettings,
    SubmitReceived,
    SubmitRefused,
)
from carriers.smgp import auth, codec
from carriers.smgp.client import SmgpClientSession, SmgpClientSettings, status_name
from carriers.smgp.ismg import SmgwSession, SmgwState
from carriers.smgp.msg_id import msg_id_text, pack_msg_id
from carriers.smgp.pdus import (
    ActiveTest,
    ActiveTestResp,
    Deliver,
    DeliverResp,
    Exit,
    ExitResp,
    Login,
    LoginResp,
    Pdu,
    Status,
    Submit,
    SubmitResp,
)
from carriers.smgp.reports import SmgpReport, encode_report

CLIENT_ID = "10690001"
SECRET = "s3cret"
MO_ID = bytes.fromhex("05006101161700000099")


def msg_id(n: int) -> bytes:
    return pack_msg_id("010061", "01161700", n)


def frames_of(chunks: list[bytes]) -> list[bytes]:
    framer = LengthPrefixedFramer(min_length=12, max_length=5000)
    return [frame for chunk in chunks for frame in framer.feed(chunk)]


@dataclass
class Pair:
    """An SP client and an SMGW session with a wire between them and a shared fake clock."""

    client: SmgpClientSession
    smgw: SmgwSession
    now: float = 0.0
    client_events: list = field(default_factory=list)
    smgw_events: list = field(default_factory=list)
    wire_to_smgw: list[bytes] = field(default_factory=list)
    wire_to_client: list[bytes] = field(default_factory=list)
    cut: bool = False
    """When set, what the client sends is lost (an SMGW that stopped answering)."""
    lost: list[bytes] = field(default_factory=list)
    max_unanswered: int = 0

    def pump(self) -> None:
        for _ in range(1000):
            to_smgw = self.client.data_to_send()
            to_client = self.smgw.data_to_send()
            if not to_smgw and not to_client:
                return
            if to_smgw and self.cut:
                self.lost.append(to_smgw)
            elif to_smgw:
                self.wire_to_smgw.append(to_smgw)
                self.smgw_events += self.smgw.receive_data(to_smgw, self.now)
            if to_client:
                self.wire_to_client.append(to_client)
                self.client_events += self.client.receive_data(to_client, self.now)
            sent = sum(isinstance(p, Submit) for p in self.sent_by_client())
            answered = sum(isinstance(p, SubmitResp) for p in self.sent_by_smgw())
            self.max_unanswered = max(self.max_unanswered, sent - answered)
        raise AssertionError("pair never went quiet")

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        for _ in range(100_000):
            deadlines = [d for d in (self.client.next_deadline(), self.smgw.next_deadline())
                         if d is not None and d <= end]
            if not deadlines:
                break
            self.now = max(self.now, min(deadlines))
            self.client_events += self.client.tick(self.now)
            self.smgw_events += self.smgw.tick(self.now)
            self.pump()
            if self.now >= end:
                break
        else:
            raise AssertionError("sessions keep asking to be ticked without progress")
        self.now = end
        self.client_events += self.client.tick(self.now)
        self.smgw_events += self.smgw.tick(self.now)
        self.pump()

    def events(self, kind: type) -> list:
        return [e for e in self.client_events if isinstance(e, kind)]

    def smgw_of(self, kind: type) -> list:
        return [e for e in self.smgw_events if isinstance(e, kind)]

    def sent_by_client(self) -> list[Pdu]:
        return [codec.decode(f) for f in frames_of(self.wire_to_smgw)]

    def sent_by_smgw(self) -> list[Pdu]:
        return [codec.decode(f) for f in frames_of(self.wire_to_client)]


def make_smgw(*, tps: float = 0.0, window: int = 0, idle_timeout: float = 0.0,
              faults: ServerFaults | None = None) -> SmgwSession:
    counter = itertools.count(1)
    return SmgwSession(
        settings=ServerSettings(tps=tps, window=window, idle_timeout=idle_timeout),
        accounts={CLIENT_ID: SECRET}, next_message_id=lambda: msg_id(next(counter)),
        faults=faults)


def make_pair(*, client_id: str = CLIENT_ID, secret: str = SECRET, smgw_tps: float = 0.0,
              smgw_window: int = 0, idle_timeout: float = 0.0,
              faults: ServerFaults | None = None, tps: float = 0.0,
              **client_options: float) -> Pair:
    client = SmgpClientSession(SmgpClientSettings(
        client_id=client_id, shared_secret=secret, tps=tps, **client_options))
    smgw = make_smgw(tps=smgw_tps, window=smgw_window, idle_timeout=idle_timeout,
                     faults=faults)
    pair = Pair(client, smgw)
    smgw.connection_made(pair.now)
    client.connection_made(pair.now)
    pair.pump()
    return pair


def submit(n: int = 1, text: str = "hello") -> Submit:
    return Submit(sequence_id=0, src_term_id="10690001", dest_term_ids=(f"1330013{n:04d}",),
                  msg_content=text.encode())


def mo(text: bytes = b"SD", **fields: object) -> Deliver:
    return replace(Deliver(sequence_id=0, msg_id=MO_ID, recv_time="20260116170000",
                           dest_term_id="10690001", src_term_id="13300000000",
                           msg_content=text), **fields)


# -- login -------------------------------------------------------------------------------


def test_login_succeeds_and_authenticator_server_is_verified() -> None:
    pair = make_pair()
    assert pair.client.state is LinkState.BOUND and pair.client.is_bound
    assert pair.events(Bound) == [Bound("SMGP 3.0")]
    assert not pair.events(PeerError)
    assert pair.smgw_of(ClientBound) == [ClientBound(CLIENT_ID, "smgp3.0 transmit")]
    assert pair.smgw.login == CLIENT_ID and pair.smgw.can_receive
    login = pair.sent_by_client()[0]
    assert isinstance(login, Login) and login.login_mode == 2 and login.client_version == 0x30
    assert pair.client.login_name == CLIENT_ID


def test_login_carries_the_wall_time_of_the_smgw() -> None:
    now = datetime(2026, 3, 1, 0, 0, 5, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    client = SmgpClientSession(SmgpClientSettings(client_id=CLIENT_ID, shared_secret=SECRET))
    client.connection_made(now)
    login = codec.decode(client.data_to_send())
    assert isinstance(login, Login)
    assert login.timestamp == 301000005
    assert login.authenticator_client == auth.authenticator_client(CLIENT_ID, SECRET, 301000005)


def test_an_injected_wall_clock_is_used() -> None:
    client = SmgpClientSession(
        SmgpClientSettings(client_id=CLIENT_ID, shared_secret=SECRET),
        wall_clock=lambda now: datetime(2026, 12, 31, 23, 59, 59))
    client.connection_made(0.0)
    login = codec.decode(client.data_to_send())
    assert isinstance(login, Login) and login.timestamp == 1231235959


def test_wrong_authenticator_server_is_reported_but_the_login_stands() -> None:
    client = SmgpClientSession(SmgpClientSettings(client_id=CLIENT_ID, shared_secret=SECRET))
    client.connection_made(0.0)
    login = codec.decode(client.data_to_send())
    answer = LoginResp(sequence_id=login.sequence_id, status=0,
                       authenticator_server=b"\x01" * 16)
    events = client.receive_data(codec.encode(answer), 0.0)
    errors = [e for e in events if isinstance(e, PeerError)]
    assert len(errors) == 1 and "AuthenticatorServer" in errors[0].reason
    assert client.is_bound


def test_wrong_secret_is_refused_with_status_21_and_closed() -> None:
    pair = make_pair(secret="wrong")
    assert pair.events(BindRefused) == [BindRefused(Status.AUTHENTICATION_FAILED)]
    closes = pair.events(CloseConnection)
    assert closes == [CloseConnection(
        "login refused: SMGP status 21 (authentication failed)")]
    assert not pair.client.is_bound
    assert pair.smgw_of(BindDenied) == [BindDenied(CLIENT_ID, 21)]
    assert pair.smgw_of(CloseClient) and not pair.smgw.can_receive
    answer = pair.sent_by_smgw()[0]
    assert isinstance(answer, LoginResp) and answer.authenticator_server == bytes(16)


def test_unknown_client_id_is_refused() -> None:
    pair = make_pair(client_id="99999999")
    assert pair.events(BindRefused) == [BindRefused(21)]
    assert pair.smgw_of(BindDenied) == [BindDenied("99999999", 21)]


def test_refuse_binds_fault_gives_status_21() -> None:
    pair = make_pair(faults=ServerFaults(refuse_binds=True))
    assert pair.events(BindRefused) == [BindRefused(21)]


@pytest.mark.parametrize("version", [0x13, 0x20, 0x31])
def test_other_versions_are_refused_with_status_22(version: int) -> None:
    smgw = make_smgw()
    login = Login(sequence_id=1, client_id=CLIENT_ID, timestamp=1, client_version=version,
                  authenticator_client=auth.authenticator_client(CLIENT_ID, SECRET, 1))
    events = smgw.receive_data(codec.encode(login), 0.0)
    assert BindDenied(CLIENT_ID, 22) in events
    assert codec.decode(smgw.data_to_send()) == LoginResp(sequence_id=1, status=22)


def test_bad_login_mode_is_bad_structure() -> None:
    smgw = make_smgw()
    login = Login(sequence_id=1, client_id=CLIENT_ID, timestamp=1, login_mode=3,
                  authenticator_client=auth.authenticator_client(CLIENT_ID, SECRET, 1))
    assert BindDenied(CLIENT_ID, 10) in smgw.receive_data(codec.encode(login), 0.0)


def test_send_mode_gets_no_delivers_and_receive_mode_cannot_submit() -> None:
    pair = make_pair(login_mode=0)
    assert pair.client.is_bound and not pair.smgw.can_receive
    pair = make_pair(login_mode=1)
    assert pair.smgw.can_receive
    token = pair.client.submit(submit(), pair.now)
    pair.pump()
    assert pair.events(SubmitRejected) == [SubmitRejected(token, Status.BAD_COMMAND)]


def test_unanswered_login_closes_the_connection() -> None:
    client = SmgpClientSession(SmgpClientSettings(client_id=CLIENT_ID, shared_secret=SECRET,
                                                  response_timeout=4.0))
    client.connection_made(0.0)
    client.data_to_send()
    assert client.next_deadline() == 4.0
    assert client.tick(3.9) == []
    assert CloseConnection("Login not answered") in client.tick(4.0)


def test_smgw_closes_a_connection_that_submits_before_login() -> None:
    smgw = make_smgw()
    events = smgw.receive_data(codec.encode(submit()), 0.0)
    assert any(isinstance(e, PeerError) for e in events)
    assert any(isinstance(e, CloseClient) for e in events)
    assert smgw.data_to_send() == b"" and smgw.state is SmgwState.CLOSED


# -- submits, window and throttling ---------------------------------------------------------


def test_submit_gets_the_msg_id_as_20_hex_digits() -> None:
    pair = make_pair()
    token = pair.client.submit(submit(), pair.now)
    pair.pump()
    assert pair.events(SubmitAccepted) == [SubmitAccepted(token, "01006101161700000001")]
    received = pair.smgw_of(SubmitReceived)
    assert received[0].message_id == "01006101161700000001"
    assert received[0].pdu.msg_content == b"hello"


def test_submits_wait_while_disconnected_and_go_after_login() -> None:
    client = SmgpClientSession(SmgpClientSettings(client_id=CLIENT_ID, shared_secret=SECRET,
                                                  tps=0))
    token = client.submit(submit(), 0.0)
    assert client.data_to_send() == b""
    pair = Pair(client, make_smgw())
    client.connection_made(0.0)
    pair.pump()
    assert pair.events(SubmitAccepted) == [SubmitAccepted(token, msg_id_text(msg_id(1)))]


def test_window_limits_the_submits_on_the_wire() -> None:
    pair = make_pair(window=4, response_timeout=100.0,
                     faults=ServerFaults(withhold_responses=True))
    for n in range(10):
        pair.client.submit(submit(n), pair.now)
    pair.pump()
    assert len(pair.smgw_of(SubmitReceived)) == 4
    assert pair.client.in_flight == 4 and pair.client.queued == 6


def test_window_is_never_exceeded_while_responses_trickle_in() -> None:
    pair = make_pair(window=3, faults=ServerFaults(response_delay=0.5))
    tokens = [pair.client.submit(submit(n), pair.now) for n in range(12)]
    pair.pump()
    for _ in range(40):
        pair.advance(0.1)
    assert sorted(e.token for e in pair.events(SubmitAccepted)) == tokens
    assert pair.max_unanswered == 3


def test_system_busy_over_the_smgw_tps_is_throttled_paused_and_resent() -> None:
    pair = make_pair(smgw_tps=3, throttle_backoff=0.5)
    tokens = [pair.client.submit(submit(n), pair.now) for n in range(5)]
    pair.pump()
    assert [r.status for r in pair.smgw_of(SubmitRefused)] == [Status.SYSTEM_BUSY] * 2
    throttled = pair.events(Throttled)
    assert throttled and throttled[0] == Throttled(1, 0.5)
    assert len(pair.smgw_of(SubmitReceived)) == 3
    pair.advance(0.4)
    assert len(pair.smgw_of(SubmitReceived)) == 3  # still paused
    pair.advance(2.0)
    assert sorted(e.token for e in pair.events(SubmitAccepted)) == tokens
    assert not pair.events(SubmitRejected)


def test_smgw_window_overflow_is_status_74_and_resent() -> None:
    pair = make_pair(window=8, smgw_window=2, throttle_backoff=0.3,
                     faults=ServerFaults(response_delay=0.2))
    tokens = [pair.client.submit(submit(n), pair.now) for n in range(5)]
    pair.pump()
    pair.advance(5.0)
    assert sorted(e.token for e in pair.events(SubmitAccepted)) == tokens
    refused = pair.smgw_of(SubmitRefused)
    assert refused and {r.status for r in refused} == {Status.SENDING_WINDOW_CLOSED}
    assert {t.status for t in pair.events(Throttled)} == {74}


def test_endless_throttling_is_given_up_as_a_rejection() -> None:
    pair = make_pair(smgw_tps=1, throttle_backoff=0.01, max_throttle_backoff=0.01,
                     max_throttle_retries=2)
    first = pair.client.submit(submit(1), pair.now)
    second = pair.client.submit(submit(2), pair.now)
    pair.pump()
    pair.advance(0.5)
    assert pair.events(SubmitAccepted) == [SubmitAccepted(first, msg_id_text(msg_id(1)))]
    assert pair.events(SubmitRejected) == [SubmitRejected(second, 1)]


def test_other_statuses_are_rejections() -> None:
    pair = make_pair()
    token = pair.client.submit(submit(), pair.now)
    request = codec.decode(pair.client.data_to_send())
    answer = SubmitResp(sequence_id=request.sequence_id, status=Status.BAD_DEST_TERM_ID)
    events = pair.client.receive_data(codec.encode(answer), pair.now)
    assert [e for e in events if isinstance(e, SubmitRejected)] == [SubmitRejected(token, 47)]


def test_response_timeout_reports_unanswered() -> None:
    pair = make_pair(window=1, response_timeout=5.0,
                     faults=ServerFaults(withhold_responses=True))
    first = pair.client.submit(submit(1), pair.now)
    pair.client.submit(submit(2), pair.now)
    pair.pump()
    pair.advance(4.9)
    assert not pair.events(SubmitUnanswered)
    pair.advance(0.2)
    assert pair.events(SubmitUnanswered) == [SubmitUnanswered(first, "response timeout")]


def test_connection_lost_reports_in_flight_and_keeps_the_queue() -> None:
    pair = make_pair(window=1, faults=ServerFaults(withhold_responses=True))
    first = pair.client.submit(submit(1), pair.now)
    second = pair.client.submit(submit(2), pair.now)
    pair.pump()
    events = pair.client.connection_lost(pair.now)
    assert [e.token for e in events if isinstance(e, SubmitUnanswered)] == [first]
    assert pair.client.state is LinkState.DISCONNECTED and pair.client.queued == 1
    again = Pair(pair.client, make_smgw(), now=pair.now)
    pair.client.connection_made(pair.now)
    again.pump()
    assert again.events(SubmitAccepted) == [SubmitAccepted(second, msg_id_text(msg_id(1)))]


# -- Active_Test ----------------------------------------------------------------------------


def active_tests(pdus: list[Pdu]) -> list[Pdu]:
    return [p for p in pdus if isinstance(p, ActiveTest)]


def test_idle_link_sends_active_test_and_it_is_answered() -> None:
    pair = make_pair(idle_timeout=200.0)
    pair.advance(179.0)
    assert not active_tests(pair.sent_by_client())
    pair.advance(2.0)
    assert len(active_tests(pair.sent_by_client())) == 1
    assert any(isinstance(p, ActiveTestResp) for p in pair.sent_by_smgw())
    pair.advance(1000.0)
    assert not pair.events(CloseConnection) and not pair.smgw_of(CloseClient)


def test_lost_active_tests_use_up_the_tries_and_close() -> None:
    pair = make_pair(active_test_interval=180.0, response_timeout=10.0, active_test_tries=3)
    pair.cut = True
    pair.advance(180.0)
    assert pair.client.next_deadline() == 190.0
    pair.advance(29.9)
    assert not pair.events(CloseConnection)
    pair.advance(0.1)
    assert pair.events(CloseConnection) == [
        CloseConnection("3 Active_Tests in a row not answered")]
    assert len(active_tests([codec.decode(f) for f in frames_of(pair.lost)])) == 3


def test_an_answered_active_test_resets_the_count() -> None:
    pair = make_pair(active_test_interval=180.0, response_timeout=10.0)
    pair.cut = True
    pair.advance(185.0)
    pair.cut = False
    pair.advance(6.0)
    assert len(active_tests(pair.sent_by_client())) == 1
    pair.cut = True
    pair.advance(204.0)
    assert not pair.events(CloseConnection)
    pair.advance(5.0)
    assert pair.events(CloseConnection)


def test_both_sides_answer_active_test() -> None:
    pair = make_pair()
    assert pair.client.receive_data(codec.encode(ActiveTest(sequence_id=77)), 0.0) == []
    assert codec.decode(pair.client.data_to_send()) == ActiveTestResp(sequence_id=77)
    assert pair.smgw.receive_data(codec.encode(ActiveTest(sequence_id=9)), 0.0) == []
    assert codec.decode(pair.smgw.data_to_send()) == ActiveTestResp(sequence_id=9)


def test_smgw_drops_an_idle_client() -> None:
    pair = make_pair(idle_timeout=60.0)
    pair.advance(60.0)
    assert pair.smgw_of(CloseClient) == [CloseClient("no PDU from the client for 60s")]


# -- Exit ---------------------------------------------------------------------------------


def test_graceful_stop_waits_for_in_flight_then_exits() -> None:
    pair = make_pair(exit_timeout=5.0, faults=ServerFaults(response_delay=1.0))
    token = pair.client.submit(submit(), pair.now)
    pair.pump()
    pair.client_events += pair.client.unbind(pair.now)
    assert pair.client.state is LinkState.DRAINING
    with pytest.raises(RuntimeError):
        pair.client.submit(submit(2), pair.now)
    pair.pump()
    assert not any(isinstance(p, Exit) for p in pair.sent_by_client())
    pair.advance(1.0)
    assert pair.events(SubmitAccepted) == [SubmitAccepted(token, msg_id_text(msg_id(1)))]
    assert any(isinstance(p, Exit) for p in pair.sent_by_client())
    assert any(isinstance(p, ExitResp) for p in pair.sent_by_smgw())
    assert pair.smgw_of(ClientUnbound) and pair.smgw_of(CloseClient)
    assert pair.events(Unbound) == [Unbound(by_peer=False)]
    assert pair.client.state is LinkState.CLOSED


def test_graceful_stop_gives_up_waiting_after_exit_timeout() -> None:
    pair = make_pair(exit_timeout=2.0, response_timeout=60.0,
                     faults=ServerFaults(withhold_responses=True))
    token = pair.client.submit(submit(), pair.now)
    queued = [pair.client.submit(submit(n), pair.now) for n in range(2, 40)]
    pair.pump()
    pair.client_events += pair.client.unbind(pair.now)
    pair.advance(2.5)
    # 15 of the window of 16 were in flight: one slot is kept for replies
    assert [e.token for e in pair.events(SubmitUnanswered)] == [token, *queued[:14]]
    assert [e.token for e in pair.events(SubmitNotSent)] == queued[14:]
    assert pair.client.state is LinkState.CLOSED


def test_unanswered_exit_closes_anyway() -> None:
    pair = make_pair(response_timeout=3.0)
    pair.cut = True
    pair.client_events += pair.client.unbind(pair.now)
    assert pair.client.state is LinkState.UNBINDING
    pair.advance(3.0)
    assert pair.client.state is LinkState.CLOSED
    assert pair.events(CloseConnection)
    assert pair.client.stop_timeout == 5.0 + 3.0


def test_stop_before_login_closes_at_once() -> None:
    client = SmgpClientSession(SmgpClientSettings(client_id=CLIENT_ID, shared_secret=SECRET))
    token = client.submit(submit(), 0.0)
    assert client.unbind(0.0) == [SubmitNotSent(token), CloseConnection("shutting down")]


def test_exit_from_the_smgw_is_answered_and_the_link_reconnects() -> None:
    pair = make_pair()
    pair.smgw.unbind()
    pair.pump()
    assert pair.events(Unbound) == [Unbound(by_peer=True)]
    assert pair.client.state is LinkState.DISCONNECTED
    assert pair.smgw_of(CloseClient) == [CloseClient("Exit answered")]


# -- MOs and reports ------------------------------------------------------------------------


def test_mo_is_answered_only_after_it_is_stored() -> None:
    pair = make_pair()
    token = pair.smgw.deliver(mo(), pair.now)
    pair.pump()
    received = pair.events(MessageReceived)
    assert len(received) == 1 and received[0].pdu.msg_content == b"SD"
    assert not pair.smgw_of(DeliverAnswered)
    assert not any(isinstance(p, DeliverResp) for p in pair.sent_by_client())
    assert pair.client.acknowledge(received[0])
    pair.pump()
    assert pair.smgw_of(DeliverAnswered) == [DeliverAnswered(token, 0)]
    answer = next(p for p in pair.sent_by_client() if isinstance(p, DeliverResp))
    assert answer.msg_id == MO_ID


def test_report_is_delivered_and_refusals_carry_their_statuses() -> None:
    pair = make_pair()
    content = encode_report(SmgpReport(msg_id=msg_id(1), stat="DELIVRD"))
    tokens = [pair.smgw.deliver(mo(content, is_report=1), pair.now) for _ in range(3)]
    pair.pump()
    received = pair.events(MessageReceived)
    assert [r.pdu.msg_content for r in received] == [content] * 3
    pair.client.acknowledge(received[0], InboundAnswer.STORED)
    pair.client.acknowledge(received[1], InboundAnswer.UNREADABLE)
    pair.client.acknowledge(received[2], InboundAnswer.NOT_STORED)
    pair.pump()
    assert pair.smgw_of(DeliverAnswered) == [
        DeliverAnswered(tokens[0], 0), DeliverAnswered(tokens[1], 10),
        DeliverAnswered(tokens[2], 1)]


def test_ack_after_reconnect_is_refused() -> None:
    pair = make_pair()
    pair.smgw.deliver(mo(), pair.now)
    pair.pump()
    received = pair.events(MessageReceived)[0]
    pair.client.connection_lost(pair.now)
    pair.client.connection_made(pair.now)
    assert not pair.client.acknowledge(received)


def test_smgw_refuses_deliver_before_login() -> None:
    with pytest.raises(RuntimeError):
        make_smgw().deliver(mo(), 0.0)


# -- bad input ----------------------------------------------------------------------------


def test_undecodable_deliver_is_answered_and_the_client_lives() -> None:
    pair = make_pair()
    frame = bytearray(codec.encode(mo(sequence_id=41)))
    frame[12 + 68] = 200  # MsgLength past the body
    events = pair.client.receive_data(bytes(frame), pair.now)
    assert [type(e) for e in events] == [PeerError]
    assert codec.decode(pair.client.data_to_send()) == DeliverResp(
        sequence_id=41, msg_id=MO_ID, status=Status.BAD_MSG_LENGTH)
    token = pair.client.submit(submit(), pair.now)
    pair.pump()
    assert [e.token for e in pair.events(SubmitAccepted)] == [token]


def test_unknown_request_and_bad_responses_are_not_answered() -> None:
    pair = make_pair()
    events = pair.client.receive_data(bytes.fromhex("0000000c000000070000000b"), pair.now)
    assert [type(e) for e in events] == [PeerError]
    events = pair.client.receive_data(bytes.fromhex("0000000d8000000200000005") + b"\0",
                                      pair.now)
    assert [type(e) for e in events] == [PeerError]
    assert pair.client.data_to_send() == b"" and pair.client.is_bound


def test_undecodable_submit_is_answered_by_the_smgw() -> None:
    pair = make_pair()
    frame = bytearray(codec.encode(replace(submit(), sequence_id=9)))
    frame[12 + 105] = 0xC8  # non-ASCII DestTermID
    events = pair.smgw.receive_data(bytes(frame), pair.now)
    assert [type(e) for e in events] == [PeerError]
    assert codec.decode(pair.smgw.data_to_send()) == SubmitResp(sequence_id=9, status=47)
    assert pair.smgw.can_receive


def test_garbage_length_loses_framing_and_closes() -> None:
    pair = make_pair()
    events = pair.client.receive_data(bytes.fromhex("7fffffff00000003"), pair.now)
    assert any(isinstance(e, CloseConnection) for e in events)
    events = pair.smgw.receive_data(bytes.fromhex("00000004"), pair.now)
    assert any(isinstance(e, CloseClient) for e in events)


def test_unreadable_login_is_answered_and_closed() -> None:
    smgw = make_smgw()
    events = smgw.receive_data(bytes.fromhex("0000000d0000000100000001") + b"\0", 0.0)
    assert [type(e) for e in events] == [PeerError, CloseClient]
    assert codec.decode(smgw.data_to_send()) == LoginResp(sequence_id=1, status=10)


def test_unexpected_pdus_are_reported_not_fatal() -> None:
    pair = make_pair()
    stray = SubmitResp(sequence_id=999, msg_id=msg_id(5))
    events = pair.client.receive_data(codec.encode(stray), pair.now)
    assert [type(e) for e in events] == [PeerError]
    events = pair.client.receive_data(codec.encode(submit()), pair.now)
    assert [type(e) for e in events] == [PeerError]
    assert pair.client.is_bound


def test_status_names() -> None:
    assert status_name(74) == "SMGP status 74 (SP sending window closed)"
    assert status_name(60) == "SMGP status 60 (route management error)"
    assert status_name(99) == "SMGP status 99 (other error)"
