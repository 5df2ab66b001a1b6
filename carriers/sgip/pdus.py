"""SGIP 1.2 PDUs (China Unicom) as plain data, plus the protocol's numeric constants.

Every PDU is a frozen, slotted, keyword-only dataclass with a class-level ``command_id`` and
the header's :class:`~carriers.sgip.sequence.SequenceNumber` as ``sequence``. Octet-string
fields are ``str`` (ASCII on the wire, NUL-padded on the right); ``message_content`` is
``bytes``. ``UserCount`` and ``MessageLength`` are not fields: they are always
``len(user_numbers)`` and ``len(message_content)``. Field order and sizes: protocols.md §3.4
(BIND), §3.5 (SUBMIT), §3.6 (DELIVER), §3.7 (REPORT).

Answering what cannot be decoded (:func:`error_response`): SGIP has no generic nack, so an
undecodable request we know (BIND, SUBMIT, DELIVER, REPORT) gets its own response carrying
``DecodeError.status`` as its Result (5 bad parameter format, 8 bad message length, 6 illegal
phone number), an undecodable UNBIND an UNBIND_RESP; an unknown Command ID, any response, or a
header too short to hold the Sequence Number gets no answer (answering responses loops).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

from carriers.errors import DecodeError
from carriers.sgip.sequence import SequenceNumber

__all__ = [
    "HEADER_LENGTH",
    "PDU_CLASSES",
    "SEQUENCE_OFFSET",
    "Bind",
    "BindResp",
    "CommandId",
    "Deliver",
    "DeliverResp",
    "LoginType",
    "Pdu",
    "Report",
    "ReportResp",
    "ReportState",
    "ReportType",
    "Result",
    "Submit",
    "SubmitResp",
    "Unbind",
    "UnbindResp",
    "error_response",
    "is_response",
    "response_for",
    "result_name",
]

HEADER_LENGTH = 20
"""Message Length 4, Command ID 4, Sequence Number 12 (§3.1)."""
SEQUENCE_OFFSET = 8
"""Where the 12-octet Sequence Number starts in every frame."""

_RESPONSE_BIT = 0x80000000


class CommandId(IntEnum):
    """Command IDs this codec handles (§3.2); responses have bit 31 set."""

    BIND = 0x00000001
    BIND_RESP = 0x80000001
    UNBIND = 0x00000002
    UNBIND_RESP = 0x80000002
    SUBMIT = 0x00000003
    SUBMIT_RESP = 0x80000003
    DELIVER = 0x00000004
    DELIVER_RESP = 0x80000004
    REPORT = 0x00000005
    REPORT_RESP = 0x80000005


class LoginType(IntEnum):
    """BIND Login Type (§3.4). The gateway speaks the first two."""

    SP_TO_SMG = 1
    """The SP's submit connection (the SP is the TCP client)."""
    SMG_TO_SP = 2
    """The SMG's connection back to the SP, carrying DELIVER and REPORT."""
    SMG_TO_SMG = 3
    SMG_TO_GNS = 4
    GNS_TO_SMG = 5
    GNS_PRIMARY_BACKUP = 6
    TEST = 11


class Result(IntEnum):
    """Result of every response and ErrorCode of a REPORT (§3.4, the documented values; not
    GOSGIP's ``21 + iota`` constants, which are off by twelve: protocols.md §7)."""

    OK = 0
    ILLEGAL_LOGIN = 1
    REPEATED_LOGIN = 2
    TOO_MANY_CONNECTIONS = 3
    BAD_LOGIN_TYPE = 4
    BAD_PARAMETER_FORMAT = 5
    ILLEGAL_PHONE_NUMBER = 6
    BAD_MESSAGE_ID = 7
    BAD_MESSAGE_LENGTH = 8
    ILLEGAL_SEQUENCE_NUMBER = 9
    ILLEGAL_GNS_OPERATION = 10
    NODE_BUSY = 11
    DESTINATION_UNREACHABLE = 21
    ROUTING_ERROR = 22
    ROUTE_DOES_NOT_EXIST = 23
    INVALID_CHARGE_NUMBER = 24
    USER_CANNOT_COMMUNICATE = 25
    HANDSET_MEMORY_FULL = 26
    HANDSET_NO_SMS = 27
    HANDSET_RECEIVE_ERROR = 28
    UNKNOWN_USER = 29
    FUNCTION_NOT_PROVIDED = 30
    ILLEGAL_DEVICE = 31
    SYSTEM_FAILURE = 32
    SMSC_QUEUE_FULL = 33


