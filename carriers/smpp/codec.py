"""SMPP 3.4 wire codec: ``decode(frame) -> Pdu`` and ``encode(pdu) -> bytes``.

``decode`` takes one whole frame as cut by ``carriers.framing.LengthPrefixedFramer`` and either
returns a PDU from ``carriers.smpp.pdus`` or raises ``DecodeError`` carrying the
``command_status`` to answer with. No other exception escapes it, whatever the input.

``encode`` validates as it goes and raises ``ValueError`` (``TypeError`` for a wrongly typed
field) naming the field, so a bad PDU never reaches the wire.

Each body layout is written out field by field rather than driven by a table, because this is
the busiest code in the gateway: one latin-1 decode of the frame, then a bounded ``str.find`` per
C-octet string, plain indexing or one ``struct`` call for runs of single octets, and (for
submit_sm / deliver_sm) instances built without the frozen-dataclass ``__init__``; see
``_slot_builder``. C-octet string maxima are those of SMPP 3.4, counted with the NUL.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from carriers.errors import DecodeError
from carriers.smpp.pdus import (
    BindReceiver,
    BindReceiverResp,
    BindRequest,
    BindResponse,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CommandId,
    CommandStatus,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    ShortMessagePdu,
    SubmitSm,
    SubmitSmResp,
    Tlv,
    Unbind,
    UnbindResp,
)

__all__ = ["HEADER_LENGTH", "SubmitTemplate", "decode", "encode"]

HEADER_LENGTH = 16
"""Octets in the SMPP header (command_length, command_id, command_status, sequence_number)."""

_HEADER = struct.Struct(">IIII")
_pack_header = _HEADER.pack
_unpack_header = _HEADER.unpack_from
_unpack_tlv_header = struct.Struct(">HH").unpack_from
_unpack_3_octets = struct.Struct(">3B").unpack_from
_unpack_5_octets = struct.Struct(">5B").unpack_from
_pack_tlv_header = struct.Struct(">HH").pack
_pack_tlv_u8 = struct.Struct(">HHB").pack
_pack_tlv_u16 = struct.Struct(">HHH").pack
_pack_sar = struct.Struct(">HHHHHBHHB").pack

# Plain ints: cheaper than enum attribute lookups on the hot path.
_RINVMSGLEN = int(CommandStatus.ESME_RINVMSGLEN)
_RINVCMDLEN = int(CommandStatus.ESME_RINVCMDLEN)
_RINVCMDID = int(CommandStatus.ESME_RINVCMDID)
_RINVSRCADR = int(CommandStatus.ESME_RINVSRCADR)
_RINVDSTADR = int(CommandStatus.ESME_RINVDSTADR)
_RINVMSGID = int(CommandStatus.ESME_RINVMSGID)
_RINVPASWD = int(CommandStatus.ESME_RINVPASWD)
_RINVSYSID = int(CommandStatus.ESME_RINVSYSID)
_RINVSERTYP = int(CommandStatus.ESME_RINVSERTYP)
_RINVSYSTYP = int(CommandStatus.ESME_RINVSYSTYP)
_RINVSCHED = int(CommandStatus.ESME_RINVSCHED)
_RINVEXPIRY = int(CommandStatus.ESME_RINVEXPIRY)
_RINVOPTPARSTREAM = int(CommandStatus.ESME_RINVOPTPARSTREAM)
_RINVPARLEN = int(CommandStatus.ESME_RINVPARLEN)
_RINVOPTPARAMVAL = int(CommandStatus.ESME_RINVOPTPARAMVAL)

_MAX_SHORT_MESSAGE = 254
_MAX_TLV_VALUE = 0xFFFF
_MAX_RECEIPTED_MESSAGE_ID = 65  # C-octet string, NUL included

# Maximum octets of each C-octet string field, NUL included.
_CSTRING_MAX: dict[str, int] = {
    "system_id": 16,
    "password": 9,
    "system_type": 13,
    "address_range": 41,
    "service_type": 6,
    "source_addr": 21,
    "destination_addr": 21,
    "schedule_delivery_time": 17,
    "validity_period": 17,
    "message_id": 65,
    "receipted_message_id": _MAX_RECEIPTED_MESSAGE_ID,
}
_DATA_SM_ADDR_MAX = 65

# --- optional parameters -----------------------------------------------------------------------

_U8, _U16, _OCTETS, _CSTRING = range(4)

_TlvSpec = dict[int, tuple[str, int]]

_MESSAGE_TLVS: _TlvSpec = {
    Tlv.USER_MESSAGE_REFERENCE: ("user_message_reference", _U16),
    Tlv.SOURCE_PORT: ("source_port", _U16),
    Tlv.DESTINATION_PORT: ("destination_port", _U16),
    Tlv.SAR_MSG_REF_NUM: ("sar_msg_ref_num", _U16),
    Tlv.SAR_TOTAL_SEGMENTS: ("sar_total_segments", _U8),
    Tlv.SAR_SEGMENT_SEQNUM: ("sar_segment_seqnum", _U8),
    Tlv.MESSAGE_PAYLOAD: ("message_payload", _OCTETS),
    Tlv.RECEIPTED_MESSAGE_ID: ("receipted_message_id", _CSTRING),
    Tlv.MESSAGE_STATE: ("message_state", _U8),
}
_BIND_RESPONSE_TLVS: _TlvSpec = {Tlv.SC_INTERFACE_VERSION: ("sc_interface_version", _U8)}
_NO_TYPED_TLVS: _TlvSpec = {}


class _Malformed(Exception):
    """Internal: a body fault; ``decode`` adds the header fields and turns it into DecodeError."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _cstring_fault(size: int, pos: int, name: str, max_octets: int, status: int) -> _Malformed:
    if pos >= size:
        return _Malformed(_RINVCMDLEN, f"body ends before {name}")
    return _Malformed(status, f"{name} has no NUL terminator within {max_octets} octets")


