"""The byte-level half shared by both SMGP sessions (the SP client and the simulated ISMG).

:class:`SmgpFrames` is SMGP told to the shared :class:`~carriers.link.channel.PduChannel`: a
12-octet header with the SequenceID at offset 8, sequence numbers up to 0xFFFFFFFF, and how
an undecodable PDU is answered (``carriers.smgp.pdus.error_response``: a request we know gets
its own response carrying the codec's Status, a Deliver_Resp echoing the Deliver's MsgID when
that much arrived; an unknown RequestID and any response get no answer). Pure.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from carriers.errors import DecodeError
from carriers.link.channel import FramingLost, PduChannel, PeerError
from carriers.smgp import codec
from carriers.smgp.pdus import HEADER_LENGTH, SEQUENCE_OFFSET, Pdu, error_response

__all__ = ["MAX_SEQUENCE", "FramingLost", "PeerError", "SmgpChannel", "SmgpFrames"]

MAX_SEQUENCE = 0xFFFFFFFF
"""SequenceID is a 4-octet unsigned number that wraps (back to 1: 0 is left to templates)."""


class SmgpFrames:
    """SMGP 3.0 as a :class:`~carriers.link.channel.FrameCodec`, for one connection.

    It remembers the frame it last failed to decode, so that the Deliver_Resp answering an
    undecodable Deliver can echo its MsgID (the channel hands over only the error).
    """

    header_length = HEADER_LENGTH
    sequence_offset = SEQUENCE_OFFSET
    max_sequence = MAX_SEQUENCE

    def __init__(self) -> None:
        self._undecodable = b""

    def encode(self, pdu: Pdu) -> bytes:
        return codec.encode(pdu)

    def decode(self, frame: bytes) -> Pdu:
        try:
            return codec.decode(frame)
        except DecodeError:
            self._undecodable = frame
            raise

    def numbered(self, pdu: Any, sequence: int) -> Pdu:
        return replace(pdu, sequence_id=sequence)  # type: ignore[no-any-return]

    def answer_to_undecodable(self, error: DecodeError) -> Pdu | None:
        frame, self._undecodable = self._undecodable, b""
        return error_response(error, frame=frame)


class SmgpChannel(PduChannel):
    """Frames, decodes and encodes SMGP PDUs for one connection."""

    def __init__(self, *, max_pdu_length: int = codec.MAX_PDU_LENGTH) -> None:
        super().__init__(SmgpFrames(), max_pdu_length=max_pdu_length)
