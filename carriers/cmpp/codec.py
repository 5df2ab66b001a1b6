"""CMPP 2.0 / 3.0 wire codec: ``decode(frame, version) -> Pdu`` and ``encode(pdu, version)``.

``version`` is the negotiated Version octet (``Version.V20`` / ``Version.V30``; 0x21 counts as
2.0): it picks the body layout of SUBMIT and DELIVER and the width of the response statuses.
A version whose major nibble is neither 2 nor 3 is a programming error (``ValueError``).

``decode`` takes one whole frame as cut by ``carriers.framing.LengthPrefixedFramer`` and either
returns a PDU from ``carriers.cmpp.pdus`` or raises ``DecodeError`` whose ``status`` is the CMPP
result to answer with (see ``carriers.cmpp.pdus.error_response``); no other exception escapes,
whatever the frame holds. Statuses: CONNECT faults give ``ConnectStatus`` 1 (2 for a
non-ASCII Source_Addr); other commands give 4 (bad length) for any length fault (Total_Length,
truncated body, Msg_Length), 1 (bad structure) for a value that breaks the structure
(DestUsr_tl 0 or over 99, a version octet that is not two decimal nibbles) and, for SUBMIT, the
field's own result for a non-ASCII field (7 Service_Id, 10 Src_Id, 11 Msg_src, 12
Fee_terminal_Id, 13 Dest_terminal_Id, 5 FeeType/FeeCode). An unknown Command_Id gives 2.

Octet-string fields are ASCII, left-aligned and padded with NULs on the right. Decoding cuts a
field at its first NUL (C peers may leave junk after the terminator); a non-ASCII octet before
it is a ``DecodeError``.

Tolerances, all deliberate: CONNECT_RESP, SUBMIT_RESP and DELIVER_RESP are decoded by their
length (30/33, 21/24, 21/24 octets: 1- or 4-octet status) whatever ``version`` says, because a
2.0-only ISMG answers a 3.0 CONNECT in its own layout and a lost SUBMIT_RESP means a duplicate
message; their two layouts cannot be confused. ``decode`` does not enforce ``MAX_PDU_LENGTH``:
that is the framer's job.

``encode`` validates as it goes and raises ``ValueError`` (``TypeError`` for a wrongly typed
field) naming the field, so a bad PDU never reaches the wire; that includes a frame longer than
``MAX_PDU_LENGTH`` of its version. 3.0-only fields are ignored by the 2.0 encoding.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from carriers.cmpp.pdus import (
    HEADER_LENGTH,
    ActiveTest,
    ActiveTestResp,
    CommandId,
    Connect,
    ConnectResp,
    ConnectStatus,
    Deliver,
    DeliverResp,
    Pdu,
    Submit,
    SubmitResp,
    SubmitResult,
    Terminate,
    TerminateResp,
    Version,
)
from carriers.errors import DecodeError

__all__ = ["MAX_PDU_LENGTH", "SubmitTemplate", "decode", "encode", "max_pdu_length"]

MAX_PDU_LENGTH: dict[int, int] = {Version.V20: 2477, Version.V30: 3335}
"""Largest frame, header included, by version (the values of the widely used gocmpp)."""

_HEADER = struct.Struct(">III")
_CONNECT = struct.Struct(">6s16sBI")  # Source_Addr, AuthenticatorSource, Version, Timestamp
_CONNECT_RESP_20 = struct.Struct(">B16sB")  # Status, AuthenticatorISMG, Version
_CONNECT_RESP_30 = struct.Struct(">I16sB")
_RESULT_20 = struct.Struct(">QB")  # Msg_Id, Result
_RESULT_30 = struct.Struct(">QI")
# SUBMIT up to and including DestUsr_tl.
_SUBMIT_HEAD_20 = struct.Struct(">QBBBB10sB21sBBB6s2s6s17s17s21sB")
_SUBMIT_HEAD_30 = struct.Struct(">QBBBB10sB32sBBBB6s2s6s17s17s21sB")
# DELIVER up to and including Msg_Length.
_DELIVER_HEAD_20 = struct.Struct(">Q21s10sBBB21sBB")
_DELIVER_HEAD_30 = struct.Struct(">Q21s10sBBB32sBBB")
_ONE_OCTET = struct.Struct(">B")
_TWO_OCTETS = struct.Struct(">BB")

_TERMINAL_20 = 21  # Fee_terminal_Id, Dest_terminal_Id, Src_terminal_Id in 2.0
_TERMINAL_30 = 32
_RESERVE_20 = 8  # the 2.0 Reserve that 3.0 turned into the 20-octet LinkID
_LINK_ID_30 = 20
_MAX_DESTINATIONS = 99
_MAX_CONTENT = 255
_AUTHENTICATOR = 16

# Plain ints: cheaper than enum attribute lookups.
_BAD_STRUCTURE = int(SubmitResult.BAD_STRUCTURE)
_BAD_COMMAND = int(SubmitResult.BAD_COMMAND)
_BAD_LENGTH = int(SubmitResult.BAD_LENGTH)
_BAD_FEE_CODE = int(SubmitResult.BAD_FEE_CODE)
_BAD_SERVICE_ID = int(SubmitResult.BAD_SERVICE_ID)
_BAD_SRC_ID = int(SubmitResult.BAD_SRC_ID)
_BAD_MSG_SRC = int(SubmitResult.BAD_MSG_SRC)
_BAD_FEE_TERMINAL_ID = int(SubmitResult.BAD_FEE_TERMINAL_ID)
_BAD_DEST_TERMINAL_ID = int(SubmitResult.BAD_DEST_TERMINAL_ID)
_CONNECT_BAD_STRUCTURE = int(ConnectStatus.BAD_STRUCTURE)
_CONNECT_BAD_SOURCE = int(ConnectStatus.BAD_SOURCE_ADDRESS)


def _is_v30(version: int) -> bool:
    """True for the 3.0 layout, False for 2.0; ``ValueError`` for any other version."""
    major = version >> 4
    if major == 3:
        return True
    if major == 2:
        return False
    raise ValueError(f"CMPP version 0x{version:02X} is not supported; use 0x20 (2.0) or 0x30 (3.0)")


def max_pdu_length(version: int | None) -> int:
    """``MAX_PDU_LENGTH`` for ``version`` (by major nibble), the larger one when it is ``None``."""
    if version is None:
        return max(MAX_PDU_LENGTH.values())
    return MAX_PDU_LENGTH[Version.V30 if _is_v30(version) else Version.V20]


def _is_version_octet(value: int) -> bool:
    """Whether ``value`` reads as major.minor: two decimal nibbles, not 0.0."""
    return value != 0 and value >> 4 <= 9 and value & 0x0F <= 9


# --- decoding ----------------------------------------------------------------------------------


class _Malformed(Exception):
    """Internal: a body fault; ``decode`` adds the header fields and turns it into DecodeError."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _text(raw: bytes, name: str, status: int) -> str:
    """An octet-string field: up to its first NUL, as ASCII."""
    field = raw.partition(b"\0")[0]
    try:
        return field.decode("ascii")
    except UnicodeDecodeError:
        raise _Malformed(status, f"{name} holds non-ASCII octets {field!r}") from None