def _decode_tlvs(frame: bytes, pos: int, size: int, known: _TlvSpec) -> dict[str, Any]:
    """Decode the TLVs in ``frame[pos:size]`` into keyword arguments for the PDU class."""
    found: dict[str, Any] = {}
    other: list[tuple[int, bytes]] = []
    while pos < size:
        if size - pos < 4:
            raise _Malformed(
                _RINVOPTPARSTREAM, f"{size - pos} stray octets where a TLV header should start"
            )
        tag, length = _unpack_tlv_header(frame, pos)
        start = pos + 4
        pos = start + length
        if pos > size:
            raise _Malformed(
                _RINVOPTPARSTREAM,
                f"TLV 0x{tag:04X} declares {length} octets but only {size - start} remain",
            )
        spec = known.get(tag)
        if spec is None:
            other.append((tag, frame[start:pos]))
            continue
        name, kind = spec
        if name in found:
            raise _Malformed(_RINVOPTPARSTREAM, f"TLV {name} (0x{tag:04X}) appears twice")
        if kind == _U8:
            if length != 1:
                raise _Malformed(_RINVPARLEN, f"TLV {name} must be 1 octet, not {length}")
            found[name] = frame[start]
        elif kind == _U16:
            if length != 2:
                raise _Malformed(_RINVPARLEN, f"TLV {name} must be 2 octets, not {length}")
            found[name] = (frame[start] << 8) | frame[start + 1]
        elif kind == _OCTETS:
            found[name] = frame[start:pos]
        else:
            # A C-octet string. Some SMSCs leave out the NUL; accept that, refuse inner NULs.
            value = frame[start:pos]
            if value[-1:] == b"\0":
                value = value[:-1]
            if len(value) >= _MAX_RECEIPTED_MESSAGE_ID:
                raise _Malformed(
                    _RINVPARLEN,
                    f"TLV {name} is {length} octets; at most {_MAX_RECEIPTED_MESSAGE_ID} allowed",
                )
            if b"\0" in value:
                raise _Malformed(_RINVOPTPARAMVAL, f"TLV {name} contains a NUL before its end")
            found[name] = value.decode("latin-1")
    if other:
        found["other_tlvs"] = tuple(other)
    return found


# --- decoders ----------------------------------------------------------------------------------

_Decoder = Callable[[bytes, int, int, int], Pdu]


def _header_only_decoder(cls: type[Pdu]) -> _Decoder:
    name = cls.command_id.name.lower()

    def decode_header_only(frame: bytes, size: int, status: int, sequence: int) -> Pdu:
        if size != HEADER_LENGTH:
            raise _Malformed(
                _RINVCMDLEN, f"{name} has no body, but {size - HEADER_LENGTH} octets follow"
            )
        return cls(sequence_number=sequence, command_status=status)

    return decode_header_only


def _bind_decoder(cls: type[BindRequest]) -> _Decoder:
    def decode_bind(frame: bytes, size: int, status: int, sequence: int) -> Pdu:
        text = frame.decode("latin-1")
        find = text.find
        nul = find("\0", 16, 32)
        if nul < 0:
            raise _cstring_fault(size, 16, "system_id", 16, _RINVSYSID)
        system_id = text[16:nul]
        pos = nul + 1
        nul = find("\0", pos, pos + 9)
        if nul < 0:
            raise _cstring_fault(size, pos, "password", 9, _RINVPASWD)
        password = text[pos:nul]
        pos = nul + 1
        nul = find("\0", pos, pos + 13)
        if nul < 0:
            raise _cstring_fault(size, pos, "system_type", 13, _RINVSYSTYP)
        system_type = text[pos:nul]
        interface_version, addr_ton, addr_npi = _unpack_3_octets(frame, nul + 1)
        pos = nul + 4
        nul = find("\0", pos, pos + 41)
        if nul < 0:
            raise _cstring_fault(size, pos, "address_range", 41, _RINVCMDLEN)
        if nul + 1 != size:
            raise _Malformed(
                _RINVCMDLEN, f"{size - nul - 1} octets follow address_range; binds have no TLVs"
            )
        return cls(
            sequence_number=sequence,
            command_status=status,
            system_id=system_id,
            password=password,
            system_type=system_type,
            interface_version=interface_version,
            addr_ton=addr_ton,
            addr_npi=addr_npi,
            address_range=text[pos:nul],
        )

    return decode_bind


