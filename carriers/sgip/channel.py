"""The byte-level half shared by every SGIP session (the SP's client, the SP's listener and
the simulated SMG). Pure: no sockets, no clock.

:class:`SgipFrames` is SGIP told to the shared :class:`~carriers.link.channel.PduChannel`: a
20-octet header, and how an undecodable PDU is answered (``carriers.sgip.pdus.
error_response``: a request we know gets its own response carrying the codec's Result; an
unknown Command ID and any response get no answer).

**The 12-octet Sequence Number.** The shared channel numbers requests with an ``int`` and
patches 4 octets into an encoded frame; SGIP's number is three words stamped with the wall
time (protocols.md §3.1). :class:`SgipChannel` keeps the shared interface and changes what the
``int`` is: the 96-bit key of the whole Sequence Number
(:meth:`~carriers.sgip.sequence.SequenceNumber.key`), made by the session's
:class:`~carriers.sgip.sequence.SequenceGenerator` with the time the session last gave
:meth:`SgipChannel.stamp`. ``send_encoded`` writes all 12 octets, so the shared
:class:`~carriers.link.flow.FlowControl` keys what is in flight by the whole number, and a
response is matched on all three words.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from carriers.errors import DecodeError
from carriers.link.channel import FramingLost, PduChannel, PeerError
from carriers.sgip import codec
from carriers.sgip.pdus import HEADER_LENGTH, SEQUENCE_OFFSET, Pdu, error_response
from carriers.sgip.sequence import SEQUENCE_LENGTH, SequenceGenerator, SequenceNumber

__all__ = ["FramingLost", "PeerError", "SgipChannel", "SgipFrames"]


class SgipFrames:
    """SGIP 1.2 as a :class:`~carriers.link.channel.FrameCodec`."""

    header_length = HEADER_LENGTH
    sequence_offset = SEQUENCE_OFFSET
    max_sequence = (1 << 96) - 1
    """Not used: :class:`SgipChannel` makes its own numbers."""

    def encode(self, pdu: Pdu) -> bytes:
        return codec.encode(pdu)

    def decode(self, frame: bytes) -> Pdu:
        return codec.decode(frame)

    def numbered(self, pdu: Any, sequence: int) -> Pdu:
        return replace(pdu, sequence=SequenceNumber.from_key(sequence))  # type: ignore[no-any-return]

    def answer_to_undecodable(self, error: DecodeError) -> Pdu | None:
        return error_response(error)


class SgipChannel(PduChannel):
    """Frames, decodes and encodes SGIP PDUs for one connection, numbering requests with
    ``numbers`` (which outlives the connection) at the last :meth:`stamp`."""

    def __init__(self, numbers: SequenceGenerator, *,
                 max_pdu_length: int = codec.MAX_PDU_LENGTH) -> None:
        super().__init__(SgipFrames(), max_pdu_length=max_pdu_length)
        self.numbers = numbers
        self.timestamp = 0
        """MMDDHHMMSS of the requests numbered next."""

    def stamp(self, timestamp: int) -> None:
        """Number the next requests with ``timestamp`` (MMDDHHMMSS, the node's wall time)."""
        self.timestamp = timestamp

    def next_sequence(self) -> int:
        return self.numbers.next(self.timestamp).key()

    def send_encoded(self, frame: bytes, sequence_number: int) -> None:
        """Queue an encoded request with the whole Sequence Number ``sequence_number`` (a key)
        written into its header."""
        sequence = SequenceNumber.from_key(sequence_number).packed()
        end = SEQUENCE_OFFSET + SEQUENCE_LENGTH
        self.send_raw(b"".join((frame[:SEQUENCE_OFFSET], sequence, frame[end:])))
