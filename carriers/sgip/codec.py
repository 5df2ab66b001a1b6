"""SGIP 1.2 wire codec: ``decode(frame) -> Pdu`` and ``encode(pdu) -> bytes``. Pure.

``decode`` takes one whole frame as cut by ``carriers.framing.LengthPrefixedFramer`` and either
returns a PDU of ``carriers.sgip.pdus`` or raises ``DecodeError`` whose ``status`` is the SGIP
Result to answer with (``carriers.sgip.pdus.error_response``) and whose ``sequence_number`` is
the 96-bit key of the header's Sequence Number; no other exception escapes, whatever the frame
holds. Statuses (protocols.md §3.4): 8 (bad message length) for any length fault (Message
Length, a body of the wrong size, a MessageLength that disagrees with the frame), 5 (bad
parameter format) for a value that breaks the structure (UserCount 0 or over 100, a non-ASCII
text field), 6 (illegal phone number) for a non-ASCII UserNumber or ChargeNumber, 5 for an
unknown Command ID (SGIP has no "bad command" result; it gets no answer anyway).

Octet-string fields are ASCII, left-aligned and padded with NULs on the right. Decoding cuts a
field at its first NUL (C peers leave junk after the terminator).

``encode`` validates as it goes and raises ``ValueError`` (``TypeError`` for a wrongly typed
field) naming the field, so a bad PDU never reaches the wire.

Sizes, all from protocols.md §3: header 20; BIND body 41; every response body 9 (Result 1 +
Reserve 8); UNBIND / UNBIND_RESP no body; SUBMIT body 123 + 21·UserCount + MessageLength;
DELIVER body 57 + MessageLength; REPORT body 44.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from carriers.errors import DecodeError
from carriers.sgip.pdus import (
    HEADER_LENGTH,
    Bind,
    BindResp,
    CommandId,
    Deliver,
    DeliverResp,
    Pdu,
    Report,
    ReportResp,
    Result,
    Submit,
    SubmitResp,
    Unbind,
    UnbindResp,
)
from carriers.sgip.sequence import ZERO, SequenceNumber

__all__ = ["MAX_PDU_LENGTH", "MAX_USERS", "SubmitTemplate", "decode", "encode"]

MAX_USERS = 100
"""UserCount is 1..100 (§3.5)."""
MAX_CONTENT = 2000
"""Longest MessageContent this codec writes. SMS user data is at most 160 octets; the
4-octet MessageLength allows more, which no SMG takes."""
MAX_PDU_LENGTH = HEADER_LENGTH + 123 + 21 * MAX_USERS + MAX_CONTENT
"""Largest frame the gateway reads or writes (4343). GOSGIP's 2 KB limit (§3.1, single source)
cannot hold a SUBMIT to 100 users (20 + 123 + 2100 + 140 = 2383), so it is not used."""

_HEADER = struct.Struct(">II12s")
_BIND = struct.Struct(">B16s16s8s")
_RESPONSE = struct.Struct(">B8s")
_SUBMIT_HEAD = struct.Struct(">21s21sB")  # SPNumber, ChargeNumber, UserCount
_USER = 21
_SUBMIT_MIDDLE = struct.Struct(">5s10sB6s6sBBB16s16sBBBBBI")  # CorpId .. MessageLength
_RESERVE = 8
_DELIVER_HEAD = struct.Struct(">21s21sBBBI")  # UserNumber .. MessageLength
_REPORT = struct.Struct(">12sB21sBB8s")

_BAD_FORMAT = Result.BAD_PARAMETER_FORMAT
_BAD_LENGTH = Result.BAD_MESSAGE_LENGTH
_BAD_NUMBER = Result.ILLEGAL_PHONE_NUMBER


class _Malformed(Exception):
    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _text(raw: bytes, name: str, status: int = _BAD_FORMAT) -> str:
    cut = raw.split(b"\0", 1)[0]
    try:
        return cut.decode("ascii")
    except UnicodeDecodeError:
        raise _Malformed(f"{name} {cut!r} is not ASCII", status) from None


def _body_size(size: int, expected: int, name: str) -> None:
    if size - HEADER_LENGTH != expected:
        raise _Malformed(
            f"{name} body is {size - HEADER_LENGTH} octets; it must be {expected}", _BAD_LENGTH)


_Decoder = Callable[[bytes, int, SequenceNumber], Pdu]


def _header_only(cls: type[Pdu]) -> _Decoder:
    def decode_header_only(frame: bytes, size: int, sequence: SequenceNumber) -> Pdu:
        _body_size(size, 0, cls.command_id.name)
        return cls(sequence=sequence)

    return decode_header_only


def _response(cls: type[BindResp | SubmitResp | DeliverResp | ReportResp]) -> _Decoder:
    def decode_response(frame: bytes, size: int, sequence: SequenceNumber) -> Pdu:
        _body_size(size, _RESPONSE.size, cls.command_id.name)
        result, reserve = _RESPONSE.unpack_from(frame, HEADER_LENGTH)
        return cls(sequence=sequence, result=result, reserve=_text(reserve, "Reserve"))

    return decode_response


def _decode_bind(frame: bytes, size: int, sequence: SequenceNumber) -> Bind:
    _body_size(size, _BIND.size, "BIND")
    login_type, name, password, reserve = _BIND.unpack_from(frame, HEADER_LENGTH)
    return Bind(sequence=sequence, login_type=login_type,
                login_name=_text(name, "Login Name", Result.ILLEGAL_LOGIN),
                login_password=_text(password, "Login Password", Result.ILLEGAL_LOGIN),
                reserve=_text(reserve, "Reserve"))


def _content_end(size: int, start: int, length: int, after: int) -> int:
    end = start + length
    if end + after != size:
        raise _Malformed(
            f"MessageLength {length} does not match the {size}-octet frame", _BAD_LENGTH)
    return end


def _decode_submit(frame: bytes, size: int, sequence: SequenceNumber) -> Submit:
    fixed = HEADER_LENGTH + _SUBMIT_HEAD.size + _SUBMIT_MIDDLE.size + _RESERVE
    if size < fixed + _USER:
        raise _Malformed(f"SUBMIT of {size} octets is shorter than its fixed fields",
                         _BAD_LENGTH)
    sp_number, charge_number, count = _SUBMIT_HEAD.unpack_from(frame, HEADER_LENGTH)
    if not 1 <= count <= MAX_USERS:
        raise _Malformed(f"UserCount {count} is outside 1..{MAX_USERS}", _BAD_FORMAT)
    users_at = HEADER_LENGTH + _SUBMIT_HEAD.size
    middle_at = users_at + _USER * count
    if size < fixed + _USER * count:
        raise _Malformed(f"SUBMIT of {size} octets is too short for {count} UserNumbers",
                         _BAD_LENGTH)
    users = tuple(
        _text(frame[at : at + _USER], "UserNumber", _BAD_NUMBER)
        for at in range(users_at, middle_at, _USER)
    )
    (corp_id, service_type, fee_type, fee_value, given_value, agent_flag, mt_flag, priority,
     expire_time, schedule_time, report_flag, tp_pid, tp_udhi, coding, message_type,
     length) = _SUBMIT_MIDDLE.unpack_from(frame, middle_at)
    content_at = middle_at + _SUBMIT_MIDDLE.size
    content_end = _content_end(size, content_at, length, _RESERVE)
    return Submit(
        sequence=sequence,
        sp_number=_text(sp_number, "SPNumber"),
        charge_number=_text(charge_number, "ChargeNumber", _BAD_NUMBER),
        user_numbers=users,
        corp_id=_text(corp_id, "CorpId"),
        service_type=_text(service_type, "ServiceType"),
        fee_type=fee_type,
        fee_value=_text(fee_value, "FeeValue"),
        given_value=_text(given_value, "GivenValue"),
        agent_flag=agent_flag,
        morelateto_mt_flag=mt_flag,
        priority=priority,
        expire_time=_text(expire_time, "ExpireTime"),
        schedule_time=_text(schedule_time, "ScheduleTime"),
        report_flag=report_flag,
        tp_pid=tp_pid,
        tp_udhi=tp_udhi,
        message_coding=coding,
        message_type=message_type,
        message_content=frame[content_at:content_end],
        reserve=_text(frame[content_end:size], "Reserve"),
    )


def _decode_deliver(frame: bytes, size: int, sequence: SequenceNumber) -> Deliver:
    if size < HEADER_LENGTH + _DELIVER_HEAD.size + _RESERVE:
        raise _Malformed(f"DELIVER of {size} octets is shorter than its fixed fields",
                         _BAD_LENGTH)
    user_number, sp_number, tp_pid, tp_udhi, coding, length = _DELIVER_HEAD.unpack_from(
        frame, HEADER_LENGTH)
    content_at = HEADER_LENGTH + _DELIVER_HEAD.size
    content_end = _content_end(size, content_at, length, _RESERVE)
    return Deliver(
        sequence=sequence,
        user_number=_text(user_number, "UserNumber", _BAD_NUMBER),
        sp_number=_text(sp_number, "SPNumber"),
        tp_pid=tp_pid,
        tp_udhi=tp_udhi,
        message_coding=coding,
        message_content=frame[content_at:content_end],
        reserve=_text(frame[content_end:size], "Reserve"),
    )


def _decode_report(frame: bytes, size: int, sequence: SequenceNumber) -> Report:
    _body_size(size, _REPORT.size, "REPORT")
    submit_sequence, report_type, user_number, state, error_code, reserve = (
        _REPORT.unpack_from(frame, HEADER_LENGTH))
    return Report(
        sequence=sequence,
        submit_sequence=SequenceNumber.unpack(submit_sequence),
        report_type=report_type,
        user_number=_text(user_number, "UserNumber", _BAD_NUMBER),
        state=state,
        error_code=error_code,
        reserve=_text(reserve, "Reserve"),
    )


_DECODERS: dict[int, _Decoder] = {
    CommandId.BIND: _decode_bind,
    CommandId.BIND_RESP: _response(BindResp),
    CommandId.UNBIND: _header_only(Unbind),
    CommandId.UNBIND_RESP: _header_only(UnbindResp),
    CommandId.SUBMIT: _decode_submit,
    CommandId.SUBMIT_RESP: _response(SubmitResp),
    CommandId.DELIVER: _decode_deliver,
    CommandId.DELIVER_RESP: _response(DeliverResp),
    CommandId.REPORT: _decode_report,
    CommandId.REPORT_RESP: _response(ReportResp),
}


def decode(frame: bytes | bytearray | memoryview) -> Pdu:
    """Decode one whole SGIP frame, header included. Raises ``DecodeError`` carrying the Result
    to answer with (module docstring); nothing else escapes for any frame."""
    if type(frame) is not bytes:
        frame = bytes(frame)
    size = len(frame)
    if size < HEADER_LENGTH:
        command_id = int.from_bytes(frame[4:8], "big") if size >= 8 else None
        raise DecodeError(
            f"frame of {size} octets is shorter than the {HEADER_LENGTH}-octet header",
            status=_BAD_LENGTH, command_id=command_id)
    length, command_id, raw_sequence = _HEADER.unpack_from(frame)
    sequence = SequenceNumber.unpack(raw_sequence)
    key = sequence.key()
    if length != size:
        raise DecodeError(
            f"Message Length {length} does not match the {size} octets received",
            status=_BAD_LENGTH, command_id=command_id, sequence_number=key)
    decoder = _DECODERS.get(command_id)
    if decoder is None:
        raise DecodeError(f"Command ID 0x{command_id:08X} is unknown or not supported",
                          status=_BAD_FORMAT, command_id=command_id, sequence_number=key)
    try:
        return decoder(frame, size, sequence)
    except _Malformed as fault:
        raise DecodeError(fault.reason, status=fault.status, command_id=command_id,
                          sequence_number=key) from None
    except (IndexError, struct.error):  # a size check missed; never let it escape
        raise DecodeError("body ends before its mandatory fields do", status=_BAD_LENGTH,
                          command_id=command_id, sequence_number=key) from None


# --- encoding ------------------------------------------------------------------------------------


def _ascii(pdu: Pdu, name: str, width: int) -> bytes:
    """A text field's bytes, checked to fit ``width``; ``struct`` pads it with NULs."""
    value = getattr(pdu, name)
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