def _bind_response_decoder(cls: type[BindResponse]) -> _Decoder:
    def decode_bind_response(frame: bytes, size: int, status: int, sequence: int) -> Pdu:
        if size == HEADER_LENGTH:  # the body is left out of error responses
            return cls(sequence_number=sequence, command_status=status)
        nul = frame.find(b"\0", 16, 32)
        if nul < 0:
            raise _cstring_fault(size, 16, "system_id", 16, _RINVSYSID)
        system_id = frame[16:nul].decode("latin-1")
        if nul + 1 == size:
            return cls(sequence_number=sequence, command_status=status, system_id=system_id)
        return cls(
            sequence_number=sequence,
            command_status=status,
            system_id=system_id,
            **_decode_tlvs(frame, nul + 1, size, _BIND_RESPONSE_TLVS),
        )

    return decode_bind_response


def _message_id_response_decoder(cls: type[SubmitSmResp | DeliverSmResp | DataSmResp]) -> _Decoder:
    builder = _slot_builder(cls)
    new_builder = object.__new__

    def decode_message_id_response(frame: bytes, size: int, status: int, sequence: int) -> Pdu:
        if size == HEADER_LENGTH:  # error responses (and some peers' deliver_sm_resp) omit it
            return cls(sequence_number=sequence, command_status=status)
        nul = frame.find(b"\0", 16, 81)
        if nul < 0:
            raise _cstring_fault(size, 16, "message_id", 65, _RINVMSGID)
        message_id = frame[16:nul].decode("latin-1")
        if nul + 1 == size:  # every submit_sm_resp of a big dispatch: see _slot_builder
            pdu = new_builder(builder)
            pdu.sequence_number = sequence
            pdu.command_status = status
            pdu.message_id = message_id
            pdu.other_tlvs = ()
            pdu.__class__ = cls
            return pdu  # type: ignore[no-any-return]
        return cls(
            sequence_number=sequence,
            command_status=status,
            message_id=message_id,
            **_decode_tlvs(frame, nul + 1, size, _NO_TYPED_TLVS),
        )

    return decode_message_id_response


def _slot_builder(cls: type[Pdu]) -> type[Any]:
    """A twin of ``cls`` with the same slots whose fields can be assigned one by one.

    A frozen dataclass's ``__init__`` stores each field through ``object.__setattr__``, which
    costs about five plain slot stores. The hot decoders fill an instance of this twin instead
    and then assign ``__class__ = cls``, which Python allows between classes with identical
    slots. The result is an ordinary, frozen ``cls``. Every field must be set before the
    relabelling: the round-trip tests compare every field and would trip on a missing one.
    """
    namespace = {
        "__slots__": (),
        "__setattr__": object.__setattr__,
        "__delattr__": object.__delattr__,
    }
    return type(f"_{cls.__name__}Builder", (cls,), namespace)


