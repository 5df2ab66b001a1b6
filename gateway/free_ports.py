"""Free loopback ports for servers a process starts itself (the demo, tests, benchmarks).

Asking the kernel for port 0 gives a port of its ephemeral range — the range it also draws the
local port of every outgoing connection from. Between choosing such a port and listening on it,
one of the process's own connections (a link dialling its simulator, say) can take it, and the
listen fails with "Address already in use". So ports are drawn from below that range, which
outgoing connections never use, at random, never the same one twice in a process, and checked
free by binding them.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20_000
"""Ports from here to the start of the ephemeral range are drawn from."""
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        start = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default, and below the IANA range other systems use
    return start if start > LOWEST + 1_000 else 32_768


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at ``host`` now, below the ephemeral range."""
    candidates = range(LOWEST, _ephemeral_start())
    for _ in range(200):
        port = random.choice(candidates)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:  # that range is crowded: let the kernel choose
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