def _body_size_fault(name: str, size: int, expected: str) -> _Malformed:
    return _Malformed(
        _BAD_LENGTH, f"{name} body is {size - HEADER_LENGTH} octets; it must be {expected}"
    )


_Decoder = Callable[[bytes, int, int, bool], Pdu]


def _header_only_decoder(cls: type[Pdu]) -> _Decoder:
    name = cls.command_id.name

    def decode_header_only(frame: bytes, size: int, sequence_id: int, v30: bool) -> Pdu:
        if size != HEADER_LENGTH:
            raise _body_size_fault(name, size, "empty")
        return cls(sequence_id=sequence_id)

    return decode_header_only


def _decode_active_test_resp(frame: bytes, size: int, sequence_id: int, v30: bool) -> Pdu:
    if size != HEADER_LENGTH + 1:
        raise _body_size_fault("ACTIVE_TEST_RESP", size, "1 octet (Reserved)")
    return ActiveTestResp(sequence_id=sequence_id, reserved=frame[HEADER_LENGTH])


def _decode_connect(frame: bytes, size: int, sequence_id: int, v30: bool) -> Pdu:
    if size != HEADER_LENGTH + _CONNECT.size:
        raise _Malformed(
            _CONNECT_BAD_STRUCTURE,
            f"CONNECT body is {size - HEADER_LENGTH} octets; it must be {_CONNECT.size}",
        )
    source_addr, authenticator, version, timestamp = _CONNECT.unpack_from(frame, HEADER_LENGTH)
    if not _is_version_octet(version):
        raise _Malformed(
            _CONNECT_BAD_STRUCTURE, f"CONNECT Version octet 0x{version:02X} is not a version"
        )
    return Connect(
        sequence_id=sequence_id,
        source_addr=_text(source_addr, "Source_Addr", _CONNECT_BAD_SOURCE),
        authenticator_source=authenticator,
        version=version,
        timestamp=timestamp,
    )