def _octet(pdu: Pdu, name: str) -> int:
    value = getattr(pdu, name)
    where = f"{type(pdu).__name__}.{name}"
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{where} must be an int, not {type(value).__name__}")
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{where} is {value}; it must be within 0..255 (one octet)")
    return value


def _frame(pdu: Pdu, body: bytes) -> bytes:
    sequence = pdu.sequence
    if not isinstance(sequence, SequenceNumber):
        raise TypeError(f"{type(pdu).__name__}.sequence must be a SequenceNumber, "
                        f"not {type(sequence).__name__}")
    return _HEADER.pack(HEADER_LENGTH + len(body), pdu.command_id, sequence.packed()) + body


def _encode_header_only(pdu: Unbind | UnbindResp) -> bytes:
    return _frame(pdu, b"")


def _encode_response(pdu: BindResp | SubmitResp | DeliverResp | ReportResp) -> bytes:
    return _frame(pdu, _RESPONSE.pack(_octet(pdu, "result"), _ascii(pdu, "reserve", 8)))


def _encode_bind(pdu: Bind) -> bytes:
    return _frame(pdu, _BIND.pack(
        _octet(pdu, "login_type"), _ascii(pdu, "login_name", 16),
        _ascii(pdu, "login_password", 16), _ascii(pdu, "reserve", 8)))


