"""What SGIP brings to the shared simulated carrier: submits read, MOs and REPORTs built, and
the connect-back session told in the shared server session's words."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from carriers.link.channel import PeerError
from carriers.sgip import codec
from carriers.sgip.client import SgipClientSettings
from carriers.sgip.pdus import BindResp, Deliver, DeliverResp, Report, Submit
from carriers.sgip.sequence import SequenceNumber, sequence_text
from carriers.sgip.simulator_dialect import CallbackServerSession, SgipDialect
from carriers.simulator.carrier_service import ReceiptWanted, ReceivedSubmit
from carriers.simulator.server_events import (
    ClientBound,
    CloseClient,
    DeliverAnswered,
    DeliverUnanswered,
    ServerFaults,
    ServerSettings,
)

SUBMITTED = SequenceNumber(3755012345, 1202141030, 7)


def received(report_flag: int = 1) -> ReceivedSubmit:
    submit = Submit(sequence=SUBMITTED, sp_number="10655012", user_numbers=("8613800138000",),
                    tp_udhi=1, message_coding=8, report_flag=report_flag,
                    message_content=bytes.fromhex("0500030a0201") + "早".encode("utf-16-be"))
    return SgipDialect().read_submit(submit, login="SP0001",
                                     message_id=sequence_text(SUBMITTED), now=5.0)


def test_read_submit() -> None:
    submit = received()
    assert submit.message_id == "3755012345-1202141030-0000000007"
    assert (submit.source, submit.destination, submit.text) == ("10655012", "8613800138000",
                                                                "早")
    assert submit.udh == bytes.fromhex("0500030a0201") and submit.wire_coding == 8


@pytest.mark.parametrize(("flag", "wanted"), [
    (0, ReceiptWanted.ON_FAILURE), (1, ReceiptWanted.ALWAYS), (2, ReceiptWanted.NONE),
    (3, ReceiptWanted.ALWAYS),
])
def test_report_flags(flag: int, wanted: ReceiptWanted) -> None:
    assert received(flag).receipt_wanted is wanted


@pytest.mark.parametrize(("stat", "state", "error"), [
    ("DELIVRD", 0, 0), ("ENROUTE", 1, 0), ("ACCEPTD", 1, 0), ("UNDELIV", 2, 21),
    ("EXPIRED", 2, 28), ("REJECTD", 2, 25), ("MA:0001", 2, 32),
])
def test_receipts_are_reports_naming_the_submit(stat: str, state: int, error: int) -> None:
    report = SgipDialect().receipt_pdu(received(), stat=stat, done_at=9.0,
                                       echo_reference=True).pdu
    assert isinstance(report, Report)
    assert report.submit_sequence == SUBMITTED
    assert (report.state, report.error_code) == (state, error)
    assert report.user_number == "8613800138000"


def test_mos() -> None:
    dialect = SgipDialect()
    ascii_mo = dialect.mo_pdu("8613800138000", "10655012", "TD").pdu
    assert isinstance(ascii_mo, Deliver) and ascii_mo.message_coding == 0
    assert dialect.mo_pdu("8613800138000", "10655012", "退订").pdu.message_coding == 8
    with pytest.raises(ValueError, match="21"):
        dialect.mo_pdu("8" * 22, "1065", "x")
    with pytest.raises(ValueError, match="does not fit"):
        dialect.mo_pdu("86138", "1065", "长" * 71)


def test_new_session_is_the_smgs_submit_side() -> None:
    session = SgipDialect(node_id=175502).new_session(
        settings=ServerSettings(), accounts={"SP0001": "pw"}, faults=ServerFaults(),
        next_message_id=lambda: 0)
    assert not session.can_receive


def test_the_callback_session_in_server_words() -> None:
    clock = Clock()
    session = CallbackServerSession(
        SgipClientSettings(login_name="UNICOM", login_password="back", node_id=175501, tps=0),
        sp_login="SP0001", clock=clock)
    session.connection_made(0.0)
    bind = codec.decode(session.data_to_send())
    assert bind.login_type == 2 and bind.login_name == "UNICOM"
    assert session.receive_data(codec.encode(BindResp(sequence=bind.sequence)), 0.0) == [
        ClientBound("SP0001", "sgip1.2 connect-back")]
    assert session.can_receive
    first = session.deliver(Deliver(sequence=SequenceNumber(0, 0, 0), user_number="86138",
                                    message_content=b"a"), 0.0)
    second = session.deliver(Deliver(sequence=SequenceNumber(0, 0, 0), user_number="86138",
                                     message_content=b"b"), 0.0)
    sent = [codec.decode(f) for f in _frames(session.data_to_send())]
    events = session.receive_data(
        codec.encode(DeliverResp(sequence=sent[0].sequence, result=0))
        + codec.encode(DeliverResp(sequence=sent[1].sequence, result=5)), 0.0)
    assert events == [DeliverAnswered(first, 0), DeliverAnswered(second, 5)]
    third = session.deliver(Deliver(sequence=SequenceNumber(0, 0, 0), user_number="86138"), 0.0)
    assert session.connection_lost(0.0) == [DeliverUnanswered(third)]
    assert not session.can_receive


def test_a_refused_callback_bind_closes() -> None:
    session = CallbackServerSession(
        SgipClientSettings(login_name="UNICOM", login_password="x", node_id=1, tps=0),
        sp_login="SP0001", clock=Clock())
    session.connection_made(0.0)
    bind = codec.decode(session.data_to_send())
    events = session.receive_data(codec.encode(BindResp(sequence=bind.sequence, result=1)), 0)
    assert [type(e) for e in events] == [CloseClient]
    garbage = session.receive_data(bytes.fromhex("00000015 80000001") + bytes(13), 0.0)
    assert all(isinstance(e, PeerError) for e in garbage)


def _frames(data: bytes) -> list[bytes]:
    frames = []
    while data:
        length = int.from_bytes(data[:4], "big")
        frames.append(data[:length])
        data = data[length:]
    return frames


def test_build_sgip_simulator_from_the_link_table() -> None:
    import random

    from carriers.protocols import SimulatorParts
    from carriers.sgip.config import SgipLinkConfig
    from carriers.sgip.simulator_dialect import SimulatedSgipSmg, build_sgip_simulator
    from carriers.simulator.carrier_service import SimulatorSettings

    link = SgipLinkConfig(port=12776, login_name="SP0001", password="pw", node_id=3755012345,
                          listen_port=12796, smg_login_name="UNICOM", smg_password="back")
    clock = Clock()
    simulator = build_sgip_simulator(
        SimulatorSettings(carrier="china_unicom", accounts={"SP0001": "pw"}),
        SimulatorParts(reactor=clock, clock=clock, host="127.0.0.1",  # type: ignore[arg-type]
                       port=12776, rng=random.Random(1)),
        link=link, smg_password="back")
    assert isinstance(simulator, SimulatedSgipSmg)
    assert simulator.protocol == "sgip" and simulator.port == 12776
    assert simulator._callback_settings.login_name == "UNICOM"
    assert simulator._callback_settings.login_password == "back"