def _short_message_decoder(cls: type[ShortMessagePdu]) -> _Decoder:
    builder = _slot_builder(cls)
    new_builder = object.__new__

    def decode_short_message(frame: bytes, size: int, status: int, sequence: int) -> Pdu:
        text = frame.decode("latin-1")
        find = text.find
        nul = find("\0", 16, 22)
        if nul < 0:
            raise _cstring_fault(size, 16, "service_type", 6, _RINVSERTYP)
        service_type = text[16:nul]
        source_addr_ton = frame[nul + 1]
        source_addr_npi = frame[nul + 2]
        pos = nul + 3
        nul = find("\0", pos, pos + 21)
        if nul < 0:
            raise _cstring_fault(size, pos, "source_addr", 21, _RINVSRCADR)
        source_addr = text[pos:nul]
        dest_addr_ton = frame[nul + 1]
        dest_addr_npi = frame[nul + 2]
        pos = nul + 3
        nul = find("\0", pos, pos + 21)
        if nul < 0:
            raise _cstring_fault(size, pos, "destination_addr", 21, _RINVDSTADR)
        destination_addr = text[pos:nul]
        esm_class, protocol_id, priority_flag = _unpack_3_octets(frame, nul + 1)
        pos = nul + 4
        nul = find("\0", pos, pos + 17)
        if nul < 0:
            raise _cstring_fault(size, pos, "schedule_delivery_time", 17, _RINVSCHED)
        schedule_delivery_time = text[pos:nul]
        pos = nul + 1
        nul = find("\0", pos, pos + 17)
        if nul < 0:
            raise _cstring_fault(size, pos, "validity_period", 17, _RINVEXPIRY)
        validity_period = text[pos:nul]
        (
            registered_delivery,
            replace_if_present_flag,
            data_coding,
            sm_default_msg_id,
            sm_length,
        ) = _unpack_5_octets(frame, nul + 1)
        pos = nul + 6
        end = pos + sm_length
        if end > size:
            raise _Malformed(
                _RINVMSGLEN, f"sm_length {sm_length} runs past the end of the PDU by {end - size}"
            )
        if sm_length > _MAX_SHORT_MESSAGE:
            raise _Malformed(_RINVMSGLEN, f"sm_length {sm_length} exceeds {_MAX_SHORT_MESSAGE}")
        # Build on the mutable twin (see _slot_builder), then relabel it as ``cls``.
        pdu = new_builder(builder)
        pdu.sequence_number = sequence
        pdu.command_status = status
        pdu.service_type = service_type
        pdu.source_addr_ton = source_addr_ton
        pdu.source_addr_npi = source_addr_npi
        pdu.source_addr = source_addr
        pdu.dest_addr_ton = dest_addr_ton
        pdu.dest_addr_npi = dest_addr_npi
        pdu.destination_addr = destination_addr
        pdu.esm_class = esm_class
        pdu.protocol_id = protocol_id
        pdu.priority_flag = priority_flag
        pdu.schedule_delivery_time = schedule_delivery_time
        pdu.validity_period = validity_period
        pdu.registered_delivery = registered_delivery
        pdu.replace_if_present_flag = replace_if_present_flag
        pdu.data_coding = data_coding
        pdu.sm_default_msg_id = sm_default_msg_id
        pdu.short_message = frame[pos:end]
        pdu.user_message_reference = None
        pdu.source_port = None
        pdu.destination_port = None
        pdu.sar_msg_ref_num = None
        pdu.sar_total_segments = None
        pdu.sar_segment_seqnum = None
        pdu.message_payload = None
        pdu.receipted_message_id = None
        pdu.message_state = None
        pdu.other_tlvs = ()
        if end < size:
            tlvs = _decode_tlvs(frame, end, size, _MESSAGE_TLVS)
            if sm_length and "message_payload" in tlvs:
                raise _Malformed(
                    _RINVMSGLEN, "short_message and message_payload are both present; send one"
                )
            for name, value in tlvs.items():
                setattr(pdu, name, value)
        pdu.__class__ = cls
        relabelled: ShortMessagePdu = pdu
        return relabelled

    return decode_short_message


def _decode_data_sm(frame: bytes, size: int, status: int, sequence: int) -> Pdu:
    text = frame.decode("latin-1")
    find = text.find
    nul = find("\0", 16, 22)
    if nul < 0:
        raise _cstring_fault(size, 16, "service_type", 6, _RINVSERTYP)
    service_type = text[16:nul]
    source_addr_ton = frame[nul + 1]
    source_addr_npi = frame[nul + 2]
    pos = nul + 3
    nul = find("\0", pos, pos + _DATA_SM_ADDR_MAX)
    if nul < 0:
        raise _cstring_fault(size, pos, "source_addr", _DATA_SM_ADDR_MAX, _RINVSRCADR)
    source_addr = text[pos:nul]
    dest_addr_ton = frame[nul + 1]
    dest_addr_npi = frame[nul + 2]
    pos = nul + 3
    nul = find("\0", pos, pos + _DATA_SM_ADDR_MAX)
    if nul < 0:
        raise _cstring_fault(size, pos, "destination_addr", _DATA_SM_ADDR_MAX, _RINVDSTADR)
    destination_addr = text[pos:nul]
    esm_class, registered_delivery, data_coding = _unpack_3_octets(frame, nul + 1)
    return DataSm(
        sequence_number=sequence,
        command_status=status,
        service_type=service_type,
        source_addr_ton=source_addr_ton,
        source_addr_npi=source_addr_npi,
        source_addr=source_addr,
        dest_addr_ton=dest_addr_ton,
        dest_addr_npi=dest_addr_npi,
        destination_addr=destination_addr,
        esm_class=esm_class,
        registered_delivery=registered_delivery,
        data_coding=data_coding,
        **_decode_tlvs(frame, nul + 4, size, _MESSAGE_TLVS),
    )


