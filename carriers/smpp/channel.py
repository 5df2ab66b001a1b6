"""The byte-level half shared by both SMPP sessions (ESME and SMSC).

:class:`SmppChannel` is the shared :class:`~carriers.link.channel.PduChannel` told SMPP's
header (16 octets, sequence number at offset 12) and how an undecodable PDU is answered
(its own response or a generic_nack carrying the codec's status; a response is never
answered).  Pure: no sockets, no clock.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from carriers.errors import DecodeError
from carriers.link.channel import FramingLost, PduChannel, PeerError
from carriers.smpp import codec
from carriers.smpp.pdus import CommandStatus, Pdu, error_response

__all__ = ["MAX_PDU_LENGTH", "FramingLost", "PeerError", "SmppChannel", "is_throttling"]

HEADER_LENGTH = codec.HEADER_LENGTH
MAX_PDU_LENGTH = 70_000
"""Large enough for a 64 KiB message_payload, small enough to refuse garbage early."""
MAX_SEQUENCE = 0x7FFFFFFF


class SmppFrames:
    """SMPP 3.4 as a :class:`~carriers.link.channel.FrameCodec`."""

    header_length = HEADER_LENGTH
    sequence_offset = 12
    max_sequence = MAX_SEQUENCE

    def encode(self, pdu: Pdu) -> bytes:
        return codec.encode(pdu)

    def decode(self, frame: bytes) -> Pdu:
        return codec.decode(frame)

    def numbered(self, pdu: Any, sequence: int) -> Pdu:
        return replace(pdu, sequence_number=sequence)  # type: ignore[no-any-return]

    def answer_to_undecodable(self, error: DecodeError) -> Pdu | None:
        if error.command_id is not None and error.command_id & 0x80000000:
            return None  # a response we cannot read is not answered: answering responses loops
        return error_response(error)


SMPP_FRAMES = SmppFrames()


class SmppChannel(PduChannel):
    """Frames, decodes and encodes SMPP PDUs for one connection."""

    def __init__(self, *, max_pdu_length: int = MAX_PDU_LENGTH) -> None:
        super().__init__(SMPP_FRAMES, max_pdu_length=max_pdu_length)


def is_throttling(status: int) -> bool:
    return status in (CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL)