def _decode_connect_resp(frame: bytes, size: int, sequence_id: int, v30: bool) -> Pdu:
    body = size - HEADER_LENGTH
    if body == _CONNECT_RESP_30.size:
        layout = _CONNECT_RESP_30
    elif body == _CONNECT_RESP_20.size:
        layout = _CONNECT_RESP_20
    else:
        raise _body_size_fault("CONNECT_RESP", size, "18 (CMPP 2.0) or 21 (CMPP 3.0) octets")
    status, authenticator, version = layout.unpack_from(frame, HEADER_LENGTH)
    if not _is_version_octet(version):
        raise _Malformed(
            _BAD_STRUCTURE, f"CONNECT_RESP Version octet 0x{version:02X} is not a version"
        )
    return ConnectResp(
        sequence_id=sequence_id, status=status, authenticator_ismg=authenticator, version=version
    )


def _result_decoder(cls: type[SubmitResp | DeliverResp]) -> _Decoder:
    name = cls.command_id.name

    def decode_result(frame: bytes, size: int, sequence_id: int, v30: bool) -> Pdu:
        body = size - HEADER_LENGTH
        if body == _RESULT_30.size:
            msg_id, result = _RESULT_30.unpack_from(frame, HEADER_LENGTH)
        elif body == _RESULT_20.size:
            msg_id, result = _RESULT_20.unpack_from(frame, HEADER_LENGTH)
        else:
            raise _body_size_fault(name, size, "9 (CMPP 2.0) or 12 (CMPP 3.0) octets")
        return cls(sequence_id=sequence_id, msg_id=msg_id, result=result)

    return decode_result