_DECODERS: dict[int, _Decoder] = {
    int(BindTransmitter.command_id): _bind_decoder(BindTransmitter),
    int(BindReceiver.command_id): _bind_decoder(BindReceiver),
    int(BindTransceiver.command_id): _bind_decoder(BindTransceiver),
    int(BindTransmitterResp.command_id): _bind_response_decoder(BindTransmitterResp),
    int(BindReceiverResp.command_id): _bind_response_decoder(BindReceiverResp),
    int(BindTransceiverResp.command_id): _bind_response_decoder(BindTransceiverResp),
    int(Unbind.command_id): _header_only_decoder(Unbind),
    int(UnbindResp.command_id): _header_only_decoder(UnbindResp),
    int(EnquireLink.command_id): _header_only_decoder(EnquireLink),
    int(EnquireLinkResp.command_id): _header_only_decoder(EnquireLinkResp),
    int(GenericNack.command_id): _header_only_decoder(GenericNack),
    int(SubmitSm.command_id): _short_message_decoder(SubmitSm),
    int(DeliverSm.command_id): _short_message_decoder(DeliverSm),
    int(SubmitSmResp.command_id): _message_id_response_decoder(SubmitSmResp),
    int(DeliverSmResp.command_id): _message_id_response_decoder(DeliverSmResp),
    int(DataSm.command_id): _decode_data_sm,
    int(DataSmResp.command_id): _message_id_response_decoder(DataSmResp),
}


def decode(frame: bytes | bytearray | memoryview) -> Pdu:
    """Decode one whole SMPP PDU, header included.

    Raises ``DecodeError`` whose ``status`` is the command_status to answer with; nothing else
    escapes. Responses whose body is empty (as SMSCs send with an error status) decode with
    default field values.
    """
    if type(frame) is not bytes:
        frame = bytes(frame)
    size = len(frame)
    if size < HEADER_LENGTH:
        command_id = int.from_bytes(frame[4:8], "big") if size >= 8 else None
        raise DecodeError(
            f"PDU of {size} octets is shorter than the {HEADER_LENGTH}-octet header",
            status=_RINVCMDLEN,
            command_id=command_id,
        )
    command_length, command_id, status, sequence = _unpack_header(frame)
    if command_length != size:
        raise DecodeError(
            f"command_length {command_length} does not match the {size} octets received",
            status=_RINVCMDLEN,
            command_id=command_id,
            sequence_number=sequence,
        )
    decoder = _DECODERS.get(command_id)
    if decoder is None:
        raise DecodeError(
            f"command_id 0x{command_id:08X} is unknown or not supported",
            status=_RINVCMDID,
            command_id=command_id,
            sequence_number=sequence,
        )
    try:
        return decoder(frame, size, status, sequence)
    except _Malformed as fault:
        raise DecodeError(
            fault.reason, status=fault.status, command_id=command_id, sequence_number=sequence
        ) from None
    except (IndexError, struct.error):
        raise DecodeError(
            "body ends before its mandatory fields do",
            status=_RINVCMDLEN,
            command_id=command_id,
            sequence_number=sequence,
        ) from None


# --- encoders ----------------------------------------------------------------------------------

_Encoder = Callable[[Any], bytes]


def _encode_header_only(pdu: Pdu) -> bytes:
    return _pack_header(HEADER_LENGTH, pdu.command_id, pdu.command_status, pdu.sequence_number)


def _frame(pdu: Pdu, body: bytes) -> bytes:
    return (
        _pack_header(
            HEADER_LENGTH + len(body), pdu.command_id, pdu.command_status, pdu.sequence_number
        )
        + body
    )


def _encode_other_tlvs(pdu: Any, known: _TlvSpec) -> bytes:
    parts = []
    for tag, value in pdu.other_tlvs:
        if tag in known:
            raise ValueError(
                f"{type(pdu).__name__}.other_tlvs holds tag 0x{tag:04X}, which has its own "
                f"field {known[tag][0]!r}; set that field instead"
            )
        parts.append(_pack_tlv_header(tag, len(value)))
        parts.append(value)
    return b"".join(parts)


def _encode_bind(pdu: BindRequest) -> bytes:
    system_id = pdu.system_id
    password = pdu.password
    system_type = pdu.system_type
    address_range = pdu.address_range
    if (
        len(system_id) > 15
        or len(password) > 8
        or len(system_type) > 12
        or len(address_range) > 40
        or "\0" in system_id
        or "\0" in password
        or "\0" in system_type
        or "\0" in address_range
    ):
        raise _invalid(pdu)
    body = "%s\0%s\0%s\0%c%c%c%s\0" % (  # noqa: UP031 - one C-level call builds the body
        system_id,
        password,
        system_type,
        pdu.interface_version,
        pdu.addr_ton,
        pdu.addr_npi,
        address_range,
    )
    return _frame(pdu, body.encode("latin-1"))


