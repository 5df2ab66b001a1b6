"""SMGP 3.0 PDUs (China Telecom) as plain data, plus the protocol's numeric constants.

Every PDU is a frozen, slotted, keyword-only dataclass with a class-level ``request_id``
(docs/protocols.md §4.2). Octet-string fields are ``str`` (ASCII on the wire); MsgID,
MsgContent and the authenticators are ``bytes``. ``MsgLength`` and ``DestTermIDCount`` are not
fields: they are always ``len(msg_content)`` and ``len(dest_term_ids)``.

Optional TLVs (§4.7) follow Submit's and Deliver's mandatory part. The ones the gateway uses
are typed fields (``None`` = absent): TP_pid, TP_udhi, LinkID, PkTotal, PkNumber, MsgSrc.
Every other TLV, known or unknown, is kept as it came in ``tlvs`` (in wire order) and written
back after the typed ones, so nothing a peer sends is lost.

Answering what cannot be decoded (``error_response``): SMGP has no generic nack, so

* an undecodable request we know (Login, Submit, Deliver, Active_Test, Exit) gets its own
  response carrying ``DecodeError.status`` where the response has a Status (§4.8: 10 bad
  structure, 36 bad MsgLength, 34 bad MsgFormat, a field's own code such as 47 bad
  DestTermID);
* an unknown RequestID, an undecodable response or a header too short to hold a SequenceID
  gets no answer (``None``): answering responses loops.

Nothing here touches sockets, clocks or storage; ``carriers.smgp.codec`` turns these into bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

from carriers.errors import DecodeError

__all__ = [
    "HEADER_LENGTH",
    "MSG_ID_LENGTH",
    "NO_MSG_ID",
    "PDU_CLASSES",
    "SEQUENCE_OFFSET",
    "VERSION",
    "ActiveTest",
    "ActiveTestResp",
    "Deliver",
    "DeliverResp",
    "Exit",
    "ExitResp",
    "Login",
    "LoginMode",
    "LoginResp",
    "MsgType",
    "Pdu",
    "RequestId",
    "Status",
    "Submit",
    "SubmitResp",
    "Tag",
    "Tlv",
    "error_response",
    "is_response",
]

HEADER_LENGTH = 12
"""Octets in the SMGP header: PacketLength, RequestID, SequenceID (§4.1)."""
SEQUENCE_OFFSET = 8
"""Offset of the 4-octet big-endian SequenceID in every frame."""
MSG_ID_LENGTH = 10
"""Octets of an SMGP MsgID (§4.6)."""
NO_MSG_ID = bytes(MSG_ID_LENGTH)
VERSION = 0x30
"""ClientVersion / ServerVersion of SMGP 3.0 (§4.2)."""

_RESPONSE_BIT = 0x80000000
_NO_AUTHENTICATOR = bytes(16)


class RequestId(IntEnum):
    """RequestID values this codec handles (§4.2); responses have bit 31 set."""

    LOGIN = 0x00000001
    LOGIN_RESP = 0x80000001
    SUBMIT = 0x00000002
    SUBMIT_RESP = 0x80000002
    DELIVER = 0x00000003
    DELIVER_RESP = 0x80000003
    ACTIVE_TEST = 0x00000004
    ACTIVE_TEST_RESP = 0x80000004
    EXIT = 0x00000006
    EXIT_RESP = 0x80000006


class LoginMode(IntEnum):
    """Login LoginMode (§4.3)."""

    SEND = 0
    RECEIVE = 1
    TRANSMIT = 2


class MsgType(IntEnum):
    """Submit MsgType (§4.4)."""

    MO = 0
    MT = 6
    POINT_TO_POINT = 7


class Status(IntEnum):
    """Login_Resp / Submit_Resp / Deliver_Resp Status (§4.8), the codes this gateway names."""

    OK = 0
    SYSTEM_BUSY = 1
    TOO_MANY_CONNECTIONS = 2
    BAD_STRUCTURE = 10
    BAD_COMMAND = 11
    DUPLICATE_SEQUENCE = 12
    BAD_IP = 20
    AUTHENTICATION_FAILED = 21
    VERSION_TOO_HIGH = 22
    BAD_MSG_TYPE = 30
    BAD_PRIORITY = 31
    BAD_FEE_TYPE = 32
    BAD_FEE_CODE = 33
    BAD_MSG_FORMAT = 34
    BAD_TIME_FORMAT = 35
    BAD_MSG_LENGTH = 36
    EXPIRED = 37
    BAD_QUERY_TYPE = 38
    ROUTING_ERROR = 39
    BAD_FIXED_FEE = 40
    BAD_UPDATE_TYPE = 41
    BAD_ROUTE_ID = 42
    BAD_SERVICE_ID = 43
    BAD_VALID_TIME = 44
    BAD_AT_TIME = 45
    BAD_SRC_TERM_ID = 46
    BAD_DEST_TERM_ID = 47
    BAD_CHARGE_TERM_ID = 48
    BAD_SP_CODE = 49
    BAD_M_SERVICE_ID = 73
    SENDING_WINDOW_CLOSED = 74
    DAILY_VOLUME_EXCEEDED = 75
    ACCOUNT_EXPIRED = 76


class Tag(IntEnum):
    """TLV tags (§4.7)."""

    TP_PID = 0x0001
    TP_UDHI = 0x0002
    LINK_ID = 0x0003
    CHARGE_USER_TYPE = 0x0004
    CHARGE_TERM_TYPE = 0x0005
    CHARGE_TERM_PSEUDO = 0x0006
    DEST_TERM_TYPE = 0x0007
    DEST_TERM_PSEUDO = 0x0008
    PK_TOTAL = 0x0009
    PK_NUMBER = 0x000A
    SUBMIT_MSG_TYPE = 0x000B
    SP_DEAL_RESULT = 0x000C
    SRC_TERM_TYPE = 0x000D
    SRC_TERM_PSEUDO = 0x000E
    NODES_COUNT = 0x000F
    MSG_SRC = 0x0010
    SRC_TYPE = 0x0011
    M_SERVICE_ID = 0x0012


@dataclass(frozen=True, slots=True)
class Tlv:
    """One optional parameter as it is on the wire: Tag 2 | Length 2 | Value."""

    tag: int
    value: bytes


def is_response(request_id: int) -> bool:
    """Whether ``request_id`` names a response PDU (bit 31 set)."""
    return bool(request_id & _RESPONSE_BIT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdu:
    """Fields shared by every PDU: the header minus its length."""

    request_id: ClassVar[RequestId]
    sequence_id: int


# --- session management ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Login(Pdu):
    """Login (§4.3). ``timestamp`` is the MMDDHHMMSS value, see ``carriers.smgp.auth``."""

    request_id: ClassVar[RequestId] = RequestId.LOGIN
    client_id: str
    authenticator_client: bytes
    login_mode: int = LoginMode.TRANSMIT
    timestamp: int
    client_version: int = VERSION


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginResp(Pdu):
    """Login_Resp; ``authenticator_server`` is all zeros when the login failed."""

    request_id: ClassVar[RequestId] = RequestId.LOGIN_RESP
    status: int
    authenticator_server: bytes = _NO_AUTHENTICATOR
    server_version: int = VERSION


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveTest(Pdu):
    request_id: ClassVar[RequestId] = RequestId.ACTIVE_TEST


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveTestResp(Pdu):
    request_id: ClassVar[RequestId] = RequestId.ACTIVE_TEST_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class Exit(Pdu):
    request_id: ClassVar[RequestId] = RequestId.EXIT


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitResp(Pdu):
    request_id: ClassVar[RequestId] = RequestId.EXIT_RESP


# --- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Submit(Pdu):
    """Submit (§4.4). ``fee_type`` "00" free, "01" per message, "02" monthly, "03" capped;
    ``fee_code`` / ``fixed_fee`` in fen. ``msg_content`` is never decoded here:
    ``msg_format`` says how (0 ASCII, 4 binary, 8 UCS2, 15 GB18030)."""

    request_id: ClassVar[RequestId] = RequestId.SUBMIT
    msg_type: int = MsgType.MT
    need_report: int = 0
    priority: int = 0
    service_id: str = ""
    fee_type: str = "00"
    fee_code: str = "000000"
    fixed_fee: str = "000000"
    msg_format: int = 0
    valid_time: str = ""
    at_time: str = ""
    src_term_id: str = ""
    charge_term_id: str = ""
    dest_term_ids: tuple[str, ...]
    msg_content: bytes = b""
    reserve: bytes = bytes(8)
    tp_pid: int | None = None
    tp_udhi: int | None = None
    link_id: str | None = None
    pk_total: int | None = None
    pk_number: int | None = None
    msg_src: str | None = None
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitResp(Pdu):
    """Submit_Resp: ``msg_id`` (10 octets) is the report key."""

    request_id: ClassVar[RequestId] = RequestId.SUBMIT_RESP
    msg_id: bytes = NO_MSG_ID
    status: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Deliver(Pdu):
    """Deliver (§4.5): an MO (``is_report`` 0) or a status report (1), whose
    ``msg_content`` ``carriers.smgp.reports.decode_report`` reads."""

    request_id: ClassVar[RequestId] = RequestId.DELIVER
    msg_id: bytes = NO_MSG_ID
    is_report: int = 0
    msg_format: int = 0
    recv_time: str = ""
    src_term_id: str = ""
    dest_term_id: str = ""
    msg_content: bytes = b""
    reserve: bytes = bytes(8)
    tp_pid: int | None = None
    tp_udhi: int | None = None
    link_id: str | None = None
    pk_total: int | None = None
    pk_number: int | None = None
    msg_src: str | None = None
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverResp(Pdu):
    """Deliver_Resp: ``msg_id`` echoes the Deliver's."""

    request_id: ClassVar[RequestId] = RequestId.DELIVER_RESP
    msg_id: bytes = NO_MSG_ID
    status: int = 0


PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.request_id: cls
    for cls in (Login, LoginResp, Submit, SubmitResp, Deliver, DeliverResp, ActiveTest,
                ActiveTestResp, Exit, ExitResp)
}
"""Every PDU class the codec handles, by ``request_id``."""


def response_for(request: Pdu, status: int = 0, **fields: Any) -> Pdu:
    """The response to ``request``, echoing its SequenceID (a Deliver_Resp also its MsgID).

    Active_Test and Exit responses have no Status: a non-zero ``status`` is a ``ValueError``.
    """
    sequence_id = request.sequence_id
    if isinstance(request, Login):
        return LoginResp(sequence_id=sequence_id, status=status, **fields)
    if isinstance(request, Submit):
        return SubmitResp(sequence_id=sequence_id, status=status, **fields)
    if isinstance(request, Deliver):
        fields.setdefault("msg_id", request.msg_id)
        return DeliverResp(sequence_id=sequence_id, status=status, **fields)
    if isinstance(request, ActiveTest | Exit):
        if status:
            raise ValueError(f"{type(request).__name__} responses carry no status ({status})")
        cls = ActiveTestResp if isinstance(request, ActiveTest) else ExitResp
        return cls(sequence_id=sequence_id)
    raise ValueError(f"{type(request).__name__} is not a request that takes a response")


