"""Ports for our own listeners come from below the ephemeral range, once each, and are free."""

from __future__ import annotations

import socket

import pytest

from gateway import free_ports
from gateway.free_ports import LOWEST, _ephemeral_start, free_port


def test_ports_are_below_the_ephemeral_range_distinct_and_bindable() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(LOWEST <= port < _ephemeral_start() for port in ports)
    for port in ports[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_taken_by_a_listener_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        for held in range(LOWEST + 5_000, _ephemeral_start()):  # one we take ourselves
            try:
                taken.bind(("127.0.0.1", held))
            except OSError:
                continue
            break
        taken.listen()
        draws = iter([held, held, held + 1 if held + 1 < _ephemeral_start() else held - 1])
        monkeypatch.setattr(free_ports.random, "choice", lambda _candidates: next(draws))
        assert free_port() not in (held, None)