def _encode_bind_response(pdu: BindResponse) -> bytes:
    system_id = pdu.system_id
    version = pdu.sc_interface_version
    if pdu.command_status and not system_id and version is None and not pdu.other_tlvs:
        return _encode_header_only(pdu)  # error responses carry no body
    if len(system_id) > 15 or "\0" in system_id:
        raise _invalid(pdu)
    body = system_id.encode("latin-1") + b"\0"
    if version is not None:
        body += _pack_tlv_u8(Tlv.SC_INTERFACE_VERSION, 1, version)
    if pdu.other_tlvs:
        body += _encode_other_tlvs(pdu, _BIND_RESPONSE_TLVS)
    return _frame(pdu, body)


def _message_id_response_encoder(omit_body_on_error: bool) -> _Encoder:
    def encode_message_id_response(pdu: Any) -> bytes:
        message_id = pdu.message_id
        if omit_body_on_error and pdu.command_status and not message_id and not pdu.other_tlvs:
            return _encode_header_only(pdu)
        if len(message_id) > 64 or "\0" in message_id:
            raise _invalid(pdu)
        body = message_id.encode("latin-1") + b"\0"
        if pdu.other_tlvs:
            body += _encode_other_tlvs(pdu, _NO_TYPED_TLVS)
        return _frame(pdu, body)

    return encode_message_id_response


def _encode_message_tlvs(pdu: Any) -> bytes:
    """Encode the typed TLVs shared by submit_sm, deliver_sm and data_sm, then the others."""
    parts: list[bytes] = []
    append = parts.append
    ref = pdu.sar_msg_ref_num
    total = pdu.sar_total_segments
    segment = pdu.sar_segment_seqnum
    if ref is not None and total is not None and segment is not None:
        append(_pack_sar(0x020C, 2, ref, 0x020E, 1, total, 0x020F, 1, segment))
    else:
        if ref is not None:
            append(_pack_tlv_u16(0x020C, 2, ref))
        if total is not None:
            append(_pack_tlv_u8(0x020E, 1, total))
        if segment is not None:
            append(_pack_tlv_u8(0x020F, 1, segment))
    value = pdu.user_message_reference
    if value is not None:
        append(_pack_tlv_u16(0x0204, 2, value))
    value = pdu.source_port
    if value is not None:
        append(_pack_tlv_u16(0x020A, 2, value))
    value = pdu.destination_port
    if value is not None:
        append(_pack_tlv_u16(0x020B, 2, value))
    value = pdu.receipted_message_id
    if value is not None:
        if len(value) >= _MAX_RECEIPTED_MESSAGE_ID or "\0" in value:
            raise _invalid(pdu)
        append(_pack_tlv_header(0x001E, len(value) + 1))
        append(value.encode("latin-1") + b"\0")
    value = pdu.message_state
    if value is not None:
        append(_pack_tlv_u8(0x0427, 1, value))
    value = pdu.message_payload
    if value is not None:
        append(_pack_tlv_header(0x0424, len(value)))
        append(value)
    if pdu.other_tlvs:
        append(_encode_other_tlvs(pdu, _MESSAGE_TLVS))
    return b"".join(parts)


def _encode_short_message(pdu: ShortMessagePdu) -> bytes:
    service_type = pdu.service_type
    source_addr = pdu.source_addr
    destination_addr = pdu.destination_addr
    schedule_delivery_time = pdu.schedule_delivery_time
    validity_period = pdu.validity_period
    short_message = pdu.short_message
    if (
        len(service_type) > 5
        or len(source_addr) > 20
        or len(destination_addr) > 20
        or len(schedule_delivery_time) > 16
        or len(validity_period) > 16
        or len(short_message) > _MAX_SHORT_MESSAGE
        or "\0" in service_type
        or "\0" in source_addr
        or "\0" in destination_addr
        or "\0" in schedule_delivery_time
        or "\0" in validity_period
        or (short_message and pdu.message_payload is not None)
    ):
        raise _invalid(pdu)
    mandatory = (
        "%s\0%c%c%s\0%c%c%s\0%c%c%c%s\0%s\0%c%c%c%c%c"  # noqa: UP031 - one C-level call
        % (
            service_type,
            pdu.source_addr_ton,
            pdu.source_addr_npi,
            source_addr,
            pdu.dest_addr_ton,
            pdu.dest_addr_npi,
            destination_addr,
            pdu.esm_class,
            pdu.protocol_id,
            pdu.priority_flag,
            schedule_delivery_time,
            validity_period,
            pdu.registered_delivery,
            pdu.replace_if_present_flag,
            pdu.data_coding,
            pdu.sm_default_msg_id,
            len(short_message),
        )
    ).encode("latin-1")
    tlvs = _encode_message_tlvs(pdu)
    header = _pack_header(
        HEADER_LENGTH + len(mandatory) + len(short_message) + len(tlvs),
        pdu.command_id,
        pdu.command_status,
        pdu.sequence_number,
    )
    return b"".join((header, mandatory, short_message, tlvs))


