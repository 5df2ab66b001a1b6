"""The simulated SMSC over loopback closes a connection holding half a PDU, and an idle one,
as a real SMSC does."""

from __future__ import annotations

import socket
import time

import pytest
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


@pytest.mark.parametrize(("first", "read_timeout", "idle_timeout"), [
    (b"\x00\x00\x00", 0.5, 30.0),  # half a PDU: dropped after the read timeout
    (b"", 30.0, 0.5),  # a silent client: dropped after the idle timeout
], ids=["half-a-pdu", "silent-client"])
@pytest_twisted.ensureDeferred
async def test_the_smsc_drops_the_connection_after_its_timeout(
        first: bytes, read_timeout: float, idle_timeout: float) -> None:
    simulator = start_simulator(smsc=SmscSettings(read_timeout=read_timeout,
                                                  idle_timeout=idle_timeout))
    try:
        took = await threads.deferToThread(_closed_after, simulator.port, first, 10.0)
    finally:
        await simulator.stopService()
    assert 0.4 <= took < 5.0
