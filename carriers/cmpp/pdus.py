"""CMPP 2.0 / 3.0 PDUs (China Mobile) as plain data, plus the protocol's numeric constants.

Every PDU is a frozen, slotted, keyword-only dataclass with a class-level ``command_id``. One
class serves both protocol versions: fields that exist only in CMPP 3.0 (``fee_terminal_type``,
``dest_terminal_type``, ``src_terminal_type``, ``link_id``) are kept here, ignored by the 2.0
encoding (which writes its 8-octet Reserve as zeros) and left at their defaults by the 2.0
decoding. Octet-string fields are ``str`` (ASCII on the wire); ``Msg_Content`` and the
authenticators are ``bytes``. ``Msg_Length`` and ``DestUsr_tl`` are not fields: they are always
``len(msg_content)`` and ``len(dest_terminal_ids)``.

Answering what cannot be decoded (``error_response``): CMPP has no generic_nack, so

* an undecodable request we know (CONNECT, SUBMIT, DELIVER, ACTIVE_TEST, TERMINATE) gets its own
  response carrying ``DecodeError.status`` where the response has a status field: SUBMIT_RESP /
  DELIVER_RESP ``Result`` (1 bad structure, 4 bad length, or a field's own code such as 13 bad
  Dest_terminal_Id), CONNECT_RESP ``Status`` (1 bad structure, 2 bad source address);
* an unknown Command_Id, an undecodable response, or a header too short to hold a Sequence_Id
  gets no answer at all (``None``): the session logs it and decides whether to close the link.

Nothing here touches sockets, clocks or storage; ``carriers.cmpp.codec`` turns these into bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

from carriers.errors import DecodeError

__all__ = [
    "HEADER_LENGTH",
    "PDU_CLASSES",
    "REQUEST_TO_RESPONSE",
    "SEQUENCE_OFFSET",
    "ActiveTest",
    "ActiveTestResp",
    "CommandId",
    "Connect",
    "ConnectResp",
    "ConnectStatus",
    "Deliver",
    "DeliverResp",
    "Pdu",
    "Submit",
    "SubmitResp",
    "SubmitResult",
    "Terminate",
    "TerminateResp",
    "Version",
    "error_response",
    "is_response",
    "response_for",
]

HEADER_LENGTH = 12
"""Octets in the CMPP header: Total_Length, Command_Id, Sequence_Id."""
SEQUENCE_OFFSET = 8
"""Offset of the 4-octet big-endian Sequence_Id in every frame."""

_RESPONSE_BIT = 0x80000000
_NO_AUTHENTICATOR = bytes(16)


class CommandId(IntEnum):
    """Command_Id values this codec handles; responses have bit 31 set."""

    CONNECT = 0x00000001
    CONNECT_RESP = 0x80000001
    TERMINATE = 0x00000002
    TERMINATE_RESP = 0x80000002
    SUBMIT = 0x00000004
    SUBMIT_RESP = 0x80000004
    DELIVER = 0x00000005
    DELIVER_RESP = 0x80000005
    ACTIVE_TEST = 0x00000008
    ACTIVE_TEST_RESP = 0x80000008


class Version(IntEnum):
    """Version octets: high nibble major, low nibble minor.

    The codec picks the body layout by the major nibble, so 0x21 encodes like 0x20.
    """

    V20 = 0x20
    V30 = 0x30


class ConnectStatus(IntEnum):
    """CONNECT_RESP Status (1 octet in 2.0, 4 in 3.0); 5 and above are "other errors"."""

    OK = 0
    BAD_STRUCTURE = 1
    BAD_SOURCE_ADDRESS = 2
    AUTHENTICATION_FAILED = 3
    VERSION_TOO_HIGH = 4


class SubmitResult(IntEnum):
    """SUBMIT_RESP Result (1 octet in 2.0, 4 in 3.0).

    DELIVER_RESP uses the same codes 0..8; 9 and above mean "other error" there. 0..99 are
    reserved for the protocol, vendors use 100..199.
    """

    OK = 0
    BAD_STRUCTURE = 1
    BAD_COMMAND = 2
    DUPLICATE_SEQUENCE = 3
    BAD_LENGTH = 4
    BAD_FEE_CODE = 5
    TOO_LONG = 6
    BAD_SERVICE_ID = 7
    FLOW_CONTROL = 8
    CHARGED_NUMBER_NOT_SERVED = 9
    BAD_SRC_ID = 10
    BAD_MSG_SRC = 11
    BAD_FEE_TERMINAL_ID = 12
    BAD_DEST_TERMINAL_ID = 13


def is_response(command_id: int) -> bool:
    """Whether ``command_id`` names a response PDU (bit 31 set)."""
    return bool(command_id & _RESPONSE_BIT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdu:
    """Fields shared by every PDU: the header minus its length."""

    command_id: ClassVar[CommandId]
    sequence_id: int


# --- session management ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Connect(Pdu):
    """CMPP_CONNECT: log in. ``timestamp`` is the MMDDHHMMSS value, see ``carriers.cmpp.auth``."""

    command_id: ClassVar[CommandId] = CommandId.CONNECT
    source_addr: str
    authenticator_source: bytes
    version: int
    timestamp: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectResp(Pdu):
    """CMPP_CONNECT_RESP. ``version`` is the highest version the ISMG supports.

    ``authenticator_ismg`` is all zeros when the login failed.
    """

    command_id: ClassVar[CommandId] = CommandId.CONNECT_RESP
    status: int
    authenticator_ismg: bytes = _NO_AUTHENTICATOR
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Terminate(Pdu):
    """CMPP_TERMINATE: ask the peer to end the session."""

    command_id: ClassVar[CommandId] = CommandId.TERMINATE


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminateResp(Pdu):
    """CMPP_TERMINATE_RESP."""

    command_id: ClassVar[CommandId] = CommandId.TERMINATE_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveTest(Pdu):
    """CMPP_ACTIVE_TEST: keep-alive probe."""

    command_id: ClassVar[CommandId] = CommandId.ACTIVE_TEST


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveTestResp(Pdu):
    """CMPP_ACTIVE_TEST_RESP with its one Reserved octet."""

    command_id: ClassVar[CommandId] = CommandId.ACTIVE_TEST_RESP
    reserved: int = 0


# --- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Submit(Pdu):
    """CMPP_SUBMIT: a message from the SP to the ISMG.

    ``msg_id`` is 0 from an SP; the ISMG assigns it in SUBMIT_RESP. ``fee_type`` "01" is free,
    "02" per message, "03" monthly; ``fee_code`` is in fen. ``valid_time`` / ``at_time`` use the
    SMPP 3.3 time format or are empty. ``msg_content`` is never decoded here: ``msg_fmt`` says how
    (0 ASCII, 4 binary, 8 UCS2, 15 GBK). 3.0-only fields are ignored by the 2.0 encoding.
    """

    command_id: ClassVar[CommandId] = CommandId.SUBMIT
    msg_id: int = 0
    pk_total: int = 1
    pk_number: int = 1
    registered_delivery: int = 0
    msg_level: int = 0
    service_id: str = ""
    fee_user_type: int = 0
    fee_terminal_id: str = ""
    fee_terminal_type: int = 0
    tp_pid: int = 0
    tp_udhi: int = 0
    msg_fmt: int = 0
    msg_src: str = ""
    fee_type: str = "01"
    fee_code: str = "000000"
    valid_time: str = ""
    at_time: str = ""
    src_id: str = ""
    dest_terminal_ids: tuple[str, ...]
    dest_terminal_type: int = 0
    msg_content: bytes = b""
    link_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitResp(Pdu):
    """CMPP_SUBMIT_RESP: ``msg_id`` is the ISMG's id for the message (the report key).

    For a group send it stands for ``msg_id`` .. ``msg_id + n - 1``, one per destination in order.
    """

    command_id: ClassVar[CommandId] = CommandId.SUBMIT_RESP
    msg_id: int = 0
    result: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Deliver(Pdu):
    """CMPP_DELIVER: an MO message (``registered_delivery`` 0) or a status report (1).

    A report's ``msg_content`` is decoded by ``carriers.cmpp.reports.decode_report``;
    ``src_terminal_id`` is then the destination of the original SUBMIT.
    """

    command_id: ClassVar[CommandId] = CommandId.DELIVER
    msg_id: int = 0
    dest_id: str = ""
    service_id: str = ""
    tp_pid: int = 0
    tp_udhi: int = 0
    msg_fmt: int = 0
    src_terminal_id: str = ""
    src_terminal_type: int = 0
    registered_delivery: int = 0
    msg_content: bytes = b""
    link_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverResp(Pdu):
    """CMPP_DELIVER_RESP: ``msg_id`` echoes the DELIVER's; ``result`` uses codes 0..8."""

    command_id: ClassVar[CommandId] = CommandId.DELIVER_RESP
    msg_id: int = 0
    result: int = 0


PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.command_id: cls
    for cls in (
        Connect,
        ConnectResp,
        Terminate,
        TerminateResp,
        Submit,
        SubmitResp,
        Deliver,
        DeliverResp,
        ActiveTest,
        ActiveTestResp,
    )
}
"""Every PDU class the codec handles, by ``command_id``."""

REQUEST_TO_RESPONSE: dict[int, type[Pdu]] = {
    CommandId.CONNECT: ConnectResp,
    CommandId.TERMINATE: TerminateResp,
    CommandId.SUBMIT: SubmitResp,
    CommandId.DELIVER: DeliverResp,
    CommandId.ACTIVE_TEST: ActiveTestResp,
}
"""Request ``command_id`` -> class of its response."""


def response_for(request: Pdu, result: int = 0, **fields: Any) -> Pdu:
    """Build the response to ``request``, echoing its Sequence_Id.

    ``result`` goes to CONNECT_RESP ``status`` or SUBMIT_RESP / DELIVER_RESP ``result``;
    ``fields`` fill the rest (``msg_id=`` for a SUBMIT_RESP, ``authenticator_ismg=`` for a
    CONNECT_RESP). A DELIVER_RESP echoes the DELIVER's ``msg_id`` and a CONNECT_RESP the
    CONNECT's ``version`` unless told otherwise. TERMINATE and ACTIVE_TEST responses have no
    status field, so a non-zero ``result`` for them is a ``ValueError``.
    """
    sequence_id = request.sequence_id
    if isinstance(request, Connect):
        fields.setdefault("version", request.version)
        return ConnectResp(sequence_id=sequence_id, status=result, **fields)
    if isinstance(request, Submit):
        return SubmitResp(sequence_id=sequence_id, result=result, **fields)
    if isinstance(request, Deliver):
        fields.setdefault("msg_id", request.msg_id)
        return DeliverResp(sequence_id=sequence_id, result=result, **fields)
    if isinstance(request, ActiveTest | Terminate):
        if result:
            raise ValueError(f"{type(request).__name__} responses carry no result ({result})")
        response_class = REQUEST_TO_RESPONSE[request.command_id]
        return response_class(sequence_id=sequence_id, **fields)
    raise ValueError(f"{type(request).__name__} is not a request that takes a response")