def _encode_data_sm(pdu: DataSm) -> bytes:
    service_type = pdu.service_type
    source_addr = pdu.source_addr
    destination_addr = pdu.destination_addr
    if (
        len(service_type) > 5
        or len(source_addr) > 64
        or len(destination_addr) > 64
        or "\0" in service_type
        or "\0" in source_addr
        or "\0" in destination_addr
    ):
        raise _invalid(pdu)
    mandatory = "%s\0%c%c%s\0%c%c%s\0%c%c%c" % (  # noqa: UP031 - one C-level call
        service_type,
        pdu.source_addr_ton,
        pdu.source_addr_npi,
        source_addr,
        pdu.dest_addr_ton,
        pdu.dest_addr_npi,
        destination_addr,
        pdu.esm_class,
        pdu.registered_delivery,
        pdu.data_coding,
    )
    return _frame(pdu, mandatory.encode("latin-1") + _encode_message_tlvs(pdu))


_ENCODERS: dict[type, _Encoder] = {
    BindTransmitter: _encode_bind,
    BindReceiver: _encode_bind,
    BindTransceiver: _encode_bind,
    BindTransmitterResp: _encode_bind_response,
    BindReceiverResp: _encode_bind_response,
    BindTransceiverResp: _encode_bind_response,
    Unbind: _encode_header_only,
    UnbindResp: _encode_header_only,
    EnquireLink: _encode_header_only,
    EnquireLinkResp: _encode_header_only,
    GenericNack: _encode_header_only,
    SubmitSm: _encode_short_message,
    DeliverSm: _encode_short_message,
    SubmitSmResp: _message_id_response_encoder(omit_body_on_error=True),
    DeliverSmResp: _message_id_response_encoder(omit_body_on_error=False),
    DataSm: _encode_data_sm,
    DataSmResp: _message_id_response_encoder(omit_body_on_error=False),
}


def encode_deliver_sm_resp(sequence_number: int, command_status: int = 0) -> bytes:
    """``encode(DeliverSmResp(sequence_number=…, command_status=…))`` without building the
    PDU: an ESME answers every receipt of a big dispatch with one."""
    return _pack_header(_DELIVER_SM_RESP_LENGTH, _DELIVER_SM_RESP, command_status,
                        sequence_number) + b"\0"


_DELIVER_SM_RESP = int(CommandId.DELIVER_SM_RESP)
_DELIVER_SM_RESP_LENGTH = HEADER_LENGTH + 1  # the empty message_id's NUL


def encode(pdu: Pdu) -> bytes:
    """Encode ``pdu`` to wire bytes, header included.

    Raises ``ValueError`` naming the field when a value does not fit its wire slot (a C-octet
    string too long or holding a NUL, an integer out of range, short_message over 254 octets,
    short_message together with message_payload), ``TypeError`` for a wrongly typed field or an
    object that is not a PDU of ``carriers.smpp.pdus``.

    Error responses to submit_sm and bind with no body fields set are sent header-only, as
    SMPP 3.4 prescribes.
    """
    encoder = _ENCODERS.get(type(pdu))
    if encoder is None:
        raise TypeError(f"cannot encode {type(pdu).__name__}: not an SMPP PDU class")
    try:
        return encoder(pdu)
    except (struct.error, OverflowError, UnicodeEncodeError, TypeError) as exc:
        raise _invalid(pdu, exc) from None


# --- validation, used only once encoding has failed --------------------------------------------

_U16_FIELDS = frozenset(
    {"user_message_reference", "source_port", "destination_port", "sar_msg_ref_num"}
)
_U32_FIELDS = frozenset({"sequence_number", "command_status"})
_OCTET_FIELDS = frozenset({"short_message", "message_payload"})


