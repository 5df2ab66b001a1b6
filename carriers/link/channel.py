"""Frames, numbers and decodes the PDUs of one connection, for any protocol. Pure.

SMPP, CMPP, SGIP and SMGP all start a PDU with a 4-octet total length; they differ in the
header's size, where the sequence number sits, and how a request that cannot be decoded is
answered.  A :class:`FrameCodec` says those things for one protocol; :class:`PduChannel`
does the rest: framing, numbering of requests, answering undecodable requests, and
collecting the bytes to send.  It knows nothing about login states; the sessions do.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from carriers.errors import DecodeError, FramingError
from carriers.framing import LengthPrefixedFramer

_SEQUENCE = struct.Struct(">I")


class FrameCodec(Protocol):
    """What a protocol tells the channel about its PDUs."""

    header_length: int
    sequence_offset: int
    """Where the 4-octet sequence number sits in the header."""
    max_sequence: int

    def encode(self, pdu: Any) -> bytes: ...

    def decode(self, frame: bytes) -> Any:
        """A PDU, or ``DecodeError`` (never anything else) for bytes that are not one."""
        ...

    def numbered(self, pdu: Any, sequence: int) -> Any:
        """``pdu`` with ``sequence`` as its sequence number."""
        ...

    def answer_to_undecodable(self, error: DecodeError) -> Any | None:
        """The PDU that answers a request the codec could not decode, or None to stay
        silent (a response is never answered: answering responses loops)."""
        ...


@dataclass(frozen=True, slots=True)
class PeerError:
    """The peer sent a PDU we could not decode (or did not expect); it has been answered
    already where the protocol allows."""

    reason: str
    status: int
    frame_hex: str


@dataclass(frozen=True, slots=True)
class FramingLost:
    """The byte stream can no longer be framed; the connection must be closed."""

    reason: str


class PduChannel:
    """Frames, decodes and encodes PDUs for one connection."""

    def __init__(self, codec: FrameCodec, *, max_pdu_length: int) -> None:
        self.codec = codec
        self._framer = LengthPrefixedFramer(min_length=codec.header_length,
                                            max_length=max_pdu_length)
        self._outbox = bytearray()
        self._next_sequence = 1
        self._sequence_offset = codec.sequence_offset
        self.closed_reason: str | None = None

    def next_sequence(self) -> int:
        sequence = self._next_sequence
        self._next_sequence = 1 if sequence >= self.codec.max_sequence else sequence + 1
        return sequence

    def send(self, pdu: Any) -> None:
        self._outbox += self.codec.encode(pdu)

    def send_request(self, pdu: Any) -> Any:
        """Give ``pdu`` the next sequence number, queue it, and return the numbered PDU."""
        numbered = self.codec.numbered(pdu, self.next_sequence())
        self._outbox += self.codec.encode(numbered)
        return numbered

    def request(self, pdu: Any) -> int:
        """Queue ``pdu`` under the next sequence number; return that number."""
        sequence = self.next_sequence()
        self._outbox += self.codec.encode(self.codec.numbered(pdu, sequence))
        return sequence

    def send_raw(self, data: bytes) -> None:
        """Queue bytes as they are: a PDU encoded already, or the simulators' garbage fault."""
        self._outbox += data

    def send_encoded(self, frame: bytes, sequence_number: int) -> None:
        """Queue an already encoded request under ``sequence_number`` (patched into its header)."""
        start = len(self._outbox)
        self._outbox += frame
        _SEQUENCE.pack_into(self._outbox, start + self._sequence_offset, sequence_number)

    @property
    def buffered(self) -> int:
        """Octets of a PDU received only in part."""
        return self._framer.buffered

    def data_to_send(self) -> bytes:
        data = bytes(self._outbox)
        self._outbox.clear()
        return data

    def receive(self, data: bytes) -> Iterator[Any | PeerError | FramingLost]:
        """Decode what ``data`` completes; bad PDUs are answered and reported, not raised."""
        if self.closed_reason is not None:
            return
        try:
            frames = self._framer.feed(data)
        except FramingError as exc:
            self.closed_reason = str(exc)
            yield FramingLost(str(exc))
            return
        for frame in frames:
            try:
                yield self.codec.decode(frame)
            except DecodeError as exc:
                answer = self.codec.answer_to_undecodable(exc)
                if answer is not None:
                    self.send(answer)
                yield PeerError(exc.reason, exc.status, frame[:512].hex())