def _decode_submit(frame: bytes, size: int, sequence_id: int, v30: bool) -> Pdu:
    pos = HEADER_LENGTH
    if v30:
        head = _SUBMIT_HEAD_30
        if size < pos + head.size:
            raise _Malformed(_BAD_LENGTH, "SUBMIT ends before DestUsr_tl")
        (
            msg_id,
            pk_total,
            pk_number,
            registered_delivery,
            msg_level,
            service_id,
            fee_user_type,
            fee_terminal_id,
            fee_terminal_type,
            tp_pid,
            tp_udhi,
            msg_fmt,
            msg_src,
            fee_type,
            fee_code,
            valid_time,
            at_time,
            src_id,
            count,
        ) = head.unpack_from(frame, pos)
        width = _TERMINAL_30
        tail = _LINK_ID_30
    else:
        head = _SUBMIT_HEAD_20
        if size < pos + head.size:
            raise _Malformed(_BAD_LENGTH, "SUBMIT ends before DestUsr_tl")
        (
            msg_id,
            pk_total,
            pk_number,
            registered_delivery,
            msg_level,
            service_id,
            fee_user_type,
            fee_terminal_id,
            tp_pid,
            tp_udhi,
            msg_fmt,
            msg_src,
            fee_type,
            fee_code,
            valid_time,
            at_time,
            src_id,
            count,
        ) = head.unpack_from(frame, pos)
        fee_terminal_type = 0
        width = _TERMINAL_20
        tail = _RESERVE_20
    if not 1 <= count <= _MAX_DESTINATIONS:
        raise _Malformed(
            _BAD_STRUCTURE, f"DestUsr_tl is {count}; it must be 1..{_MAX_DESTINATIONS}"
        )
    pos += head.size
    destinations_end = pos + count * width
    length_at = destinations_end + 1 if v30 else destinations_end  # after Dest_terminal_type
    if size <= length_at:
        raise _Malformed(
            _BAD_LENGTH, f"SUBMIT ends before the Msg_Length that follows {count} Dest_terminal_Id"
        )
    dest_terminal_ids = tuple(
        _text(frame[start : start + width], "Dest_terminal_Id", _BAD_DEST_TERMINAL_ID)
        for start in range(pos, destinations_end, width)
    )
    msg_length = frame[length_at]
    content_start = length_at + 1
    content_end = content_start + msg_length
    if content_end + tail != size:
        raise _Malformed(
            _BAD_LENGTH,
            f"Msg_Length {msg_length} disagrees with the body: "
            f"{size - content_start - tail} octets lie between Msg_Length and the "
            f"{'LinkID' if v30 else 'Reserve'}",
        )
    return Submit(
        sequence_id=sequence_id,
        msg_id=msg_id,
        pk_total=pk_total,
        pk_number=pk_number,
        registered_delivery=registered_delivery,
        msg_level=msg_level,
        service_id=_text(service_id, "Service_Id", _BAD_SERVICE_ID),
        fee_user_type=fee_user_type,
        fee_terminal_id=_text(fee_terminal_id, "Fee_terminal_Id", _BAD_FEE_TERMINAL_ID),
        fee_terminal_type=fee_terminal_type,
        tp_pid=tp_pid,
        tp_udhi=tp_udhi,
        msg_fmt=msg_fmt,
        msg_src=_text(msg_src, "Msg_src", _BAD_MSG_SRC),
        fee_type=_text(fee_type, "FeeType", _BAD_FEE_CODE),
        fee_code=_text(fee_code, "FeeCode", _BAD_FEE_CODE),
        valid_time=_text(valid_time, "ValId_Time", _BAD_STRUCTURE),
        at_time=_text(at_time, "At_Time", _BAD_STRUCTURE),
        src_id=_text(src_id, "Src_Id", _BAD_SRC_ID),
        dest_terminal_ids=dest_terminal_ids,
        dest_terminal_type=frame[destinations_end] if v30 else 0,
        msg_content=frame[content_start:content_end],
        link_id=_text(frame[content_end:size], "LinkID", _BAD_STRUCTURE) if v30 else "",
    )


def _decode_deliver(frame: bytes, size: int, sequence_id: int, v30: bool) -> Pdu:
    pos = HEADER_LENGTH
    if v30:
        head = _DELIVER_HEAD_30
        if size < pos + head.size:
            raise _Malformed(_BAD_LENGTH, "DELIVER ends before Msg_Length")
        (
            msg_id,
            dest_id,
            service_id,
            tp_pid,
            tp_udhi,
            msg_fmt,
            src_terminal_id,
            src_terminal_type,
            registered_delivery,
            msg_length,
        ) = head.unpack_from(frame, pos)
        tail = _LINK_ID_30
    else:
        head = _DELIVER_HEAD_20
        if size < pos + head.size:
            raise _Malformed(_BAD_LENGTH, "DELIVER ends before Msg_Length")
        (
            msg_id,
            dest_id,
            service_id,
            tp_pid,
            tp_udhi,
            msg_fmt,
            src_terminal_id,
            registered_delivery,
            msg_length,
        ) = head.unpack_from(frame, pos)
        src_terminal_type = 0
        tail = _RESERVE_20
    content_start = pos + head.size
    content_end = content_start + msg_length
    if content_end + tail != size:
        raise _Malformed(
            _BAD_LENGTH,
            f"Msg_Length {msg_length} disagrees with the body: "
            f"{size - content_start - tail} octets lie between Msg_Length and the "
            f"{'LinkID' if v30 else 'Reserved'}",
        )
    return Deliver(
        sequence_id=sequence_id,
        msg_id=msg_id,
        dest_id=_text(dest_id, "Dest_Id", _BAD_STRUCTURE),
        service_id=_text(service_id, "Service_Id", _BAD_SERVICE_ID),
        tp_pid=tp_pid,
        tp_udhi=tp_udhi,
        msg_fmt=msg_fmt,
        src_terminal_id=_text(src_terminal_id, "Src_terminal_Id", _BAD_STRUCTURE),
        src_terminal_type=src_terminal_type,
        registered_delivery=registered_delivery,
        msg_content=frame[content_start:content_end],
        link_id=_text(frame[content_end:size], "LinkID", _BAD_STRUCTURE) if v30 else "",
    )


