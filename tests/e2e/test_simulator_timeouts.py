"""The simulated SMSC over loopback closes a connection holding half a PDU, and an idle one,
as a real SMSC does."""

from __future__ import annotations

import socket
import time

import pytest_twisted
from twisted.internet import threads

from carriers.smpp.smsc import SmscSettings
from tests.e2e.test_link_against_simulator import start_simulator


def _closed_after(port: int, first: bytes, limit: float) -> float:
    """Connect, send ``first``, and return how long until the server closed the socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        started = time.monotonic()
        if first:
            sock.sendall(first)
        while sock.recv(4096):
            pass  # anything the SMSC says before it closes
        return time.monotonic() - started


@pytest_twisted.ensureDeferred
async def test_half_a_pdu_is_dropped_after_the_read_timeout() -> None:
    simulator = start_simulator(smsc=SmscSettings(read_timeout=0.5, idle_timeout=30.0))
    try:
        took = await threads.deferToThread(_closed_after, simulator.port, b"\x00\x00\x00", 10.0)
    finally:
        await simulator.stopService()
    assert 0.4 <= took < 5.0


@pytest_twisted.ensureDeferred
async def test_a_silent_client_is_dropped_after_the_idle_timeout() -> None:
    simulator = start_simulator(smsc=SmscSettings(read_timeout=30.0, idle_timeout=0.5))
    try:
        took = await threads.deferToThread(_closed_after, simulator.port, b"", 10.0)
    finally:
        await simulator.stopService()
    assert 0.4 <= took < 5.0