def error_response(
    error: DecodeError, *, frame: bytes = b"", version: int = Version.V30
) -> Pdu | None:
    """The response to send for a frame that failed to decode, or ``None`` for no answer.

    See the module docstring for the rules. ``frame`` is the undecodable frame: a DELIVER_RESP
    echoes the DELIVER's Msg_Id when its first 20 octets arrived (0 otherwise). ``version`` fills
    a CONNECT_RESP's Version octet (the highest version this side supports).
    """
    command_id = error.command_id
    sequence_id = error.sequence_number
    if command_id is None or sequence_id is None:
        return None
    status = error.status
    if command_id == CommandId.CONNECT:
        return ConnectResp(sequence_id=sequence_id, status=status, version=version)
    if command_id == CommandId.SUBMIT:
        return SubmitResp(sequence_id=sequence_id, msg_id=0, result=status)
    if command_id == CommandId.DELIVER:
        msg_id = 0
        if len(frame) >= HEADER_LENGTH + 8:
            msg_id = int.from_bytes(frame[HEADER_LENGTH : HEADER_LENGTH + 8], "big")
        return DeliverResp(sequence_id=sequence_id, msg_id=msg_id, result=status)
    if command_id == CommandId.ACTIVE_TEST:
        return ActiveTestResp(sequence_id=sequence_id)
    if command_id == CommandId.TERMINATE:
        return TerminateResp(sequence_id=sequence_id)
    return None