_DECODERS: dict[int, _Decoder] = {
    int(CommandId.CONNECT): _decode_connect,
    int(CommandId.CONNECT_RESP): _decode_connect_resp,
    int(CommandId.TERMINATE): _header_only_decoder(Terminate),
    int(CommandId.TERMINATE_RESP): _header_only_decoder(TerminateResp),
    int(CommandId.SUBMIT): _decode_submit,
    int(CommandId.SUBMIT_RESP): _result_decoder(SubmitResp),
    int(CommandId.DELIVER): _decode_deliver,
    int(CommandId.DELIVER_RESP): _result_decoder(DeliverResp),
    int(CommandId.ACTIVE_TEST): _header_only_decoder(ActiveTest),
    int(CommandId.ACTIVE_TEST_RESP): _decode_active_test_resp,
}


def _length_status(command_id: int | None) -> int:
    """The status for a length fault. A CONNECT is answered in CONNECT_RESP, whose Status has
    no "bad length" (4 there means "version too high"), so it gets 1, bad structure."""
    return _CONNECT_BAD_STRUCTURE if command_id == CommandId.CONNECT else _BAD_LENGTH


def decode(frame: bytes | bytearray | memoryview, version: int) -> Pdu:
    """Decode one whole CMPP frame, header included, in the layout of ``version``.

    Raises ``DecodeError`` carrying the result to answer with (module docstring); nothing else
    escapes for any frame. ``ValueError`` only for an unsupported ``version`` argument.
    """
    v30 = _is_v30(version)
    if type(frame) is not bytes:
        frame = bytes(frame)
    size = len(frame)
    if size < HEADER_LENGTH:
        command_id = int.from_bytes(frame[4:8], "big") if size >= 8 else None
        raise DecodeError(
            f"frame of {size} octets is shorter than the {HEADER_LENGTH}-octet header",
            status=_length_status(command_id),
            command_id=command_id,
        )
    total_length, command_id, sequence_id = _HEADER.unpack_from(frame)
    if total_length != size:
        raise DecodeError(
            f"Total_Length {total_length} does not match the {size} octets received",
            status=_length_status(command_id),
            command_id=command_id,
            sequence_number=sequence_id,
        )
    decoder = _DECODERS.get(command_id)
    if decoder is None:
        raise DecodeError(
            f"Command_Id 0x{command_id:08X} is unknown or not supported",
            status=_BAD_COMMAND,
            command_id=command_id,
            sequence_number=sequence_id,
        )
    try:
        return decoder(frame, size, sequence_id, v30)
    except _Malformed as fault:
        raise DecodeError(
            fault.reason, status=fault.status, command_id=command_id, sequence_number=sequence_id
        ) from None
    except (IndexError, struct.error):  # a size check missed; never let it escape
        raise DecodeError(
            "body ends before its mandatory fields do",
            status=_length_status(command_id),
            command_id=command_id,
            sequence_number=sequence_id,
        ) from None


# --- encoding ----------------------------------------------------------------------------------


def _ascii(pdu: Pdu, name: str, value: Any, width: int) -> bytes:
    """An octet-string field's bytes, checked to fit ``width``; struct pads it with NULs."""
    where = f"{type(pdu).__name__}.{name}"
    if not isinstance(value, str):
        raise TypeError(f"{where} must be str, not {type(value).__name__}")
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"{where} {value!r} has non-ASCII characters") from None
    if len(raw) > width:
        raise ValueError(f"{where} {value!r} is {len(raw)} characters; the field holds {width}")
    if b"\0" in raw:
        raise ValueError(f"{where} {value!r} contains a NUL, which would end it early")
    return raw