def error_response(error: DecodeError, *, frame: bytes = b"") -> Pdu | None:
    """The response to send for a frame that failed to decode, or ``None`` for no answer.

    ``frame`` is the undecodable frame: a Deliver_Resp echoes the Deliver's MsgID when its
    first 22 octets arrived (zeros otherwise).
    """
    request_id = error.command_id
    sequence_id = error.sequence_number
    if request_id is None or sequence_id is None:
        return None
    status = error.status
    if request_id == RequestId.LOGIN:
        return LoginResp(sequence_id=sequence_id, status=status)
    if request_id == RequestId.SUBMIT:
        return SubmitResp(sequence_id=sequence_id, status=status)
    if request_id == RequestId.DELIVER:
        msg_id = NO_MSG_ID
        if len(frame) >= HEADER_LENGTH + MSG_ID_LENGTH:
            msg_id = bytes(frame[HEADER_LENGTH:HEADER_LENGTH + MSG_ID_LENGTH])
        return DeliverResp(sequence_id=sequence_id, msg_id=msg_id, status=status)
    if request_id == RequestId.ACTIVE_TEST:
        return ActiveTestResp(sequence_id=sequence_id)
    if request_id == RequestId.EXIT:
        return ExitResp(sequence_id=sequence_id)
    return None