_RESULT_NAMES: dict[int, str] = {
    Result.OK: "OK",
    Result.ILLEGAL_LOGIN: "illegal login",
    Result.REPEATED_LOGIN: "repeated login",
    Result.TOO_MANY_CONNECTIONS: "too many connections",
    Result.BAD_LOGIN_TYPE: "bad login type",
    Result.BAD_PARAMETER_FORMAT: "bad parameter format",
    Result.ILLEGAL_PHONE_NUMBER: "illegal phone number",
    Result.BAD_MESSAGE_ID: "bad message id",
    Result.BAD_MESSAGE_LENGTH: "bad message length",
    Result.ILLEGAL_SEQUENCE_NUMBER: "illegal sequence number",
    Result.ILLEGAL_GNS_OPERATION: "illegal GNS operation",
    Result.NODE_BUSY: "node busy",
    Result.DESTINATION_UNREACHABLE: "destination unreachable",
    Result.ROUTING_ERROR: "routing error",
    Result.ROUTE_DOES_NOT_EXIST: "route does not exist",
    Result.INVALID_CHARGE_NUMBER: "invalid charge number",
    Result.USER_CANNOT_COMMUNICATE: "user cannot communicate",
    Result.HANDSET_MEMORY_FULL: "handset memory full",
    Result.HANDSET_NO_SMS: "handset does not support SMS",
    Result.HANDSET_RECEIVE_ERROR: "handset receive error",
    Result.UNKNOWN_USER: "unknown user",
    Result.FUNCTION_NOT_PROVIDED: "function not provided",
    Result.ILLEGAL_DEVICE: "illegal device",
    Result.SYSTEM_FAILURE: "system failure",
    Result.SMSC_QUEUE_FULL: "SMSC queue full",
}


def result_name(result: int) -> str:
    """``"SGIP result 11 (node busy)"``."""
    return f"SGIP result {result} ({_RESULT_NAMES.get(result, 'unknown')})"


class ReportType(IntEnum):
    """REPORT ReportType (§3.7)."""

    SUBMIT = 0
    """About a SUBMIT (an MT's delivery)."""
    DELIVER = 1
    """About a DELIVER the SMG forwarded."""


class ReportState(IntEnum):
    """REPORT State (§3.7)."""

    DELIVERED = 0
    WAITING = 1
    FAILED = 2
    """ErrorCode says why (a :class:`Result`)."""