def _octets(pdu: Pdu, name: str, value: Any, low: int, high: int) -> bytes:
    where = f"{type(pdu).__name__}.{name}"
    if not isinstance(value, bytes):
        raise TypeError(f"{where} must be bytes, not {type(value).__name__}")
    if not low <= len(value) <= high:
        wanted = f"exactly {low}" if low == high else f"at most {high}"
        raise ValueError(f"{where} is {len(value)} octets; it must be {wanted}")
    return value


def _frame(pdu: Pdu, body: bytes, v30: bool) -> bytes:
    size = HEADER_LENGTH + len(body)
    limit = MAX_PDU_LENGTH[Version.V30 if v30 else Version.V20]
    if size > limit:
        raise ValueError(
            f"{type(pdu).__name__} would be {size} octets, over the {limit}-octet CMPP "
            f"{'3.0' if v30 else '2.0'} maximum: fewer dest_terminal_ids or a shorter msg_content"
        )
    return _HEADER.pack(size, pdu.command_id, pdu.sequence_id) + body


def _check_version_octet(pdu: Connect | ConnectResp) -> None:
    version = pdu.version
    if isinstance(version, int) and 0 <= version <= 0xFF and not _is_version_octet(version):
        raise ValueError(
            f"{type(pdu).__name__}.version 0x{version:02X} is not a version octet "
            "(high nibble major, low nibble minor, both 0-9)"
        )


_Encoder = Callable[[Any, bool], bytes]


def _encode_header_only(pdu: Pdu, v30: bool) -> bytes:
    return _frame(pdu, b"", v30)


def _encode_active_test_resp(pdu: ActiveTestResp, v30: bool) -> bytes:
    return _frame(pdu, _ONE_OCTET.pack(pdu.reserved), v30)


def _encode_connect(pdu: Connect, v30: bool) -> bytes:
    _check_version_octet(pdu)
    body = _CONNECT.pack(
        _ascii(pdu, "source_addr", pdu.source_addr, 6),
        _octets(pdu, "authenticator_source", pdu.authenticator_source, 16, 16),
        pdu.version,
        pdu.timestamp,
    )
    return _frame(pdu, body, v30)


def _encode_connect_resp(pdu: ConnectResp, v30: bool) -> bytes:
    _check_version_octet(pdu)
    layout = _CONNECT_RESP_30 if v30 else _CONNECT_RESP_20
    authenticator = _octets(pdu, "authenticator_ismg", pdu.authenticator_ismg, 16, 16)
    return _frame(pdu, layout.pack(pdu.status, authenticator, pdu.version), v30)


def _encode_result(pdu: SubmitResp | DeliverResp, v30: bool) -> bytes:
    layout = _RESULT_30 if v30 else _RESULT_20
    return _frame(pdu, layout.pack(pdu.msg_id, pdu.result), v30)