def _invalid(pdu: Any, cause: Exception | None = None) -> Exception:
    """Find the field of ``pdu`` that cannot be encoded and describe it.

    Fields are classified by name: C-octet strings are the keys of ``_CSTRING_MAX``, octet
    strings are ``_OCTET_FIELDS``, ``other_tlvs`` is checked pair by pair, the rest are unsigned
    integers of 1, 2 or 4 octets.
    """
    cls_name = type(pdu).__name__
    for field in fields(pdu):
        name = field.name
        value = getattr(pdu, name)
        where = f"{cls_name}.{name}"
        if value is None and field.default is None:
            continue
        if name == "other_tlvs":
            problem = _other_tlvs_problem(where, value)
            if problem is not None:
                return problem
        elif name in _CSTRING_MAX:
            max_octets = _CSTRING_MAX[name]
            if isinstance(pdu, DataSm) and name in ("source_addr", "destination_addr"):
                max_octets = _DATA_SM_ADDR_MAX
            problem = _cstring_problem(where, value, max_octets)
            if problem is not None:
                return problem
        elif name in _OCTET_FIELDS:
            if not isinstance(value, bytes):
                return TypeError(f"{where} must be bytes, not {type(value).__name__}")
            limit = _MAX_SHORT_MESSAGE if name == "short_message" else _MAX_TLV_VALUE
            if len(value) > limit:
                return ValueError(f"{where} is {len(value)} octets; at most {limit} fit")
        else:
            if name in _U32_FIELDS:
                limit = 0xFFFFFFFF
            elif name in _U16_FIELDS:
                limit = 0xFFFF
            else:
                limit = 0xFF
            if not isinstance(value, int):
                return TypeError(f"{where} must be an int, not {type(value).__name__}")
            if not 0 <= value <= limit:
                return ValueError(f"{where} is {value}; it must be within 0..{limit}")
    if isinstance(pdu, ShortMessagePdu) and pdu.short_message and pdu.message_payload is not None:
        return ValueError(
            f"{cls_name} has both short_message and message_payload; SMPP allows only one "
            "(put long content in message_payload and leave short_message empty)"
        )
    return ValueError(f"cannot encode {cls_name}: {cause}")


def _cstring_problem(where: str, value: Any, max_octets: int) -> Exception | None:
    if not isinstance(value, str):
        return TypeError(f"{where} must be str, not {type(value).__name__}")
    if len(value) >= max_octets:
        return ValueError(
            f"{where} is {len(value)} characters; this C-octet string holds at most "
            f"{max_octets - 1} plus its NUL"
        )
    if "\0" in value:
        return ValueError(f"{where} contains a NUL character, which would end it early")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return ValueError(f"{where} has characters outside latin-1 ({value!r}); use ASCII")
    return None


def _other_tlvs_problem(where: str, value: Any) -> Exception | None:
    if not isinstance(value, tuple):
        return TypeError(f"{where} must be a tuple of (tag, bytes) pairs")
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 2):
            return TypeError(f"{where} must hold (tag, bytes) pairs, found {item!r}")
        tag, octets = item
        if not isinstance(tag, int) or not 0 <= tag <= 0xFFFF:
            return ValueError(f"{where} has tag {tag!r}; tags are integers 0..0xFFFF")
        if not isinstance(octets, bytes):
            return TypeError(f"{where} value for tag 0x{tag:04X} must be bytes")
        if len(octets) > _MAX_TLV_VALUE:
            return ValueError(f"{where} value for tag 0x{tag:04X} exceeds {_MAX_TLV_VALUE} octets")
    return None


# --- one message to many numbers --------------------------------------------------------------

_DESTINATION_MAX = 20  # octets before the NUL of destination_addr (C-octet string of 21)


class SubmitTemplate:
    """A submit_sm encoded once, whose destination_addr is filled in per recipient.

    A digest goes to a million numbers with the same bytes but the destination: splicing the
    number into the pre-encoded body is much cheaper than encoding a whole PDU each time.
    The sequence number is left 0 for the session to patch in. The pdu's own
    ``user_message_reference`` is left out of the template, so one template serves every
    reference: give it per frame instead.
    """

    __slots__ = ("_prefix", "_suffix")

    def __init__(self, pdu: SubmitSm) -> None:
        frame = encode(
            replace(pdu, destination_addr="", sequence_number=0, user_message_reference=None)
        )
        position = _HEADER.size
        position = frame.index(b"\0", position) + 1 + 2  # service_type, source ton/npi
        position = frame.index(b"\0", position) + 1 + 2  # source_addr, dest ton/npi
        self._prefix = frame[_HEADER.size:position]
        self._suffix = frame[position + 1:]  # after the empty destination's NUL

    def frame(self, destination: str, reference: int | None = None) -> bytes:
        """The whole submit_sm to ``destination``, with a ``user_message_reference`` TLV
        (appended after any others the template holds) when ``reference`` is given."""
        address = destination.encode("latin-1")
        if len(address) > _DESTINATION_MAX or b"\0" in address:
            raise ValueError(f"destination_addr {destination!r}: at most 20 octets, no NUL")
        body = self._prefix + address + b"\0" + self._suffix
        if reference is not None:
            if type(reference) is not int or not 0 <= reference <= 0xFFFF:
                raise ValueError(f"user_message_reference {reference!r}: must be 0..65535")
            body += _pack_tlv_u16(0x0204, 2, reference)  # user_message_reference
        return _HEADER.pack(_HEADER.size + len(body), CommandId.SUBMIT_SM, 0, 0) + body
