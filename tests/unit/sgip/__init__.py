"""SGIP codec tests, and the helper that reads their hand-written golden vectors."""

from __future__ import annotations

import re

_RUN = re.compile(r"([0-9a-fA-F]{2})\*(\d+)")


def unhex(vector: str) -> bytes:
    """Bytes from a hand-written vector.

    Everything after ``#`` on a line is an annotation. Hex may be grouped with spaces; ``00*17``
    stands for seventeen 0x00 octets (field padding, counted from the protocol tables).
    """
    parts = []
    for line in vector.splitlines():
        for token in line.split("#", 1)[0].split():
            run = _RUN.fullmatch(token)
            parts.append(run.group(1) * int(run.group(2)) if run else token)
    return bytes.fromhex("".join(parts))