def _encode_submit(pdu: Submit, v30: bool) -> bytes:
    destinations = pdu.dest_terminal_ids
    if not isinstance(destinations, tuple):
        raise TypeError(f"Submit.dest_terminal_ids must be a tuple, not {type(destinations)}")
    count = len(destinations)
    if not 1 <= count <= _MAX_DESTINATIONS:
        raise ValueError(
            f"Submit.dest_terminal_ids holds {count} numbers; CMPP allows 1..{_MAX_DESTINATIONS}"
        )
    content = _octets(pdu, "msg_content", pdu.msg_content, 0, _MAX_CONTENT)
    width = _TERMINAL_30 if v30 else _TERMINAL_20
    service_id = _ascii(pdu, "service_id", pdu.service_id, 10)
    fee_terminal_id = _ascii(pdu, "fee_terminal_id", pdu.fee_terminal_id, width)
    msg_src = _ascii(pdu, "msg_src", pdu.msg_src, 6)
    fee_type = _ascii(pdu, "fee_type", pdu.fee_type, 2)
    fee_code = _ascii(pdu, "fee_code", pdu.fee_code, 6)
    valid_time = _ascii(pdu, "valid_time", pdu.valid_time, 17)
    at_time = _ascii(pdu, "at_time", pdu.at_time, 17)
    src_id = _ascii(pdu, "src_id", pdu.src_id, 21)
    numbers = b"".join(
        _ascii(pdu, "dest_terminal_ids", number, width).ljust(width, b"\0")
        for number in destinations
    )
    if v30:
        head = _SUBMIT_HEAD_30.pack(
            pdu.msg_id,
            pdu.pk_total,
            pdu.pk_number,
            pdu.registered_delivery,
            pdu.msg_level,
            service_id,
            pdu.fee_user_type,
            fee_terminal_id,
            pdu.fee_terminal_type,
            pdu.tp_pid,
            pdu.tp_udhi,
            pdu.msg_fmt,
            msg_src,
            fee_type,
            fee_code,
            valid_time,
            at_time,
            src_id,
            count,
        )
        middle = _TWO_OCTETS.pack(pdu.dest_terminal_type, len(content))
        tail = _ascii(pdu, "link_id", pdu.link_id, _LINK_ID_30).ljust(_LINK_ID_30, b"\0")
    else:
        head = _SUBMIT_HEAD_20.pack(
            pdu.msg_id,
            pdu.pk_total,
            pdu.pk_number,
            pdu.registered_delivery,
            pdu.msg_level,
            service_id,
            pdu.fee_user_type,
            fee_terminal_id,
            pdu.tp_pid,
            pdu.tp_udhi,
            pdu.msg_fmt,
            msg_src,
            fee_type,
            fee_code,
            valid_time,
            at_time,
            src_id,
            count,
        )
        middle = _ONE_OCTET.pack(len(content))
        tail = bytes(_RESERVE_20)
    return _frame(pdu, b"".join((head, numbers, middle, content, tail)), v30)


def _encode_deliver(pdu: Deliver, v30: bool) -> bytes:
    content = _octets(pdu, "msg_content", pdu.msg_content, 0, _MAX_CONTENT)
    dest_id = _ascii(pdu, "dest_id", pdu.dest_id, 21)
    service_id = _ascii(pdu, "service_id", pdu.service_id, 10)
    if v30:
        head = _DELIVER_HEAD_30.pack(
            pdu.msg_id,
            dest_id,
            service_id,
            pdu.tp_pid,
            pdu.tp_udhi,
            pdu.msg_fmt,
            _ascii(pdu, "src_terminal_id", pdu.src_terminal_id, _TERMINAL_30),
            pdu.src_terminal_type,
            pdu.registered_delivery,
            len(content),
        )
        tail = _ascii(pdu, "link_id", pdu.link_id, _LINK_ID_30).ljust(_LINK_ID_30, b"\0")
    else:
        head = _DELIVER_HEAD_20.pack(
            pdu.msg_id,
            dest_id,
            service_id,
            pdu.tp_pid,
            pdu.tp_udhi,
            pdu.msg_fmt,
            _ascii(pdu, "src_terminal_id", pdu.src_terminal_id, _TERMINAL_20),
            pdu.registered_delivery,
            len(content),
        )
        tail = bytes(_RESERVE_20)
    return _frame(pdu, b"".join((head, content, tail)), v30)


_ENCODERS: dict[type, _Encoder] = {
    Connect: _encode_connect,
    ConnectResp: _encode_connect_resp,
    Terminate: _encode_header_only,
    TerminateResp: _encode_header_only,
    Submit: _encode_submit,
    SubmitResp: _encode_result,
    Deliver: _encode_deliver,
    DeliverResp: _encode_result,
    ActiveTest: _encode_header_only,
    ActiveTestResp: _encode_active_test_resp,
}