def _content(pdu: Submit | Deliver) -> bytes:
    content = pdu.message_content
    where = f"{type(pdu).__name__}.message_content"
    if not isinstance(content, bytes):
        raise TypeError(f"{where} must be bytes, not {type(content).__name__}")
    if len(content) > MAX_CONTENT:
        raise ValueError(f"{where} is {len(content)} octets; at most {MAX_CONTENT}")
    return content


def _encode_submit(pdu: Submit) -> bytes:
    users = pdu.user_numbers
    if not isinstance(users, tuple):
        raise TypeError(f"Submit.user_numbers must be a tuple, not {type(users).__name__}")
    if not 1 <= len(users) <= MAX_USERS:
        raise ValueError(f"Submit.user_numbers holds {len(users)} numbers; SGIP allows "
                         f"1..{MAX_USERS}")
    numbers = []
    for number in users:
        if not isinstance(number, str):
            raise TypeError(f"Submit.user_numbers holds {type(number).__name__}, not str")
        try:
            raw = number.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"Submit.user_numbers {number!r} is not ASCII") from None
        if len(raw) > _USER or b"\0" in raw:
            raise ValueError(f"Submit.user_numbers {number!r}: at most {_USER} octets, no NUL")
        numbers.append(raw.ljust(_USER, b"\0"))
    content = _content(pdu)
    head = _SUBMIT_HEAD.pack(_ascii(pdu, "sp_number", 21), _ascii(pdu, "charge_number", 21),
                             len(users))
    middle = _SUBMIT_MIDDLE.pack(
        _ascii(pdu, "corp_id", 5), _ascii(pdu, "service_type", 10), _octet(pdu, "fee_type"),
        _ascii(pdu, "fee_value", 6), _ascii(pdu, "given_value", 6), _octet(pdu, "agent_flag"),
        _octet(pdu, "morelateto_mt_flag"), _octet(pdu, "priority"),
        _ascii(pdu, "expire_time", 16), _ascii(pdu, "schedule_time", 16),
        _octet(pdu, "report_flag"), _octet(pdu, "tp_pid"), _octet(pdu, "tp_udhi"),
        _octet(pdu, "message_coding"), _octet(pdu, "message_type"), len(content))
    reserve = _ascii(pdu, "reserve", _RESERVE).ljust(_RESERVE, b"\0")
    return _frame(pdu, b"".join((head, *numbers, middle, content, reserve)))


