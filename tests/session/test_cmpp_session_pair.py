"""CMPP SP client session ⇄ simulated ISMG session, back to back: no sockets, a fake clock."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from carriers.cmpp import auth, codec
from carriers.cmpp.client import CmppClientSession, CmppClientSettings
from carriers.cmpp.ismg import IsmgSession, IsmgState
from carriers.cmpp.msg_id import msg_id_text
from carriers.cmpp.pdus import (
    ActiveTest,
    ActiveTestResp,
    Connect,
    ConnectResp,
    ConnectStatus,
    Deliver,
    DeliverResp,
    Pdu,
    Submit,
    SubmitResp,
    SubmitResult,
    Terminate,
    TerminateResp,
)
from carriers.cmpp.reports import CmppReport, encode_report
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

SP = "901234"
SECRET = "s3cret"
BOTH_VERSIONS = pytest.mark.parametrize("version", [0x30, 0x20], ids=["cmpp3", "cmpp2"])
FIRST_MSG_ID = 0x1234_5678_0000_0001


def frames_of(chunks: list[bytes]) -> list[bytes]:
    framer = LengthPrefixedFramer(min_length=12, max_length=5000)
    return [frame for chunk in chunks for frame in framer.feed(chunk)]


@dataclass
class Pair:
    """An SP client and an ISMG session with a wire between them and a shared fake clock."""

    client: CmppClientSession
    ismg: IsmgSession
    now: float = 0.0
    client_events: list = field(default_factory=list)
    ismg_events: list = field(default_factory=list)
    wire_to_ismg: list[bytes] = field(default_factory=list)
    wire_to_client: list[bytes] = field(default_factory=list)
    cut: bool = False
    """When set, what the client sends is lost (an ISMG that stopped answering)."""
    lost: list[bytes] = field(default_factory=list)
    max_unanswered: int = 0
    """The most SUBMITs seen on the wire to the ISMG and not yet answered back."""

    def pump(self) -> None:
        """Move bytes both ways until nothing is left to send."""
        for _ in range(1000):
            to_ismg = self.client.data_to_send()
            to_client = self.ismg.data_to_send()
            if not to_ismg and not to_client:
                return
            if to_ismg and self.cut:
                self.lost.append(to_ismg)
            elif to_ismg:
                self.wire_to_ismg.append(to_ismg)
                self.ismg_events += self.ismg.receive_data(to_ismg, self.now)
            if to_client:
                self.wire_to_client.append(to_client)
                self.client_events += self.client.receive_data(to_client, self.now)
            self.max_unanswered = max(self.max_unanswered, self.unanswered_submits())
        raise AssertionError("pair never went quiet")

    def unanswered_submits(self) -> int:
        version = self.client.settings.version
        sent = sum(isinstance(p, Submit) for p in self.sent_by_client(version))
        answered = sum(isinstance(p, SubmitResp) for p in self.sent_by_ismg(version))
        return sent - answered

    def advance(self, seconds: float) -> None:
        """Move the clock forward, ticking both sessions at every deadline on the way."""
        end = self.now + seconds
        for _ in range(100_000):
            deadlines = [d for d in (self.client.next_deadline(), self.ismg.next_deadline())
                         if d is not None and d <= end]
            if not deadlines:
                break
            self.now = max(self.now, min(deadlines))
            self.client_events += self.client.tick(self.now)
            self.ismg_events += self.ismg.tick(self.now)
            self.pump()
            if self.now >= end:
                break
        else:
            raise AssertionError("sessions keep asking to be ticked without progress")
        self.now = end
        self.client_events += self.client.tick(self.now)
        self.ismg_events += self.ismg.tick(self.now)
        self.pump()

    def events(self, kind: type) -> list:
        return [e for e in self.client_events if isinstance(e, kind)]

    def ismg_of(self, kind: type) -> list:
        return [e for e in self.ismg_events if isinstance(e, kind)]

    def sent_by_client(self, version: int) -> list[Pdu]:
        return [codec.decode(f, version) for f in frames_of(self.wire_to_ismg)]

    def sent_by_ismg(self, version: int) -> list[Pdu]:
        return [codec.decode(f, version) for f in frames_of(self.wire_to_client)]


def make_ismg(
    *,
    highest_version: int = 0x30,
    tps: float = 0.0,
    window: int = 0,
    idle_timeout: float = 0.0,
    faults: ServerFaults | None = None,
) -> IsmgSession:
    counter = itertools.count(FIRST_MSG_ID)
    return IsmgSession(
        settings=ServerSettings(tps=tps, window=window, idle_timeout=idle_timeout),
        accounts={SP: SECRET},
        next_message_id=lambda: next(counter),
        faults=faults,
        highest_version=highest_version,
    )


def make_pair(
    *,
    version: int = 0x30,
    source_addr: str = SP,
    secret: str = SECRET,
    highest_version: int = 0x30,
    ismg_tps: float = 0.0,
    ismg_window: int = 0,
    idle_timeout: float = 0.0,
    faults: ServerFaults | None = None,
    tps: float = 0.0,
    **client_options: float,
) -> Pair:
    client = CmppClientSession(CmppClientSettings(
        source_addr=source_addr, shared_secret=secret, version=version, tps=tps,
        **client_options,
    ))
    ismg = make_ismg(highest_version=highest_version, tps=ismg_tps, window=ismg_window,
                     idle_timeout=idle_timeout, faults=faults)
    pair = Pair(client, ismg)
    ismg.connection_made(pair.now)
    client.connection_made(pair.now)
    pair.pump()
    return pair


def submit(n: int = 1, text: str = "hello") -> Submit:
    return Submit(sequence_id=0, msg_src=SP, src_id="1065800012",
                  dest_terminal_ids=(f"1380013{n:04d}",), msg_content=text.encode())


def mo(text: bytes = b"SD", **fields: object) -> Deliver:
    return replace(Deliver(sequence_id=0, msg_id=0x0A0B0C0D01020304, dest_id="1065800012",
                           src_terminal_id="13800138000", msg_content=text), **fields)


# -- login -------------------------------------------------------------------------------


@BOTH_VERSIONS
def test_connect_succeeds_and_authenticator_ismg_is_verified(version: int) -> None:
    pair = make_pair(version=version)
    assert pair.client.state is LinkState.BOUND and pair.client.is_bound
    assert pair.events(Bound) == [Bound(f"CMPP {version >> 4}.0")]
    assert not pair.events(PeerError)  # AuthenticatorISMG matched
    bound = pair.ismg_of(ClientBound)
    assert bound == [ClientBound(SP, f"cmpp{version >> 4}.0")]
    assert pair.ismg.login == SP and pair.ismg.version == version
    assert pair.ismg.can_receive
    assert pair.client.login_name == SP


def test_connect_carries_the_wall_time_of_the_ismg() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    now = datetime(2024, 3, 1, 0, 0, 5, tzinfo=shanghai).timestamp()
    client = CmppClientSession(CmppClientSettings(source_addr=SP, shared_secret=SECRET))
    client.connection_made(now)
    connect = codec.decode(client.data_to_send(), 0x30)
    assert isinstance(connect, Connect)
    assert connect.timestamp == 301000005
    assert connect.authenticator_source == auth.authenticator_source(SP, SECRET, 301000005)
    assert connect.version == 0x30 and connect.source_addr == SP


def test_an_injected_wall_clock_is_used() -> None:
    client = CmppClientSession(
        CmppClientSettings(source_addr=SP, shared_secret=SECRET),
        wall_clock=lambda now: datetime(2024, 12, 31, 23, 59, 59),
    )
    client.connection_made(0.0)
    assert codec.decode(client.data_to_send(), 0x30).timestamp == 1231235959


def test_wrong_authenticator_ismg_is_reported_but_the_login_stands() -> None:
    client = CmppClientSession(CmppClientSettings(source_addr=SP, shared_secret=SECRET))
    client.connection_made(0.0)
    connect = codec.decode(client.data_to_send(), 0x30)
    answer = ConnectResp(sequence_id=connect.sequence_id, status=0,
                         authenticator_ismg=b"\x01" * 16, version=0x30)
    events = client.receive_data(codec.encode(answer, 0x30), 0.0)
    errors = [e for e in events if isinstance(e, PeerError)]
    assert len(errors) == 1 and "AuthenticatorISMG" in errors[0].reason
    assert any(isinstance(e, Bound) for e in events)
    assert client.is_bound


@BOTH_VERSIONS
def test_wrong_secret_is_refused_with_status_3_and_closed(version: int) -> None:
    pair = make_pair(version=version, secret="wrong")
    assert pair.events(BindRefused) == [BindRefused(ConnectStatus.AUTHENTICATION_FAILED)]
    assert pair.events(CloseConnection)
    assert not pair.client.is_bound
    assert pair.ismg_of(BindDenied) == [BindDenied(SP, 3)]
    assert pair.ismg_of(CloseClient)
    assert not pair.ismg.can_receive and pair.ismg.login == ""
    answer = pair.sent_by_ismg(version)[0]
    assert isinstance(answer, ConnectResp) and answer.authenticator_ismg == bytes(16)


def test_unknown_sp_code_is_refused_with_status_2() -> None:
    pair = make_pair(source_addr="999999")
    assert pair.events(BindRefused) == [BindRefused(ConnectStatus.BAD_SOURCE_ADDRESS)]
    assert pair.ismg_of(BindDenied) == [BindDenied("999999", 2)]
    assert pair.ismg_of(CloseClient)


def test_refuse_binds_fault_gives_status_3() -> None:
    pair = make_pair(faults=ServerFaults(refuse_binds=True))
    assert pair.events(BindRefused) == [BindRefused(3)]


def test_version_above_the_ismgs_highest_is_refused_with_status_4() -> None:
    pair = make_pair(version=0x30, highest_version=0x20)
    assert pair.events(BindRefused) == [BindRefused(ConnectStatus.VERSION_TOO_HIGH)]
    assert pair.ismg_of(BindDenied) == [BindDenied(SP, 4)]
    # The 2.0-only ISMG answered in its own layout (1-octet status, 30 octets).
    assert len(frames_of(pair.wire_to_client)[0]) == 30


def test_a_2_0_client_logs_into_a_3_0_ismg_in_2_0() -> None:
    pair = make_pair(version=0x20, highest_version=0x30)
    assert pair.client.is_bound
    assert pair.ismg.version == 0x20
    token = pair.client.submit(submit(), pair.now)
    pair.pump()
    assert pair.events(SubmitAccepted) == [SubmitAccepted(token, msg_id_text(FIRST_MSG_ID))]


def test_bound_says_when_the_ismg_answers_a_lower_version() -> None:
    client = CmppClientSession(CmppClientSettings(source_addr=SP, shared_secret=SECRET))
    client.connection_made(0.0)
    connect = codec.decode(client.data_to_send(), 0x30)
    answer = ConnectResp(
        sequence_id=connect.sequence_id, status=0, version=0x20,
        authenticator_ismg=auth.authenticator_ismg(0, connect.authenticator_source, SECRET,
                                                   0x30))
    events = client.receive_data(codec.encode(answer, 0x30), 0.0)
    bound = [e for e in events if isinstance(e, Bound)]
    assert len(bound) == 1
    assert "highest version is 2.0" in bound[0].peer_id
    assert not any(isinstance(e, PeerError) for e in events)


def test_unanswered_connect_closes_the_connection() -> None:
    client = CmppClientSession(CmppClientSettings(source_addr=SP, shared_secret=SECRET,
                                                  response_timeout=4.0))
    client.connection_made(0.0)
    client.data_to_send()
    assert client.next_deadline() == 4.0
    assert client.tick(3.9) == []
    assert any(isinstance(e, CloseConnection) for e in client.tick(4.0))


def test_ismg_closes_a_connection_that_submits_before_connect() -> None:
    ismg = make_ismg()
    events = ismg.receive_data(codec.encode(submit(), 0x30), 0.0)
    assert any(isinstance(e, PeerError) for e in events)
    assert any(isinstance(e, CloseClient) for e in events)
    assert ismg.data_to_send() == b""
    assert ismg.state is IsmgState.CLOSED


# -- submits and flow control ---------------------------------------------------------------


@BOTH_VERSIONS
def test_submit_gets_the_msg_id_as_16_hex_digits(version: int) -> None:
    pair = make_pair(version=version)
    token = pair.client.submit(submit(), pair.now)
    pair.pump()
    assert pair.events(SubmitAccepted) == [SubmitAccepted(token, "1234567800000001")]
    received = pair.ismg_of(SubmitReceived)
    assert received[0].message_id == "1234567800000001"
    assert received[0].pdu.msg_content == b"hello"


def test_submits_wait_while_disconnected_and_go_after_login() -> None:
    client = CmppClientSession(CmppClientSettings(source_addr=SP, shared_secret=SECRET, tps=0))
    token = client.submit(submit(), 0.0)
    assert client.data_to_send() == b""
    pair = Pair(client, make_ismg())
    client.connection_made(0.0)
    pair.pump()
    assert pair.events(SubmitAccepted) == [SubmitAccepted(token, msg_id_text(FIRST_MSG_ID))]


@BOTH_VERSIONS
def test_window_limits_the_submits_on_the_wire(version: int) -> None:
    pair = make_pair(version=version, window=4, response_timeout=100.0,
                     faults=ServerFaults(withhold_responses=True))
    for n in range(10):
        pair.client.submit(submit(n), pair.now)
    pair.pump()
    assert len(pair.ismg_of(SubmitReceived)) == 4
    assert pair.client.in_flight == 4 and pair.client.queued == 6


def test_window_is_never_exceeded_while_responses_trickle_in() -> None:
    pair = make_pair(window=3, faults=ServerFaults(response_delay=0.5))
    tokens = [pair.client.submit(submit(n), pair.now) for n in range(12)]
    pair.pump()
    for _ in range(40):
        pair.advance(0.1)
    assert sorted(e.token for e in pair.events(SubmitAccepted)) == tokens
    assert pair.max_unanswered == 3


@BOTH_VERSIONS
def test_flow_control_result_8_is_throttled_paused_and_resent(version: int) -> None:
    pair = make_pair(version=version, ismg_tps=3, throttle_backoff=0.5)
    tokens = [pair.client.submit(submit(n), pair.now) for n in range(5)]
    pair.pump()
    refused = pair.ismg_of(SubmitRefused)
    assert [r.status for r in refused] == [SubmitResult.FLOW_CONTROL] * 2
    throttled = pair.events(Throttled)
    assert throttled and throttled[0] == Throttled(8, 0.5)
    assert len(pair.ismg_of(SubmitReceived)) == 3
    pair.advance(0.4)
    assert len(pair.ismg_of(SubmitReceived)) == 3  # still paused
    pair.advance(2.0)
    assert sorted(e.token for e in pair.events(SubmitAccepted)) == tokens
    assert not pair.events(SubmitRejected)


def test_ismg_window_overflow_is_flow_control_too() -> None:
    pair = make_pair(window=8, ismg_window=2, throttle_backoff=0.3,
                     faults=ServerFaults(response_delay=0.2))
    tokens = [pair.client.submit(submit(n), pair.now) for n in range(5)]
    pair.pump()
    pair.advance(5.0)
    assert sorted(e.token for e in pair.events(SubmitAccepted)) == tokens
    refused = pair.ismg_of(SubmitRefused)
    assert refused and {r.status for r in refused} == {SubmitResult.FLOW_CONTROL}


def test_endless_flow_control_is_given_up_as_a_rejection() -> None:
    pair = make_pair(ismg_tps=1, throttle_backoff=0.01, max_throttle_backoff=0.01,
                     max_throttle_retries=2)
    first = pair.client.submit(submit(1), pair.now)
    second = pair.client.submit(submit(2), pair.now)
    pair.pump()
    pair.advance(0.5)
    assert pair.events(SubmitAccepted) == [SubmitAccepted(first, msg_id_text(FIRST_MSG_ID))]
    assert pair.events(SubmitRejected) == [SubmitRejected(second, 8)]


def test_other_results_are_rejections() -> None:
    pair = make_pair()
    token = pair.client.submit(submit(), pair.now)
    request = codec.decode(pair.client.data_to_send(), 0x30)
    answer = SubmitResp(sequence_id=request.sequence_id, result=SubmitResult.BAD_DEST_TERMINAL_ID)
    events = pair.client.receive_data(codec.encode(answer, 0x30), pair.now)
    assert [e for e in events if isinstance(e, SubmitRejected)] == [SubmitRejected(token, 13)]


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
    assert len(pair.ismg_of(SubmitReceived)) == 2


def test_connection_lost_reports_in_flight_and_keeps_the_queue() -> None:
    pair = make_pair(window=1, faults=ServerFaults(withhold_responses=True))
    first = pair.client.submit(submit(1), pair.now)
    second = pair.client.submit(submit(2), pair.now)
    pair.pump()
    events = pair.client.connection_lost(pair.now)
    assert [e.token for e in events if isinstance(e, SubmitUnanswered)] == [first]
    assert pair.client.state is LinkState.DISCONNECTED and pair.client.queued == 1
    again = Pair(pair.client, make_ismg(), now=pair.now)
    pair.client.connection_made(pair.now)
    again.pump()
    assert again.events(SubmitAccepted) == [SubmitAccepted(second, msg_id_text(FIRST_MSG_ID))]


# -- keep-alive ---------------------------------------------------------------------------


def active_tests(pdus: list[Pdu]) -> list[Pdu]:
    return [p for p in pdus if isinstance(p, ActiveTest)]


def test_idle_link_sends_active_test_and_it_is_answered() -> None:
    pair = make_pair(idle_timeout=200.0)
    pair.advance(179.0)
    assert not active_tests(pair.sent_by_client(0x30))
    pair.advance(2.0)
    assert len(active_tests(pair.sent_by_client(0x30))) == 1
    assert any(isinstance(p, ActiveTestResp) for p in pair.sent_by_ismg(0x30))
    pair.advance(1000.0)  # the keep-alive holds the ISMG's idle timeout off
    assert not pair.events(CloseConnection) and not pair.ismg_of(CloseClient)
    assert len(active_tests(pair.sent_by_client(0x30))) == 6


def test_three_unanswered_active_tests_close_the_connection() -> None:
    pair = make_pair(active_test_interval=180.0, response_timeout=10.0)
    pair.cut = True  # the ISMG hears nothing more
    pair.advance(180.0)
    assert pair.client.next_deadline() == 190.0
    pair.advance(29.9)
    assert not pair.events(CloseConnection)
    pair.advance(0.1)
    assert pair.events(CloseConnection) == [
        CloseConnection("3 ACTIVE_TESTs in a row not answered")]
    probes = active_tests([codec.decode(f, 0x30) for f in frames_of(pair.lost)])
    assert len(probes) == 3  # at 180, 190 and 200; none after


def test_an_answered_active_test_resets_the_count() -> None:
    pair = make_pair(active_test_interval=180.0, response_timeout=10.0)
    pair.cut = True
    pair.advance(185.0)  # the probe of 180 is lost
    pair.cut = False
    pair.advance(6.0)  # missed at 190; the next one, sent at once, is answered
    assert len(active_tests(pair.sent_by_client(0x30))) == 1
    pair.cut = True
    pair.advance(204.0)  # probes at 370 and 380 lost: two missed since the answer
    assert not pair.events(CloseConnection)
    pair.advance(5.0)  # the third, sent at 390, missed at 400
    assert pair.events(CloseConnection)


def test_client_answers_the_ismgs_active_test() -> None:
    pair = make_pair()
    events = pair.client.receive_data(codec.encode(ActiveTest(sequence_id=77), 0x30), pair.now)
    assert events == []
    assert codec.decode(pair.client.data_to_send(), 0x30) == ActiveTestResp(sequence_id=77)


def test_ismg_answers_the_clients_active_test() -> None:
    pair = make_pair()
    assert pair.ismg.receive_data(codec.encode(ActiveTest(sequence_id=9), 0x30), 0.0) == []
    assert codec.decode(pair.ismg.data_to_send(), 0x30) == ActiveTestResp(sequence_id=9)


def test_ismg_drops_an_idle_client() -> None:
    pair = make_pair(idle_timeout=60.0, active_test_interval=180.0)
    pair.advance(60.0)
    assert pair.ismg_of(CloseClient) == [CloseClient("no PDU from the client for 60s")]


# -- terminate ----------------------------------------------------------------------------


@BOTH_VERSIONS
def test_graceful_stop_waits_for_in_flight_then_terminates(version: int) -> None:
    pair = make_pair(version=version, terminate_timeout=5.0,
                     faults=ServerFaults(response_delay=1.0))
    token = pair.client.submit(submit(), pair.now)
    pair.pump()
    pair.client_events += pair.client.unbind(pair.now)
    assert pair.client.state is LinkState.DRAINING
    with pytest.raises(RuntimeError):
        pair.client.submit(submit(2), pair.now)
    pair.pump()
    assert not any(isinstance(p, Terminate) for p in pair.sent_by_client(version))
    pair.advance(1.0)
    assert pair.events(SubmitAccepted) == [SubmitAccepted(token, msg_id_text(FIRST_MSG_ID))]
    assert any(isinstance(p, Terminate) for p in pair.sent_by_client(version))
    assert any(isinstance(p, TerminateResp) for p in pair.sent_by_ismg(version))
    assert pair.ismg_of(ClientUnbound) and pair.ismg_of(CloseClient)
    assert pair.events(Unbound) == [Unbound(by_peer=False)]
    assert pair.client.state is LinkState.CLOSED
    assert pair.client.connection_lost(pair.now) == []
    assert pair.client.state is LinkState.CLOSED


def test_graceful_stop_gives_up_waiting_after_terminate_timeout() -> None:
    pair = make_pair(terminate_timeout=2.0, response_timeout=60.0,
                     faults=ServerFaults(withhold_responses=True))
    token = pair.client.submit(submit(), pair.now)
    queued = [pair.client.submit(submit(n), pair.now) for n in range(2, 40)]
    pair.pump()
    pair.client_events += pair.client.unbind(pair.now)
    pair.advance(2.5)
    # 15 of the window of 16 were in flight: one slot is kept for replies
    assert [e.token for e in pair.events(SubmitUnanswered)] == [token, *queued[:14]]
    assert [e.token for e in pair.events(SubmitNotSent)] == queued[14:]
    assert pair.ismg_of(ClientUnbound)
    assert pair.client.state is LinkState.CLOSED


def test_unanswered_terminate_closes_anyway() -> None:
    pair = make_pair(response_timeout=3.0)
    pair.cut = True
    pair.client_events += pair.client.unbind(pair.now)
    assert pair.client.state is LinkState.UNBINDING
    pair.advance(3.0)
    assert pair.client.state is LinkState.CLOSED
    assert pair.events(CloseConnection)
    assert pair.client.stop_timeout == 5.0 + 3.0


def test_stop_before_login_closes_at_once() -> None:
    client = CmppClientSession(CmppClientSettings(source_addr=SP, shared_secret=SECRET))
    token = client.submit(submit(), 0.0)
    events = client.unbind(0.0)
    assert events == [SubmitNotSent(token), CloseConnection("shutting down")]
    assert client.state is LinkState.CLOSED


def test_terminate_from_the_ismg_is_answered_and_the_link_reconnects() -> None:
    pair = make_pair()
    pair.ismg.unbind()
    pair.pump()
    assert pair.events(Unbound) == [Unbound(by_peer=True)]
    assert pair.events(CloseConnection)
    assert pair.client.state is LinkState.DISCONNECTED  # not closed: the transport reconnects
    assert pair.ismg_of(CloseClient) == [CloseClient("TERMINATE answered")]


# -- MOs and reports ------------------------------------------------------------------------


@BOTH_VERSIONS
def test_mo_is_answered_only_once_acknowledged(version: int) -> None:
    pair = make_pair(version=version)
    token = pair.ismg.deliver(mo(), pair.now)
    pair.pump()
    received = pair.events(MessageReceived)
    assert len(received) == 1 and received[0].pdu.msg_content == b"SD"
    assert received[0].pdu.src_terminal_id == "13800138000"
    assert not pair.ismg_of(DeliverAnswered)
    assert not any(isinstance(p, DeliverResp) for p in pair.sent_by_client(version))
    assert pair.client.acknowledge(received[0])
    pair.pump()
    assert pair.ismg_of(DeliverAnswered) == [DeliverAnswered(token, 0)]
    answer = next(p for p in pair.sent_by_client(version) if isinstance(p, DeliverResp))
    assert answer.msg_id == 0x0A0B0C0D01020304


@BOTH_VERSIONS
def test_report_is_delivered_and_refusals_carry_their_results(version: int) -> None:
    pair = make_pair(version=version)
    report = CmppReport(msg_id=FIRST_MSG_ID, stat="DELIVRD", submit_time="2403011200",
                        done_time="2403011201", dest_terminal_id="13800138000")
    content = encode_report(report, version)
    tokens = [pair.ismg.deliver(mo(content, registered_delivery=1), pair.now)
              for _ in range(3)]
    pair.pump()
    received = pair.events(MessageReceived)
    assert [r.pdu.msg_content for r in received] == [content] * 3
    pair.client.acknowledge(received[0], InboundAnswer.STORED)
    pair.client.acknowledge(received[1], InboundAnswer.UNREADABLE)
    pair.client.acknowledge(received[2], InboundAnswer.NOT_STORED)
    pair.pump()
    assert pair.ismg_of(DeliverAnswered) == [
        DeliverAnswered(tokens[0], 0), DeliverAnswered(tokens[1], 1),
        DeliverAnswered(tokens[2], 8),
    ]


def test_ack_after_reconnect_is_refused_so_the_ismg_delivers_again() -> None:
    pair = make_pair()
    pair.ismg.deliver(mo(), pair.now)
    pair.pump()
    received = pair.events(MessageReceived)[0]
    pair.client.connection_lost(pair.now)
    pair.client.connection_made(pair.now)
    assert not pair.client.acknowledge(received)


def test_ismg_refuses_deliver_before_login() -> None:
    with pytest.raises(RuntimeError):
        make_ismg().deliver(mo(), 0.0)


# -- bad input ----------------------------------------------------------------------------


def with_msg_length(frame: bytes, version: int, length: int) -> bytes:
    """A DELIVER or SUBMIT frame whose Msg_Length octet says ``length``."""
    tail = 20 if version == 0x30 else 8
    pdu = codec.decode(frame, version)
    at = len(frame) - tail - len(pdu.msg_content) - 1
    return frame[:at] + bytes([length]) + frame[at + 1:]


@BOTH_VERSIONS
def test_undecodable_deliver_is_answered_and_the_client_lives(version: int) -> None:
    pair = make_pair(version=version)
    frame = codec.encode(mo(sequence_id=41), version)
    events = pair.client.receive_data(with_msg_length(frame, version, 200), pair.now)
    assert [type(e) for e in events] == [PeerError]
    assert events[0].frame_hex == with_msg_length(frame, version, 200).hex()
    answer = codec.decode(pair.client.data_to_send(), version)
    assert answer == DeliverResp(sequence_id=41, msg_id=0x0A0B0C0D01020304,
                                 result=SubmitResult.BAD_LENGTH)
    token = pair.client.submit(submit(), pair.now)
    pair.pump()
    assert [e.token for e in pair.events(SubmitAccepted)] == [token]


def test_unknown_command_and_bad_responses_are_not_answered() -> None:
    pair = make_pair()
    unknown = bytes.fromhex("0000000c000000990000000b")
    events = pair.client.receive_data(unknown, pair.now)
    assert [type(e) for e in events] == [PeerError]
    short_resp = bytes.fromhex("0000000d8000000400000005") + b"\x00"
    events = pair.client.receive_data(short_resp, pair.now)
    assert [type(e) for e in events] == [PeerError]
    assert pair.client.data_to_send() == b""
    assert pair.client.is_bound


@BOTH_VERSIONS
def test_undecodable_submit_is_answered_by_the_ismg(version: int) -> None:
    pair = make_pair(version=version)
    frame = with_msg_length(codec.encode(replace(submit(), sequence_id=9), version), version, 3)
    events = pair.ismg.receive_data(frame, pair.now)
    assert [type(e) for e in events] == [PeerError]
    answer = codec.decode(pair.ismg.data_to_send(), version)
    assert answer == SubmitResp(sequence_id=9, msg_id=0, result=SubmitResult.BAD_LENGTH)
    events = pair.ismg.receive_data(bytes.fromhex("0000000c000000060000000a"), pair.now)
    assert [type(e) for e in events] == [PeerError]  # CMPP_QUERY: unknown here, not answered
    assert pair.ismg.data_to_send() == b""
    assert pair.ismg.can_receive


def test_a_wrong_total_length_loses_framing_and_closes() -> None:
    pair = make_pair()
    events = pair.client.receive_data(bytes.fromhex("7fffffff00000005"), pair.now)
    assert any(isinstance(e, CloseConnection) for e in events)
    events = pair.ismg.receive_data(bytes.fromhex("00000004"), pair.now)
    assert any(isinstance(e, CloseClient) for e in events)


def test_unreadable_connect_is_answered_and_closed() -> None:
    ismg = make_ismg()
    frame = bytes.fromhex("0000000d0000000100000001") + b"\x00"
    events = ismg.receive_data(frame, 0.0)
    assert [type(e) for e in events] == [PeerError, CloseClient]
    answer = codec.decode(ismg.data_to_send(), 0x30)
    assert isinstance(answer, ConnectResp) and answer.status == ConnectStatus.BAD_STRUCTURE


def test_unexpected_pdus_are_reported_not_fatal() -> None:
    pair = make_pair()
    stray = SubmitResp(sequence_id=999, msg_id=1, result=0)
    events = pair.client.receive_data(codec.encode(stray, 0x30), pair.now)
    assert [type(e) for e in events] == [PeerError]
    events = pair.client.receive_data(codec.encode(submit(), 0x30), pair.now)
    assert [type(e) for e in events] == [PeerError]
    assert pair.client.is_bound
