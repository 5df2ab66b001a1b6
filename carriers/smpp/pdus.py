"""SMPP 3.4 PDUs as plain data, plus the protocol's numeric constants.

Every PDU is a frozen, slotted, keyword-only dataclass with a class-level ``command_id``. Text
fields are ``str`` holding the octets of a C-octet string one-to-one (latin-1), octet fields are
``bytes``. Optional parameters (TLVs) the gateway uses are typed fields that default to ``None``;
any other TLV is kept verbatim in ``other_tlvs`` so nothing a peer sends is silently dropped.

Nothing here touches sockets, clocks or storage; ``carriers.smpp.codec`` turns these into bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

from carriers.errors import DecodeError

__all__ = [
    "ESM_CLASS_DELIVERY_RECEIPT",
    "ESM_CLASS_TYPE_MASK",
    "ESM_CLASS_UDHI",
    "INTERFACE_VERSION_34",
    "PDU_CLASSES",
    "REQUEST_TO_RESPONSE",
    "BindReceiver",
    "BindReceiverResp",
    "BindRequest",
    "BindResponse",
    "BindTransceiver",
    "BindTransceiverResp",
    "BindTransmitter",
    "BindTransmitterResp",
    "CommandId",
    "CommandStatus",
    "DataSm",
    "DataSmResp",
    "DeliverSm",
    "DeliverSmResp",
    "EnquireLink",
    "EnquireLinkResp",
    "GenericNack",
    "MessageState",
    "Pdu",
    "ShortMessagePdu",
    "SubmitSm",
    "SubmitSmResp",
    "Tlv",
    "Unbind",
    "UnbindResp",
    "error_response",
    "is_response",
    "response_for",
]

INTERFACE_VERSION_34 = 0x34
"""``interface_version`` / ``sc_interface_version`` value for SMPP 3.4."""

ESM_CLASS_TYPE_MASK = 0x3C
"""Bits 5-2 of ``esm_class``: the message type."""
ESM_CLASS_DELIVERY_RECEIPT = 0x04
"""Message type of a deliver_sm / data_sm that carries an SMSC delivery receipt."""
ESM_CLASS_UDHI = 0x40
"""``short_message`` starts with a User Data Header."""

_RESPONSE_BIT = 0x80000000


class CommandId(IntEnum):
    """``command_id`` values; responses have bit 31 set."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


class CommandStatus(IntEnum):
    """``command_status`` error codes (SMPP 3.4 section 5.1.3)."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


class MessageState(IntEnum):
    """``message_state`` TLV values; the receipt ``stat:`` word is in ``receipts``."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


class Tlv(IntEnum):
    """Optional parameter tags of SMPP 3.4."""

    DEST_ADDR_SUBUNIT = 0x0005
    DEST_NETWORK_TYPE = 0x0006
    DEST_BEARER_TYPE = 0x0007
    DEST_TELEMATICS_ID = 0x0008
    SOURCE_ADDR_SUBUNIT = 0x000D
    SOURCE_NETWORK_TYPE = 0x000E
    SOURCE_BEARER_TYPE = 0x000F
    SOURCE_TELEMATICS_ID = 0x0010
    QOS_TIME_TO_LIVE = 0x0017
    PAYLOAD_TYPE = 0x0019
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    RECEIPTED_MESSAGE_ID = 0x001E
    MS_MSG_WAIT_FACILITIES = 0x0030
    PRIVACY_INDICATOR = 0x0201
    SOURCE_SUBADDRESS = 0x0202
    DEST_SUBADDRESS = 0x0203
    USER_MESSAGE_REFERENCE = 0x0204
    USER_RESPONSE_CODE = 0x0205
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    CALLBACK_NUM_PRES_IND = 0x0302
    CALLBACK_NUM_ATAG = 0x0303
    NUMBER_OF_MESSAGES = 0x0304
    CALLBACK_NUM = 0x0381
    DPF_RESULT = 0x0420
    SET_DPF = 0x0421
    MS_AVAILABILITY_STATUS = 0x0422
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427
    USSD_SERVICE_OP = 0x0501
    DISPLAY_TIME = 0x1201
    SMS_SIGNAL = 0x1203
    MS_VALIDITY = 0x1204
    ALERT_ON_MESSAGE_DELIVERY = 0x130C
    ITS_REPLY_TYPE = 0x1380
    ITS_SESSION_INFO = 0x1383