def _encode_deliver(pdu: Deliver) -> bytes:
    content = _content(pdu)
    head = _DELIVER_HEAD.pack(
        _ascii(pdu, "user_number", 21), _ascii(pdu, "sp_number", 21), _octet(pdu, "tp_pid"),
        _octet(pdu, "tp_udhi"), _octet(pdu, "message_coding"), len(content))
    reserve = _ascii(pdu, "reserve", _RESERVE).ljust(_RESERVE, b"\0")
    return _frame(pdu, b"".join((head, content, reserve)))


def _encode_report(pdu: Report) -> bytes:
    submit_sequence = pdu.submit_sequence
    if not isinstance(submit_sequence, SequenceNumber):
        raise TypeError("Report.submit_sequence must be a SequenceNumber, "
                        f"not {type(submit_sequence).__name__}")
    return _frame(pdu, _REPORT.pack(
        submit_sequence.packed(), _octet(pdu, "report_type"), _ascii(pdu, "user_number", 21),
        _octet(pdu, "state"), _octet(pdu, "error_code"), _ascii(pdu, "reserve", 8)))


_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    Bind: _encode_bind,
    BindResp: _encode_response,
    Unbind: _encode_header_only,
    UnbindResp: _encode_header_only,
    Submit: _encode_submit,
    SubmitResp: _encode_response,
    Deliver: _encode_deliver,
    DeliverResp: _encode_response,
    Report: _encode_report,
    ReportResp: _encode_response,
}


