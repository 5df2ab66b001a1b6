"""The simulated SMSC's session drops idle clients and half-sent PDUs, as real SMSCs do
(sans-IO, on a fake clock)."""

from __future__ import annotations

from carriers.simulator.server_events import CloseClient
from carriers.smpp import codec
from carriers.smpp.pdus import EnquireLink
from carriers.smpp.smsc import SmscSession, SmscSettings


def session(**settings: float) -> SmscSession:
    return SmscSession(settings=SmscSettings(**settings), authenticate=lambda s, p: 0,
                       next_message_id=lambda: "1")


def closes(events: list[object]) -> list[str]:
    return [e.reason for e in events if isinstance(e, CloseClient)]


def test_a_client_that_says_nothing_is_dropped_after_the_idle_timeout() -> None:
    smsc = session(idle_timeout=120.0)
    smsc.connection_made(0.0)
    assert smsc.next_deadline() == 120.0
    assert closes(smsc.tick(119.9)) == []
    assert closes(smsc.tick(120.0)) == ["no PDU from the client for 120s"]
    assert closes(smsc.tick(500.0)) == []  # said once
    assert smsc.next_deadline() is None


def test_every_pdu_restarts_the_idle_clock() -> None:
    smsc = session(idle_timeout=120.0)
    smsc.connection_made(0.0)
    smsc.receive_data(codec.encode(EnquireLink(sequence_number=1)), 100.0)
    assert closes(smsc.tick(120.0)) == []
    assert smsc.next_deadline() == 220.0


def test_a_pdu_received_in_part_is_dropped_after_the_read_timeout() -> None:
    smsc = session(read_timeout=10.0, idle_timeout=0.0)
    smsc.connection_made(0.0)
    frame = codec.encode(EnquireLink(sequence_number=1))
    assert smsc.receive_data(frame[:5], 1.0) == []
    assert smsc.next_deadline() == 11.0
    assert closes(smsc.tick(10.9)) == []
    assert closes(smsc.tick(11.0)) == ["a PDU arrived only in part for 10s"]


def test_the_rest_of_the_pdu_in_time_clears_the_read_timeout() -> None:
    smsc = session(read_timeout=10.0, idle_timeout=0.0)
    smsc.connection_made(0.0)
    frame = codec.encode(EnquireLink(sequence_number=1))
    smsc.receive_data(frame[:5], 1.0)
    smsc.receive_data(frame[5:], 9.0)
    assert smsc.next_deadline() is None
    assert closes(smsc.tick(30.0)) == []


def test_zero_means_never() -> None:
    smsc = session(read_timeout=0.0, idle_timeout=0.0)
    smsc.connection_made(0.0)
    smsc.receive_data(b"\x00\x00", 0.0)
    assert smsc.next_deadline() is None
    assert closes(smsc.tick(10_000.0)) == []