def is_response(command_id: int) -> bool:
    """Whether ``command_id`` names a response PDU (bit 31 set)."""
    return bool(command_id & _RESPONSE_BIT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdu:
    """Fields shared by every PDU: the header minus its length."""

    command_id: ClassVar[CommandId]
    sequence_number: int
    command_status: int = 0


# --- session management ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BindRequest(Pdu):
    """Body shared by the three bind requests; use the concrete subclasses."""

    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION_34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransmitter(BindRequest):
    """bind_transmitter: log in to send messages."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSMITTER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindReceiver(BindRequest):
    """bind_receiver: log in to receive messages."""

    command_id: ClassVar[CommandId] = CommandId.BIND_RECEIVER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransceiver(BindRequest):
    """bind_transceiver: log in to send and receive."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSCEIVER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindResponse(Pdu):
    """Body shared by the three bind responses. With a non-zero status it is usually absent."""

    system_id: str = ""
    sc_interface_version: int | None = None
    other_tlvs: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransmitterResp(BindResponse):
    """bind_transmitter_resp."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSMITTER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class BindReceiverResp(BindResponse):
    """bind_receiver_resp."""

    command_id: ClassVar[CommandId] = CommandId.BIND_RECEIVER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransceiverResp(BindResponse):
    """bind_transceiver_resp."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSCEIVER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class Unbind(Pdu):
    """unbind: ask the peer to end the session."""

    command_id: ClassVar[CommandId] = CommandId.UNBIND


@dataclass(frozen=True, slots=True, kw_only=True)
class UnbindResp(Pdu):
    """unbind_resp."""

    command_id: ClassVar[CommandId] = CommandId.UNBIND_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLink(Pdu):
    """enquire_link: keep-alive probe."""

    command_id: ClassVar[CommandId] = CommandId.ENQUIRE_LINK


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLinkResp(Pdu):
    """enquire_link_resp."""

    command_id: ClassVar[CommandId] = CommandId.ENQUIRE_LINK_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericNack(Pdu):
    """generic_nack: answer to a PDU that could not be understood at all."""

    command_id: ClassVar[CommandId] = CommandId.GENERIC_NACK


# --- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ShortMessagePdu(Pdu):
    """Body shared by submit_sm and deliver_sm; use the concrete subclasses.

    ``sm_length`` is not a field: it is always ``len(short_message)``. The text is never decoded
    here; ``data_coding`` tells the caller how. ``message_payload`` replaces ``short_message``
    for long content, and the two may not both be non-empty.
    """

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    # Optional parameters (TLVs).
    user_message_reference: int | None = None
    source_port: int | None = None
    destination_port: int | None = None
    sar_msg_ref_num: int | None = None
    sar_total_segments: int | None = None
    sar_segment_seqnum: int | None = None
    message_payload: bytes | None = None
    receipted_message_id: str | None = None
    message_state: int | None = None
    other_tlvs: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSm(ShortMessagePdu):
    """submit_sm: a message from the ESME to the SMSC."""

    command_id: ClassVar[CommandId] = CommandId.SUBMIT_SM


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSm(ShortMessagePdu):
    """deliver_sm: a message or delivery receipt from the SMSC to the ESME."""

    command_id: ClassVar[CommandId] = CommandId.DELIVER_SM


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSmResp(Pdu):
    """submit_sm_resp: ``message_id`` is the SMSC's id for the accepted message."""

    command_id: ClassVar[CommandId] = CommandId.SUBMIT_SM_RESP
    message_id: str = ""
    other_tlvs: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSmResp(Pdu):
    """deliver_sm_resp: ``message_id`` is unused in SMPP 3.4 and normally empty."""

    command_id: ClassVar[CommandId] = CommandId.DELIVER_SM_RESP
    message_id: str = ""
    other_tlvs: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSm(Pdu):
    """data_sm: a message in either direction; content travels in ``message_payload``."""

    command_id: ClassVar[CommandId] = CommandId.DATA_SM
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    # Optional parameters (TLVs).
    user_message_reference: int | None = None
    source_port: int | None = None
    destination_port: int | None = None
    sar_msg_ref_num: int | None = None
    sar_total_segments: int | None = None
    sar_segment_seqnum: int | None = None
    message_payload: bytes | None = None
    receipted_message_id: str | None = None
    message_state: int | None = None
    other_tlvs: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSmResp(Pdu):
    """data_sm_resp."""

    command_id: ClassVar[CommandId] = CommandId.DATA_SM_RESP
    message_id: str = ""
    other_tlvs: tuple[tuple[int, bytes], ...] = ()


PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.command_id: cls
    for cls in (
        BindTransmitter,
        BindReceiver,
        BindTransceiver,
        BindTransmitterResp,
        BindReceiverResp,
        BindTransceiverResp,
        Unbind,
        UnbindResp,
        SubmitSm,
        SubmitSmResp,
        DeliverSm,
        DeliverSmResp,
        DataSm,
        DataSmResp,
        EnquireLink,
        EnquireLinkResp,
        GenericNack,
    )
}
"""Every PDU class the codec handles, by ``command_id``."""

REQUEST_TO_RESPONSE: dict[int, type[Pdu]] = {
    CommandId.BIND_TRANSMITTER: BindTransmitterResp,
    CommandId.BIND_RECEIVER: BindReceiverResp,
    CommandId.BIND_TRANSCEIVER: BindTransceiverResp,
    CommandId.UNBIND: UnbindResp,
    CommandId.SUBMIT_SM: SubmitSmResp,
    CommandId.DELIVER_SM: DeliverSmResp,
    CommandId.DATA_SM: DataSmResp,
    CommandId.ENQUIRE_LINK: EnquireLinkResp,
}
"""Request ``command_id`` -> class of its response."""


def response_for(request: Pdu, *, command_status: int = 0, **fields: Any) -> Pdu:
    """Build the response to ``request``, echoing its sequence number.

    ``fields`` fill the response body, e.g. ``message_id=...`` for a submit_sm_resp.
    """
    response_class = REQUEST_TO_RESPONSE.get(request.command_id)
    if response_class is None:
        raise ValueError(f"{type(request).__name__} is not a request that takes a response")
    return response_class(
        sequence_number=request.sequence_number, command_status=command_status, **fields
    )


def error_response(error: DecodeError) -> Pdu:
    """The PDU to send back for a PDU that failed to decode.

    A request we know gets its own response carrying ``error.status``; anything else (unknown
    command, a broken response, an unreadable header) gets a generic_nack.
    """
    sequence_number = error.sequence_number or 0
    command_id = error.command_id
    response_class = REQUEST_TO_RESPONSE.get(command_id) if command_id is not None else None
    if response_class is None:
        return GenericNack(sequence_number=sequence_number, command_status=error.status)
    return response_class(sequence_number=sequence_number, command_status=error.status)
