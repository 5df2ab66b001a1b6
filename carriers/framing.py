"""Length-prefixed framing shared by SMPP, CMPP, SGIP and SMGP.

All four protocols start every PDU with a 4-octet big-endian total length that counts itself.
``LengthPrefixedFramer`` turns an arbitrary chunked byte stream into whole PDUs. It is pure: no
sockets, no clock. The length is checked as soon as its four octets arrive, so a peer that
announces an absurd length is refused before any of that body is buffered.
"""

from __future__ import annotations

import struct

from carriers.errors import FramingError

__all__ = ["LengthPrefixedFramer"]

_LENGTH = struct.Struct(">I")
_unpack_length = _LENGTH.unpack_from
_PREFIX_SIZE = _LENGTH.size


class LengthPrefixedFramer:
    """Split a byte stream into frames whose first four octets give the frame's total length.

    ``feed`` returns every complete frame (length prefix included) and keeps the rest. A declared
    length below ``min_length`` or above ``max_length`` raises ``FramingError``; from then on the
    framer refuses all input, because the stream can no longer be re-synchronised.
    """

    __slots__ = ("_buffer", "_failed_length", "max_length", "min_length")

    def __init__(self, min_length: int, max_length: int) -> None:
        if min_length < _PREFIX_SIZE:
            raise ValueError(f"min_length must be at least {_PREFIX_SIZE}, got {min_length}")
        if max_length < min_length:
            raise ValueError(f"max_length {max_length} is below min_length {min_length}")
        self.min_length = min_length
        self.max_length = max_length
        self._buffer = bytearray()
        self._failed_length: int | None = None

    @property
    def buffered(self) -> int:
        """Octets held back while waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add ``data`` to the stream and return the frames it completes, in order."""
        if self._failed_length is not None:
            raise FramingError(self._failed_length, self.min_length, self.max_length)
        buffer = self._buffer
        try:
            if buffer:
                buffer += data
                with memoryview(buffer) as view:
                    frames, consumed = self._split(view, len(buffer))
                del buffer[:consumed]
                return frames
            if type(data) is not bytes:
                data = bytes(data)
            frames, consumed = self._split(data, len(data))
        except FramingError:
            buffer.clear()
            raise
        if consumed < len(data):
            buffer += memoryview(data)[consumed:]
        return frames

    def _split(self, source: bytes | memoryview, size: int) -> tuple[list[bytes], int]:
        """Cut complete frames out of ``source``; return them and the number of octets used."""
        frames: list[bytes] = []
        low = self.min_length
        high = self.max_length
        pos = 0
        while size - pos >= _PREFIX_SIZE:
            (length,) = _unpack_length(source, pos)
            if length < low or length > high:
                self._failed_length = length
                raise FramingError(length, low, high)
            end = pos + length
            if end > size:
                break
            frames.append(bytes(source[pos:end]))
            pos = end
        return frames, pos