def encode(pdu: Pdu) -> bytes:
    """Encode ``pdu`` to wire bytes, header included. ``ValueError`` naming the field when a
    value does not fit its slot, ``TypeError`` for a wrongly typed field or a non-SGIP PDU."""
    encoder = _ENCODERS.get(type(pdu))
    if encoder is None:
        raise TypeError(f"cannot encode {type(pdu).__name__}: not an SGIP PDU class")
    return encoder(pdu)


# --- one message to many numbers -----------------------------------------------------------------


class SubmitTemplate:
    """A one-user SUBMIT encoded once, whose UserNumber is filled in per recipient.

    The Sequence Number is left all zeros for the session to write at ``SEQUENCE_OFFSET``
    when it sends the frame.
    """

    __slots__ = ("_prefix", "_suffix")

    def __init__(self, submit: Submit) -> None:
        if len(submit.user_numbers) != 1:
            raise ValueError(f"a SubmitTemplate needs a Submit with one user, not "
                             f"{len(submit.user_numbers)}")
        frame = encode(replace(submit, sequence=ZERO))
        start = HEADER_LENGTH + _SUBMIT_HEAD.size
        self._prefix = frame[:start]
        self._suffix = frame[start + _USER :]

    def frame(self, user_number: str) -> bytes:
        """The whole SUBMIT to ``user_number`` (ASCII, up to 21 octets), Sequence Number 0."""
        try:
            number = user_number.encode("ascii")
        except (UnicodeEncodeError, AttributeError):
            raise ValueError(f"UserNumber {user_number!r} must be an ASCII str") from None
        if len(number) > _USER or b"\0" in number:
            raise ValueError(f"UserNumber {user_number!r}: at most {_USER} octets, no NUL")
        return b"".join((self._prefix, number, bytes(_USER - len(number)), self._suffix))

