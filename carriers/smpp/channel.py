"""The byte-level half shared by both SMPP sessions (ESME and SMSC).

A :class:`PduChannel` frames incoming bytes, decodes them, answers PDUs that
cannot be decoded with the status the codec names, numbers outgoing requests
and collects the bytes to send.  It knows nothing about bind states; the
sessions built on it do.  Pure: no sockets, no clock.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace

from carriers.errors import DecodeError, FramingError
from carriers.framing import LengthPrefixedFramer
from carriers.smpp import codec
from carriers.smpp.pdus import CommandStatus, Pdu, error_response

HEADER_LENGTH = 16
_SEQUENCE = struct.Struct(">I")
MAX_PDU_LENGTH = 70_000
"""Large enough for a 64 KiB message_payload, small enough to refuse garbage early."""
MAX_SEQUENCE = 0x7FFFFFFF


@dataclass(frozen=True, slots=True)
class PeerError:
    """The peer sent a PDU we could not decode; it has been answered already."""

    reason: str
    status: int
    frame_hex: str


@dataclass(frozen=True, slots=True)
class FramingLost:
    """The byte stream can no longer be framed; the connection must be closed."""

    reason: str


class PduChannel:
    """Frames, decodes and encodes PDUs for one connection."""

    def __init__(self, *, max_pdu_length: int = MAX_PDU_LENGTH) -> None:
        self._framer = LengthPrefixedFramer(min_length=HEADER_LENGTH, max_length=max_pdu_length)
        self._outbox = bytearray()
        self._next_sequence = 1
        self.closed_reason: str | None = None

    def next_sequence(self) -> int:
        sequence = self._next_sequence
        self._next_sequence = 1 if sequence >= MAX_SEQUENCE else sequence + 1
        return sequence

    def send(self, pdu: Pdu) -> None:
        self._outbox += codec.encode(pdu)

    def send_request(self, pdu: Pdu) -> Pdu:
        """Give ``pdu`` the next sequence number, queue it, and return the numbered PDU."""
        numbered = replace(pdu, sequence_number=self.next_sequence())  # type: ignore[type-var]
        self._outbox += codec.encode(numbered)
        return numbered

    def send_raw(self, data: bytes) -> None:
        """Queue bytes as they are (the simulator's garbage fault)."""
        self._outbox += data

    def send_encoded(self, frame: bytes, sequence_number: int) -> None:
        """Queue an already encoded request under ``sequence_number`` (patched into its header)."""
        start = len(self._outbox)
        self._outbox += frame
        _SEQUENCE.pack_into(self._outbox, start + 12, sequence_number)

    @property
    def buffered(self) -> int:
        """Octets of a PDU received only in part."""
        return self._framer.buffered

    def data_to_send(self) -> bytes:
        data = bytes(self._outbox)
        self._outbox.clear()
        return data

    def receive(self, data: bytes) -> Iterator[Pdu | PeerError | FramingLost]:
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
                yield codec.decode(frame)
            except DecodeError as exc:
                if exc.command_id is None or not exc.command_id & 0x80000000:
                    self.send(error_response(exc))
                # A response we cannot read is not answered: answering responses loops.
                yield PeerError(exc.reason, exc.status, frame[:512].hex())


def is_throttling(status: int) -> bool:
    return status in (CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL)