def is_response(command_id: int) -> bool:
    return bool(command_id & _RESPONSE_BIT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdu:
    """Fields shared by every PDU: the header minus its length."""

    command_id: ClassVar[CommandId]
    sequence: SequenceNumber


# --- session management (§3.4) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Bind(Pdu):
    """BIND: Login Type 1, Login Name 16, Login Password 16, Reserve 8."""

    command_id: ClassVar[CommandId] = CommandId.BIND
    login_type: int
    login_name: str
    login_password: str
    reserve: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Unbind(Pdu):
    command_id: ClassVar[CommandId] = CommandId.UNBIND


@dataclass(frozen=True, slots=True, kw_only=True)
class UnbindResp(Pdu):
    command_id: ClassVar[CommandId] = CommandId.UNBIND_RESP


# --- messages (§3.5-§3.7) -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Submit(Pdu):
    """SUBMIT: an MT from the SP to the SMG (§3.5).

    ``charge_number`` empty: the user pays; 21 × "0": the SP pays. ``fee_type`` 0 channel fee
    only, 1 free, 2 per message, 3 monthly; ``fee_value`` / ``given_value`` are fen as text
    (6 octets). ``morelateto_mt_flag`` 0/1 MT caused by an MO (first/later), 2 not caused by an
    MO, 3 system feedback. ``expire_time`` / ``schedule_time`` are ``yymmddhhmmsstnnp`` or empty.
    ``report_flag`` 0 report on final error only, 1 always, 2 never, 3 monthly-fee record.
    ``message_content`` is never decoded here: ``message_coding`` says how (0 ASCII, 4 binary,
    8 UCS2, 15 GBK). ``reserve`` is where some SPs put the LinkID.
    """

    command_id: ClassVar[CommandId] = CommandId.SUBMIT
    sp_number: str = ""
    charge_number: str = ""
    user_numbers: tuple[str, ...]
    corp_id: str = ""
    service_type: str = ""
    fee_type: int = 1
    fee_value: str = "0"
    given_value: str = "0"
    agent_flag: int = 0
    morelateto_mt_flag: int = 2
    priority: int = 0
    expire_time: str = ""
    schedule_time: str = ""
    report_flag: int = 1
    tp_pid: int = 0
    tp_udhi: int = 0
    message_coding: int = 0
    message_type: int = 0
    message_content: bytes = b""
    reserve: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Deliver(Pdu):
    """DELIVER: an MO from the SMG to the SP (§3.6)."""

    command_id: ClassVar[CommandId] = CommandId.DELIVER
    user_number: str = ""
    sp_number: str = ""
    tp_pid: int = 0
    tp_udhi: int = 0
    message_coding: int = 0
    message_content: bytes = b""
    reserve: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Report(Pdu):
    """REPORT: the fate of a SUBMIT (or a forwarded DELIVER), SMG to SP (§3.7).

    ``submit_sequence`` is the Sequence Number of the SUBMIT it is about: the correlation key
    (its :func:`~carriers.sgip.sequence.sequence_text` is the stored message id).
    ``error_code`` is a :class:`Result`, meaningful when ``state`` is 2 (failed).
    """

    command_id: ClassVar[CommandId] = CommandId.REPORT
    submit_sequence: SequenceNumber
    report_type: int = ReportType.SUBMIT
    user_number: str = ""
    state: int = ReportState.DELIVERED
    error_code: int = 0
    reserve: str = ""


# --- responses: Result 1 + Reserve 8 (§3.4) ------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Response(Pdu):
    result: int = 0
    reserve: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BindResp(_Response):
    command_id: ClassVar[CommandId] = CommandId.BIND_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitResp(_Response):
    """SUBMIT_RESP: no message id; the SUBMIT's Sequence Number is the key (§3.5)."""

    command_id: ClassVar[CommandId] = CommandId.SUBMIT_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverResp(_Response):
    command_id: ClassVar[CommandId] = CommandId.DELIVER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportResp(_Response):
    command_id: ClassVar[CommandId] = CommandId.REPORT_RESP


PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.command_id: cls
    for cls in (
        Bind, BindResp, Unbind, UnbindResp, Submit, SubmitResp, Deliver, DeliverResp, Report,
        ReportResp,
    )
}

_RESPONSES: dict[int, type[_Response]] = {
    CommandId.BIND: BindResp,
    CommandId.SUBMIT: SubmitResp,
    CommandId.DELIVER: DeliverResp,
    CommandId.REPORT: ReportResp,
}


def response_for(request: Pdu, result: int = 0, **fields: Any) -> Pdu:
    """The response to ``request``, echoing its Sequence Number. UNBIND_RESP has no Result, so
    a non-zero ``result`` for an UNBIND is a ``ValueError``."""
    if isinstance(request, Unbind):
        if result or fields:
            raise ValueError("UNBIND_RESP carries no result")
        return UnbindResp(sequence=request.sequence)
    response_class = _RESPONSES.get(request.command_id)
    if response_class is None or type(request) is not PDU_CLASSES[request.command_id]:
        raise ValueError(f"{type(request).__name__} is not a request that takes a response")
    return response_class(sequence=request.sequence, result=result, **fields)


def error_response(error: DecodeError) -> Pdu | None:
    """The response to a frame that failed to decode, or ``None`` for no answer (module
    docstring). ``error.sequence_number`` is the 96-bit key of the Sequence Number."""
    command_id, key = error.command_id, error.sequence_number
    if command_id is None or key is None:
        return None
    sequence = SequenceNumber.from_key(key)
    if command_id == CommandId.UNBIND:
        return UnbindResp(sequence=sequence)
    response_class = _RESPONSES.get(command_id)
    if response_class is None:
        return None
    return response_class(sequence=sequence, result=min(error.status, 0xFF))
