"""SMGP 3.0 wire codec: ``decode(frame) -> Pdu`` and ``encode(pdu) -> bytes``. Pure.

Layouts are docs/protocols.md §4: the 12-octet header (§4.1), Login / Login_Resp (§4.3),
Submit (§4.4, with FixedFee: the 3.0 layout), Deliver (§4.5), Submit_Resp / Deliver_Resp
(MsgID 10 | Status 4), Active_Test, Exit and their responses (header only), and the optional
TLVs after Submit's and Deliver's mandatory part (Tag 2 | Length 2 | Value, §4.7).

``decode`` takes one whole frame as cut by ``carriers.framing.LengthPrefixedFramer`` and either
returns a PDU of ``carriers.smgp.pdus`` or raises ``DecodeError`` whose ``status`` is the §4.8
Status to answer with (``carriers.smgp.pdus.error_response``); nothing else escapes, whatever
the frame holds. Statuses: 11 (bad command word) for an unknown RequestID; 36 (bad MsgLength)
when MsgLength runs past the body; 10 (bad structure) for every other length fault
(PacketLength, a truncated body, a TLV running past the end or a typed TLV of the wrong size,
DestTermIDCount 0 or over 100); and a field's own code for a non-ASCII field (43 ServiceID,
32 FeeType, 33 FeeCode, 40 FixedFee, 44 ValidTime, 45 AtTime, 46 SrcTermID, 47 DestTermID,
48 ChargeTermID; 10 for the rest).

Octet-string fields are ASCII, left-aligned, NUL-padded. Decoding cuts a field at its first
NUL (C peers leave junk after the terminator). ``decode`` does not enforce ``MAX_PDU_LENGTH``:
that is the framer's job.

``encode`` validates as it goes and raises ``ValueError`` (``TypeError`` for a wrongly typed
field) naming the field, so a bad PDU never reaches the wire.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from carriers.errors import DecodeError
from carriers.smgp.pdus import (
    HEADER_LENGTH,
    MSG_ID_LENGTH,
    ActiveTest,
    ActiveTestResp,
    Deliver,
    DeliverResp,
    Exit,
    ExitResp,
    Login,
    LoginResp,
    Pdu,
    RequestId,
    Status,
    Submit,
    SubmitResp,
    Tag,
    Tlv,
)

__all__ = ["DESTINATION_OFFSET", "MAX_DESTINATIONS", "MAX_PDU_LENGTH", "SubmitTemplate",
           "decode", "encode"]

MAX_PDU_LENGTH = 4096
"""Largest frame taken or written, header included: a Submit to 100 numbers with 255 octets
of content is 2481 octets before its TLVs; §4 names no maximum, so this leaves room for them."""
MAX_DESTINATIONS = 100
"""DestTermIDCount ≤ 100 (§4.4)."""

_HEADER = struct.Struct(">III")
_LOGIN = struct.Struct(">8s16sBIB")  # ClientID, AuthenticatorClient, LoginMode, TimeStamp, Version
_LOGIN_RESP = struct.Struct(">I16sB")  # Status, AuthenticatorServer, ServerVersion
_RESULT = struct.Struct(">10sI")  # MsgID, Status
# Submit up to and including DestTermIDCount (105 octets).
_SUBMIT_HEAD = struct.Struct(">BBB10s2s6s6sB17s17s21s21sB")
# Deliver up to and including MsgLength (69 octets).
_DELIVER_HEAD = struct.Struct(">10sBB14s21s21sB")
_TLV_HEAD = struct.Struct(">HH")
_TERMINAL = 21
_RESERVE = 8
_MAX_CONTENT = 255
_LINK_ID = 20
_MSG_SRC = 8

DESTINATION_OFFSET = HEADER_LENGTH + _SUBMIT_HEAD.size
"""Where the first DestTermID starts in an encoded Submit."""

# Typed TLVs: tag -> (field name, value size, kind) where kind is "int" (1 octet) or "text".
_TYPED_TLVS: dict[int, tuple[str, int, str]] = {
    Tag.TP_PID: ("tp_pid", 1, "int"),
    Tag.TP_UDHI: ("tp_udhi", 1, "int"),
    Tag.LINK_ID: ("link_id", _LINK_ID, "text"),
    Tag.PK_TOTAL: ("pk_total", 1, "int"),
    Tag.PK_NUMBER: ("pk_number", 1, "int"),
    Tag.MSG_SRC: ("msg_src", _MSG_SRC, "text"),
}


class _Malformed(Exception):
    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


# --- decoding ----------------------------------------------------------------------------------


def _text(raw: bytes, name: str, status: int) -> str:
    field = raw.partition(b"\0")[0]
    try:
        return field.decode("ascii")
    except UnicodeDecodeError:
        raise _Malformed(f"{name} holds non-ASCII octets {field[:32]!r}", status) from None


def _need(size: int, wanted: int, what: str) -> None:
    if size < wanted:
        raise _Malformed(f"{what} needs {wanted} octets, the frame has {size}",
                         Status.BAD_STRUCTURE)


def _exact(size: int, wanted: int, what: str) -> None:
    if size != wanted:
        raise _Malformed(f"{what} is {wanted} octets, the frame has {size}",
                         Status.BAD_STRUCTURE)


_Decoder = Callable[[bytes, int, int], Pdu]


def _header_only(cls: type[Pdu]) -> _Decoder:
    def decode_header_only(frame: bytes, size: int, sequence_id: int) -> Pdu:
        _exact(size, HEADER_LENGTH, cls.__name__)
        return cls(sequence_id=sequence_id)

    return decode_header_only


def _decode_login(frame: bytes, size: int, sequence_id: int) -> Login:
    _exact(size, HEADER_LENGTH + _LOGIN.size, "Login")
    client_id, authenticator, mode, timestamp, version = _LOGIN.unpack_from(frame, HEADER_LENGTH)
    return Login(sequence_id=sequence_id,
                 client_id=_text(client_id, "ClientID", Status.BAD_STRUCTURE),
                 authenticator_client=authenticator, login_mode=mode, timestamp=timestamp,
                 client_version=version)


def _decode_login_resp(frame: bytes, size: int, sequence_id: int) -> LoginResp:
    _exact(size, HEADER_LENGTH + _LOGIN_RESP.size, "Login_Resp")
    status, authenticator, version = _LOGIN_RESP.unpack_from(frame, HEADER_LENGTH)
    return LoginResp(sequence_id=sequence_id, status=status, authenticator_server=authenticator,
                     server_version=version)


def _result_decoder(cls: type[SubmitResp] | type[DeliverResp]) -> _Decoder:
    def decode_result(frame: bytes, size: int, sequence_id: int) -> Pdu:
        _exact(size, HEADER_LENGTH + _RESULT.size, cls.__name__)
        msg_id, status = _RESULT.unpack_from(frame, HEADER_LENGTH)
        return cls(sequence_id=sequence_id, msg_id=msg_id, status=status)

    return decode_result


def _decode_tlvs(frame: bytes, offset: int, size: int) -> dict[str, Any]:
    """The typed TLV fields plus ``tlvs`` (every other one, in order) from ``offset`` on."""
    found: dict[str, Any] = {}
    others: list[Tlv] = []
    while offset < size:
        _need(size - offset, _TLV_HEAD.size, "a TLV header")
        tag, length = _TLV_HEAD.unpack_from(frame, offset)
        offset += _TLV_HEAD.size
        if length > size - offset:
            raise _Malformed(f"TLV 0x{tag:04X} of {length} octets runs past the frame",
                             Status.BAD_STRUCTURE)
        value = frame[offset:offset + length]
        offset += length
        typed = _TYPED_TLVS.get(tag)
        if typed is None:
            others.append(Tlv(tag, value))
            continue
        name, width, kind = typed
        if name in found:
            raise _Malformed(f"TLV 0x{tag:04X} ({name}) appears twice", Status.BAD_STRUCTURE)
        if kind == "int":
            if length != width:
                raise _Malformed(f"TLV 0x{tag:04X} ({name}) is {length} octets, not {width}",
                                 Status.BAD_STRUCTURE)
            found[name] = value[0]
        else:
            if length > width:
                raise _Malformed(f"TLV 0x{tag:04X} ({name}) is {length} octets, over {width}",
                                 Status.BAD_STRUCTURE)
            found[name] = _text(value, name, Status.BAD_STRUCTURE)
    found["tlvs"] = tuple(others)
    return found


def _decode_submit(frame: bytes, size: int, sequence_id: int) -> Submit:
    offset = HEADER_LENGTH + _SUBMIT_HEAD.size
    _need(size, offset, "Submit up to DestTermIDCount")
    (msg_type, need_report, priority, service_id, fee_type, fee_code, fixed_fee, msg_format,
     valid_time, at_time, src_term_id, charge_term_id, count) = _SUBMIT_HEAD.unpack_from(
        frame, HEADER_LENGTH)
    if not 1 <= count <= MAX_DESTINATIONS:
        raise _Malformed(f"DestTermIDCount {count} is outside 1..{MAX_DESTINATIONS}",
                         Status.BAD_STRUCTURE)
    numbers_end = offset + _TERMINAL * count
    _need(size, numbers_end + 1, f"Submit with {count} DestTermIDs")
    dest_term_ids = tuple(
        _text(frame[start:start + _TERMINAL], "DestTermID", Status.BAD_DEST_TERM_ID)
        for start in range(offset, numbers_end, _TERMINAL))
    msg_length = frame[numbers_end]
    content_start = numbers_end + 1
    content_end = content_start + msg_length
    if content_end + _RESERVE > size:
        raise _Malformed(f"MsgLength {msg_length} runs past the body", Status.BAD_MSG_LENGTH)
    return Submit(
        sequence_id=sequence_id, msg_type=msg_type, need_report=need_report, priority=priority,
        service_id=_text(service_id, "ServiceID", Status.BAD_SERVICE_ID),
        fee_type=_text(fee_type, "FeeType", Status.BAD_FEE_TYPE),
        fee_code=_text(fee_code, "FeeCode", Status.BAD_FEE_CODE),
        fixed_fee=_text(fixed_fee, "FixedFee", Status.BAD_FIXED_FEE),
        msg_format=msg_format,
        valid_time=_text(valid_time, "ValidTime", Status.BAD_VALID_TIME),
        at_time=_text(at_time, "AtTime", Status.BAD_AT_TIME),
        src_term_id=_text(src_term_id, "SrcTermID", Status.BAD_SRC_TERM_ID),
        charge_term_id=_text(charge_term_id, "ChargeTermID", Status.BAD_CHARGE_TERM_ID),
        dest_term_ids=dest_term_ids,
        msg_content=frame[content_start:content_end],
        reserve=frame[content_end:content_end + _RESERVE],
        **_decode_tlvs(frame, content_end + _RESERVE, size),
    )


def _decode_deliver(frame: bytes, size: int, sequence_id: int) -> Deliver:
    offset = HEADER_LENGTH + _DELIVER_HEAD.size
    _need(size, offset, "Deliver up to MsgLength")
    msg_id, is_report, msg_format, recv_time, src, dest, msg_length = (
        _DELIVER_HEAD.unpack_from(frame, HEADER_LENGTH))
    content_end = offset + msg_length
    if content_end + _RESERVE > size:
        raise _Malformed(f"MsgLength {msg_length} runs past the body", Status.BAD_MSG_LENGTH)
    return Deliver(
        sequence_id=sequence_id, msg_id=msg_id, is_report=is_report, msg_format=msg_format,
        recv_time=_text(recv_time, "RecvTime", Status.BAD_TIME_FORMAT),
        src_term_id=_text(src, "SrcTermID", Status.BAD_SRC_TERM_ID),
        dest_term_id=_text(dest, "DestTermID", Status.BAD_DEST_TERM_ID),
        msg_content=frame[offset:content_end],
        reserve=frame[content_end:content_end + _RESERVE],
        **_decode_tlvs(frame, content_end + _RESERVE, size),
    )


_DECODERS: dict[int, _Decoder] = {
    RequestId.LOGIN: _decode_login,
    RequestId.LOGIN_RESP: _decode_login_resp,
    RequestId.SUBMIT: _decode_submit,
    RequestId.SUBMIT_RESP: _result_decoder(SubmitResp),
    RequestId.DELIVER: _decode_deliver,
    RequestId.DELIVER_RESP: _result_decoder(DeliverResp),
    RequestId.ACTIVE_TEST: _header_only(ActiveTest),
    RequestId.ACTIVE_TEST_RESP: _header_only(ActiveTestResp),
    RequestId.EXIT: _header_only(Exit),
    RequestId.EXIT_RESP: _header_only(ExitResp),
}


def decode(frame: bytes | bytearray | memoryview) -> Pdu:
    """Decode one whole SMGP frame, header included.

    Raises ``DecodeError`` carrying the Status to answer with (module docstring); nothing else
    escapes for any frame.
    """
    if type(frame) is not bytes:
        frame = bytes(frame)
    size = len(frame)
    if size < HEADER_LENGTH:
        request_id = int.from_bytes(frame[4:8], "big") if size >= 8 else None
        raise DecodeError(
            f"frame of {size} octets is shorter than the {HEADER_LENGTH}-octet header",
            status=Status.BAD_STRUCTURE, command_id=request_id)
    packet_length, request_id, sequence_id = _HEADER.unpack_from(frame)
    if packet_length != size:
        raise DecodeError(
            f"PacketLength {packet_length} does not match the {size} octets received",
            status=Status.BAD_STRUCTURE, command_id=request_id, sequence_number=sequence_id)
    decoder = _DECODERS.get(request_id)
    if decoder is None:
        raise DecodeError(f"RequestID 0x{request_id:08X} is unknown or not supported",
                          status=Status.BAD_COMMAND, command_id=request_id,
                          sequence_number=sequence_id)
    try:
        return decoder(frame, size, sequence_id)
    except _Malformed as fault:
        raise DecodeError(fault.reason, status=fault.status, command_id=request_id,
                          sequence_number=sequence_id) from None
    except (IndexError, struct.error):  # a size check missed; never let it escape
        raise DecodeError("body ends before its mandatory fields do",
                          status=Status.BAD_STRUCTURE, command_id=request_id,
                          sequence_number=sequence_id) from None


# --- encoding ----------------------------------------------------------------------------------


def _ascii(pdu: Pdu, name: str, value: Any, width: int) -> bytes:
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


def _integer(pdu: Pdu, name: str, value: Any, octets: int) -> int:
    where = f"{type(pdu).__name__}.{name}"
    if type(value) is not int and not isinstance(value, int):
        raise TypeError(f"{where} must be an int, not {type(value).__name__}")
    limit = (1 << (8 * octets)) - 1
    if not 0 <= value <= limit:
        raise ValueError(f"{where} is {value}; it must be within 0..{limit}")
    return int(value)


def _frame(pdu: Pdu, body: bytes) -> bytes:
    size = HEADER_LENGTH + len(body)
    if size > MAX_PDU_LENGTH:
        raise ValueError(f"{type(pdu).__name__} would be {size} octets, over the "
                         f"{MAX_PDU_LENGTH}-octet maximum")
    sequence_id = _integer(pdu, "sequence_id", pdu.sequence_id, 4)
    return _HEADER.pack(size, pdu.request_id, sequence_id) + body


def _encode_tlvs(pdu: Submit | Deliver) -> bytes:
    out = bytearray()
    for tag, (name, width, kind) in _TYPED_TLVS.items():
        value = getattr(pdu, name)
        if value is None:
            continue
        raw = (bytes((_integer(pdu, name, value, 1),)) if kind == "int"
               else _ascii(pdu, name, value, width).ljust(width, b"\0"))
        out += _TLV_HEAD.pack(tag, len(raw)) + raw
    if not isinstance(pdu.tlvs, tuple):
        raise TypeError(f"{type(pdu).__name__}.tlvs must be a tuple of Tlv")
    for tlv in pdu.tlvs:
        if not isinstance(tlv, Tlv):
            raise TypeError(f"{type(pdu).__name__}.tlvs holds {type(tlv).__name__}, not Tlv")
        if tlv.tag in _TYPED_TLVS:
            name = _TYPED_TLVS[tlv.tag][0]
            raise ValueError(f"{type(pdu).__name__}.tlvs holds tag 0x{tlv.tag:04X}; "
                             f"set the {name} field instead")
        tag = _integer(pdu, "tlvs tag", tlv.tag, 2)
        value = _octets(pdu, f"tlvs 0x{tag:04X}", tlv.value, 0, 0xFFFF)
        out += _TLV_HEAD.pack(tag, len(value)) + value
    return bytes(out)


_Encoder = Callable[[Any], bytes]


def _encode_header_only(pdu: Pdu) -> bytes:
    return _frame(pdu, b"")


def _encode_login(pdu: Login) -> bytes:
    return _frame(pdu, _LOGIN.pack(
        _ascii(pdu, "client_id", pdu.client_id, 8),
        _octets(pdu, "authenticator_client", pdu.authenticator_client, 16, 16),
        _integer(pdu, "login_mode", pdu.login_mode, 1),
        _integer(pdu, "timestamp", pdu.timestamp, 4),
        _integer(pdu, "client_version", pdu.client_version, 1),
    ))


def _encode_login_resp(pdu: LoginResp) -> bytes:
    return _frame(pdu, _LOGIN_RESP.pack(
        _integer(pdu, "status", pdu.status, 4),
        _octets(pdu, "authenticator_server", pdu.authenticator_server, 16, 16),
        _integer(pdu, "server_version", pdu.server_version, 1),
    ))


def _encode_result(pdu: SubmitResp | DeliverResp) -> bytes:
    return _frame(pdu, _RESULT.pack(
        _octets(pdu, "msg_id", pdu.msg_id, MSG_ID_LENGTH, MSG_ID_LENGTH),
        _integer(pdu, "status", pdu.status, 4),
    ))


def _encode_submit(pdu: Submit) -> bytes:
    destinations = pdu.dest_term_ids
    if not isinstance(destinations, tuple):
        raise TypeError(f"Submit.dest_term_ids must be a tuple, not {type(destinations)}")
    count = len(destinations)
    if not 1 <= count <= MAX_DESTINATIONS:
        raise ValueError(f"Submit.dest_term_ids holds {count} numbers; SMGP allows "
                         f"1..{MAX_DESTINATIONS}")
    content = _octets(pdu, "msg_content", pdu.msg_content, 0, _MAX_CONTENT)
    head = _SUBMIT_HEAD.pack(
        _integer(pdu, "msg_type", pdu.msg_type, 1),
        _integer(pdu, "need_report", pdu.need_report, 1),
        _integer(pdu, "priority", pdu.priority, 1),
        _ascii(pdu, "service_id", pdu.service_id, 10),
        _ascii(pdu, "fee_type", pdu.fee_type, 2),
        _ascii(pdu, "fee_code", pdu.fee_code, 6),
        _ascii(pdu, "fixed_fee", pdu.fixed_fee, 6),
        _integer(pdu, "msg_format", pdu.msg_format, 1),
        _ascii(pdu, "valid_time", pdu.valid_time, 17),
        _ascii(pdu, "at_time", pdu.at_time, 17),
        _ascii(pdu, "src_term_id", pdu.src_term_id, _TERMINAL),
        _ascii(pdu, "charge_term_id", pdu.charge_term_id, _TERMINAL),
        count,
    )
    numbers = b"".join(_ascii(pdu, "dest_term_ids", number, _TERMINAL).ljust(_TERMINAL, b"\0")
                       for number in destinations)
    reserve = _octets(pdu, "reserve", pdu.reserve, _RESERVE, _RESERVE)
    return _frame(pdu, b"".join((head, numbers, bytes((len(content),)), content, reserve,
                                 _encode_tlvs(pdu))))


def _encode_deliver(pdu: Deliver) -> bytes:
    content = _octets(pdu, "msg_content", pdu.msg_content, 0, _MAX_CONTENT)
    head = _DELIVER_HEAD.pack(
        _octets(pdu, "msg_id", pdu.msg_id, MSG_ID_LENGTH, MSG_ID_LENGTH),
        _integer(pdu, "is_report", pdu.is_report, 1),
        _integer(pdu, "msg_format", pdu.msg_format, 1),
        _ascii(pdu, "recv_time", pdu.recv_time, 14),
        _ascii(pdu, "src_term_id", pdu.src_term_id, _TERMINAL),
        _ascii(pdu, "dest_term_id", pdu.dest_term_id, _TERMINAL),
        len(content),
    )
    reserve = _octets(pdu, "reserve", pdu.reserve, _RESERVE, _RESERVE)
    return _frame(pdu, b"".join((head, content, reserve, _encode_tlvs(pdu))))


_ENCODERS: dict[type, _Encoder] = {
    Login: _encode_login,
    LoginResp: _encode_login_resp,
    Submit: _encode_submit,
    SubmitResp: _encode_result,
    Deliver: _encode_deliver,
    DeliverResp: _encode_result,
    ActiveTest: _encode_header_only,
    ActiveTestResp: _encode_header_only,
    Exit: _encode_header_only,
    ExitResp: _encode_header_only,
}


def encode(pdu: Pdu) -> bytes:
    """Encode ``pdu`` to wire bytes, header included.

    ``ValueError`` naming the field when a value does not fit its wire slot, ``TypeError`` for
    a wrongly typed field or an object that is not a PDU of ``carriers.smgp.pdus``.
    """
    encoder = _ENCODERS.get(type(pdu))
    if encoder is None:
        raise TypeError(f"cannot encode {type(pdu).__name__}: not an SMGP PDU class")
    return encoder(pdu)


# --- one message to many numbers --------------------------------------------------------------


class SubmitTemplate:
    """A one-destination Submit encoded once, whose DestTermID is filled in per recipient.

    The SequenceID is left 0 for the session to patch in at ``SEQUENCE_OFFSET``.
    """

    __slots__ = ("_prefix", "_suffix")

    def __init__(self, submit: Submit) -> None:
        if len(submit.dest_term_ids) != 1:
            raise ValueError(f"a SubmitTemplate needs a Submit with one destination, not "
                             f"{len(submit.dest_term_ids)}")
        frame = encode(replace(submit, sequence_id=0))
        self._prefix = frame[:DESTINATION_OFFSET]
        self._suffix = frame[DESTINATION_OFFSET + _TERMINAL:]

    def frame(self, destination: str) -> bytes:
        """The whole Submit to ``destination`` (ASCII, up to 21 octets), SequenceID 0."""
        try:
            number = destination.encode("ascii")
        except (UnicodeEncodeError, AttributeError):
            raise ValueError(f"DestTermID {destination!r} must be an ASCII str") from None
        if len(number) > _TERMINAL or b"\0" in number:
            raise ValueError(f"DestTermID {destination!r}: at most {_TERMINAL} octets, no NUL")
        return b"".join((self._prefix, number, bytes(_TERMINAL - len(number)), self._suffix))