def encode(pdu: Pdu, version: int) -> bytes:
    """Encode ``pdu`` to wire bytes, header included, in the layout of ``version``.

    Raises ``ValueError`` naming the field when a value does not fit its wire slot (an
    octet string too long, non-ASCII or holding a NUL, an integer out of range for its width in
    this version, msg_content over 255 octets, no or over 99 destinations, a frame over
    ``MAX_PDU_LENGTH``), ``TypeError`` for a wrongly typed field or an object that is not a PDU
    of ``carriers.cmpp.pdus``.
    """
    v30 = _is_v30(version)
    encoder = _ENCODERS.get(type(pdu))
    if encoder is None:
        raise TypeError(f"cannot encode {type(pdu).__name__}: not a CMPP PDU class")
    try:
        return encoder(pdu, v30)
    except (struct.error, OverflowError) as exc:
        raise _invalid_integer(pdu, v30, exc) from None


# Width in octets of every integer field; the rest are 1 octet.
_INTEGER_WIDTHS: dict[str, int] = {"sequence_id": 4, "timestamp": 4, "msg_id": 8}
_STATUS_FIELDS = frozenset({"status", "result"})  # 1 octet in 2.0, 4 in 3.0
_NOT_INTEGERS = frozenset(
    {
        "source_addr",
        "authenticator_source",
        "authenticator_ismg",
        "service_id",
        "fee_terminal_id",
        "msg_src",
        "fee_type",
        "fee_code",
        "valid_time",
        "at_time",
        "src_id",
        "dest_terminal_ids",
        "msg_content",
        "link_id",
        "dest_id",
        "src_terminal_id",
    }
)


def _invalid_integer(pdu: Pdu, v30: bool, cause: Exception) -> Exception:
    """Find the integer field of ``pdu`` that ``struct`` refused and describe it."""
    cls_name = type(pdu).__name__
    for field in fields(pdu):
        name = field.name
        if name in _NOT_INTEGERS:
            continue
        value = getattr(pdu, name)
        octets = (4 if v30 else 1) if name in _STATUS_FIELDS else _INTEGER_WIDTHS.get(name, 1)
        limit = (1 << (8 * octets)) - 1
        if not isinstance(value, int):
            return TypeError(f"{cls_name}.{name} must be an int, not {type(value).__name__}")
        if not 0 <= value <= limit:
            return ValueError(
                f"{cls_name}.{name} is {value}; it must be within 0..{limit} "
                f"({octets} octet{'s' if octets > 1 else ''} in CMPP {'3.0' if v30 else '2.0'})"
            )
    return ValueError(f"cannot encode {cls_name}: {cause}")


# --- one message to many numbers --------------------------------------------------------------


class SubmitTemplate:
    """A one-destination SUBMIT encoded once, whose Dest_terminal_Id is filled in per recipient.

    A digest goes to a million numbers with the same bytes but the destination: splicing the
    number into the pre-encoded frame is much cheaper than encoding a whole PDU each time.
    The Sequence_Id is left 0 for the session to patch in at ``SEQUENCE_OFFSET``.
    """

    __slots__ = ("_prefix", "_suffix", "_width")

    def __init__(self, submit: Submit, version: int) -> None:
        if len(submit.dest_terminal_ids) != 1:
            raise ValueError(
                f"a SubmitTemplate needs a Submit with one destination, not "
                f"{len(submit.dest_terminal_ids)}"
            )
        frame = encode(replace(submit, sequence_id=0), version)
        if _is_v30(version):
            start = HEADER_LENGTH + _SUBMIT_HEAD_30.size
            self._width = _TERMINAL_30
        else:
            start = HEADER_LENGTH + _SUBMIT_HEAD_20.size
            self._width = _TERMINAL_20
        self._prefix = frame[:start]
        self._suffix = frame[start + self._width :]

    def frame(self, destination: str) -> bytes:
        """The whole SUBMIT to ``destination`` (ASCII, up to 21 / 32 octets), Sequence_Id 0."""
        try:
            number = destination.encode("ascii")
        except (UnicodeEncodeError, AttributeError):
            raise ValueError(f"Dest_terminal_Id {destination!r} must be an ASCII str") from None
        width = self._width
        if len(number) > width or b"\0" in number:
            raise ValueError(f"Dest_terminal_Id {destination!r}: at most {width} octets, no NUL")
        return b"".join((self._prefix, number, bytes(width - len(number)), self._suffix))
