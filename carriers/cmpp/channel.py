"""The byte-level half shared by both CMPP sessions (the SP client and the simulated ISMG).

:class:`CmppFrames` is CMPP told to the shared :class:`~carriers.link.channel.PduChannel`: a
12-octet header with the Sequence_Id at offset 8, sequence numbers up to 0xFFFFFFFF, and how
an undecodable PDU is answered.  CMPP has no generic_nack, so (``carriers.cmpp.pdus.
error_response``) a request we know gets its own response carrying the codec's result (an
undecodable SUBMIT a SUBMIT_RESP, a DELIVER a DELIVER_RESP echoing its Msg_Id when that
much arrived, a CONNECT a CONNECT_RESP); an unknown Command_Id and any response get no answer
at all (answering responses loops).

The layout of SUBMIT and DELIVER depends on the protocol version, which on the ISMG's side
is only known once the CONNECT has been read: :attr:`CmppChannel.version` may change between
two frames of the same stream.  Pure: no sockets, no clock.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from carriers.cmpp import codec
from carriers.cmpp.pdus import HEADER_LENGTH, SEQUENCE_OFFSET, Pdu, error_response
from carriers.errors import DecodeError
from carriers.link.channel import FramingLost, PduChannel, PeerError

__all__ = ["MAX_SEQUENCE", "CmppChannel", "CmppFrames", "FramingLost", "PeerError"]

MAX_SEQUENCE = 0xFFFFFFFF
"""Sequence_Id is a 4-octet unsigned number that wraps (back to 1: 0 is left to templates)."""


class CmppFrames:
    """CMPP 2.0 / 3.0 as a :class:`~carriers.link.channel.FrameCodec`, for one connection.

    ``version`` picks the body layout of SUBMIT and DELIVER both ways.  One instance per
    channel: it remembers the frame it last failed to decode, so that the DELIVER_RESP answering
    an undecodable DELIVER can echo its Msg_Id (the channel hands over only the error).
    """

    header_length = HEADER_LENGTH
    sequence_offset = SEQUENCE_OFFSET
    max_sequence = MAX_SEQUENCE

    def __init__(self, version: int) -> None:
        codec.max_pdu_length(version)  # ValueError for a version that is neither 2.x nor 3.x
        self.version = version
        self._undecodable = b""

    def encode(self, pdu: Pdu) -> bytes:
        return codec.encode(pdu, self.version)

    def decode(self, frame: bytes) -> Pdu:
        try:
            return codec.decode(frame, self.version)
        except DecodeError:
            self._undecodable = frame
            raise

    def numbered(self, pdu: Any, sequence: int) -> Pdu:
        return replace(pdu, sequence_id=sequence)  # type: ignore[no-any-return]

    def answer_to_undecodable(self, error: DecodeError) -> Pdu | None:
        frame, self._undecodable = self._undecodable, b""
        return error_response(error, frame=frame, version=self.version)


class CmppChannel(PduChannel):
    """Frames, decodes and encodes CMPP PDUs for one connection.

    Frames up to the larger of the two versions' maximum lengths are taken whatever
    ``version`` says, so a peer that speaks the other layout gets answered decode errors
    rather than a dropped connection.
    """

    def __init__(self, version: int, *, max_pdu_length: int | None = None) -> None:
        self.frames = CmppFrames(version)
        super().__init__(self.frames, max_pdu_length=(
            codec.max_pdu_length(None) if max_pdu_length is None else max_pdu_length))

    @property
    def version(self) -> int:
        return self.frames.version

    @version.setter
    def version(self, version: int) -> None:
        """From the next frame on, read and write in ``version``'s layout."""
        codec.max_pdu_length(version)
        self.frames.version = version
