"""Frames between the gateway and a link worker: a 4-byte big-endian length, then a pickled
list of operations (tuples whose first item names the operation).

Both ends are the same program, started by the gateway itself over private pipes, so the
payload is trusted as the gateway's own memory is; still, a frame above ``MAX_FRAME`` or one
that does not unpickle to a list is refused with :class:`BadFrame` rather than read.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any

MAX_FRAME = 64 * 1024 * 1024
"""The largest frame either end accepts (a run of submits or a read of receipts is far
smaller)."""

_LENGTH = struct.Struct(">I")

Operation = tuple[Any, ...]


class BadFrame(ValueError):
    """The other end wrote something that is not a frame of operations."""


def encode(operations: list[Operation]) -> bytes:
    """One frame carrying ``operations`` in order."""
    payload = pickle.dumps(operations, protocol=pickle.HIGHEST_PROTOCOL)
    if len(payload) > MAX_FRAME:
        raise BadFrame(f"frame of {len(payload)} bytes is above the limit of {MAX_FRAME}")
    return _LENGTH.pack(len(payload)) + payload


class FrameReader:
    """Bytes in (as they arrive, split anywhere) → the operations of each whole frame."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Operation]:
        buffer = self._buffer
        buffer += data
        operations: list[Operation] = []
        position = 0
        while len(buffer) - position >= 4:
            (length,) = _LENGTH.unpack_from(buffer, position)
            if length > MAX_FRAME:
                raise BadFrame(f"frame of {length} bytes announced; the limit is {MAX_FRAME}")
            end = position + 4 + length
            if len(buffer) < end:
                break
            try:
                decoded = pickle.loads(buffer[position + 4:end])
            except Exception as exc:
                raise BadFrame(f"frame does not unpickle: {exc}") from None
            if not isinstance(decoded, list):
                raise BadFrame(f"frame holds {type(decoded).__name__}, not a list")
            operations.extend(decoded)
            position = end
        if position:
            del buffer[:position]
        return operations
