"""Errors raised by the carrier wire codecs and framers.

``ProtocolError`` is the root, and it derives from ``Exception`` alone on purpose: ``carriers/``
is the layer below ``gateway/`` and never imports it, and these errors never reach a user.  The
link's :class:`~carriers.link.channel.PduChannel` turns them into a ``PeerError`` (answered, the
link carries on) or ``FramingLost`` (the connection is closed); they are not part of
``gateway.errors``.

A transport that catches ``FramingError`` has lost the frame boundaries and must close the link.
A transport that catches ``DecodeError`` still has intact framing and can answer the peer with
``status`` (a protocol result code) and carry on.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """The peer sent bytes that break the wire protocol."""


class FramingError(ProtocolError):
    """A length prefix is outside the allowed range; the byte stream can no longer be framed.

    ``length`` is the length the peer declared. Close the connection: there is no way to find the
    start of the next frame.
    """

    def __init__(self, length: int, min_length: int, max_length: int) -> None:
        super().__init__(
            f"declared frame length {length} is outside {min_length}..{max_length}; "
            "framing is lost, close the connection"
        )
        self.length = length
        self.min_length = min_length
        self.max_length = max_length


class DecodeError(ProtocolError):
    """A well-framed PDU could not be decoded.

    ``status`` is the protocol result code to answer with (for SMPP a ``command_status`` such as
    ``ESME_RINVCMDLEN``). ``command_id`` and ``sequence_number`` are ``None`` when the header itself
    was unreadable. ``reason`` says in plain words what was wrong.
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int,
        command_id: int | None = None,
        sequence_number: int | None = None,
    ) -> None:
        super().__init__(f"{reason} (status 0x{status:02X})")
        self.reason = reason
        self.status = status
        self.command_id = command_id
        self.sequence_number = sequence_number
