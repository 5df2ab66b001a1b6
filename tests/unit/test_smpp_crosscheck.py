"""Cross-check our SMPP codec against two independent ones, in both directions.

* smpp.pdu3 (import name ``smpp.pdu``; the codec Jasmin uses) models most fields as enums and
  named tuples; we convert with its own field encoders so the comparison uses its reading.
* smpplib models fields as plain attributes: ints, ``str`` when generating, ``bytes`` when parsing.

What they cannot express, and so is left out here:
* smpp.pdu3 parses schedule_delivery_time / validity_period into datetimes and insists on the
  SMPP time format, so those stay empty; it accepts only known enum values for ton, npi,
  esm_class, registered_delivery, priority and replace_if_present; it rejects TLVs a PDU does not
  list (receipted_message_id on submit_sm) and drops unknown (vendor) TLVs, so other_tlvs is empty.
* smpplib ignores the value of the ``sequence`` keyword (we set the attribute afterwards), fails
  on unknown TLVs unless told to skip them (and then drops them), leaves out a TLV whose value is
  empty, and encodes text TLVs as UTF-8, so we use ASCII there.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest
import smpplib.command
import smpplib.smpp
from hypothesis import given, settings
from hypothesis import strategies as st
from smpp.pdu import operations as jasmin_operations
from smpp.pdu import pdu_encoding as jasmin_encoding
from smpp.pdu import pdu_types as jasmin_types

from carriers.smpp.codec import decode, encode
from carriers.smpp.pdus import (
    BindTransceiver,
    DeliverSm,
    EnquireLink,
    MessageState,
    Pdu,
    ShortMessagePdu,
    SubmitSm,
    SubmitSmResp,
)

SUBMIT_SM = SubmitSm(
    sequence_number=2,
    source_addr_npi=1,
    source_addr="10690001",
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="8613800138000",
    esm_class=0x40,
    protocol_id=0,
    priority_flag=1,
    registered_delivery=1,
    data_coding=8,
    short_message=b"\x05\x00\x03\x2a\x02\x01" + "省报手机版".encode("utf-16-be"),
    sar_msg_ref_num=0x0102,
    sar_total_segments=2,
    sar_segment_seqnum=1,
    source_port=2948,
    destination_port=9200,
    user_message_reference=77,
)
DELIVER_SM_RECEIPT = DeliverSm(
    sequence_number=3,
    source_addr_ton=1,
    source_addr_npi=1,
    source_addr="8613800138000",
    dest_addr_npi=1,
    destination_addr="10690001",
    esm_class=0x04,
    short_message=b"id:0A1B2C3D sub:001 dlvrd:001 submit date:2601011200 "
    b"done date:2601011201 stat:DELIVRD err:000 text:",
    receipted_message_id="0A1B2C3D",
    message_state=MessageState.DELIVERED,
)
DELIVER_SM_PAYLOAD = DeliverSm(
    sequence_number=4,
    source_addr="8613800138000",
    destination_addr="10690001",
    data_coding=8,
    message_payload="订阅".encode("utf-16-be") * 100,
)
BIND_TRANSCEIVER = BindTransceiver(
    sequence_number=1, system_id="sdgw", password="secret", system_type="SMPP", addr_ton=1
)
ENQUIRE_LINK = EnquireLink(sequence_number=0x7FFFFFFF)
SUBMIT_SM_RESP = SubmitSmResp(sequence_number=2, message_id="3F2A19")

SAMPLES = [SUBMIT_SM, DELIVER_SM_RECEIPT, DELIVER_SM_PAYLOAD, BIND_TRANSCEIVER, ENQUIRE_LINK]
SAMPLES_WITH_RESP = [*SAMPLES, SUBMIT_SM_RESP]

_HEADER_FIELDS = {"sequence_number", "command_status", "other_tlvs"}


def body_fields(pdu: Pdu) -> dict[str, Any]:
    """Our PDU's body fields, leaving out unset TLVs."""
    return {
        field.name: getattr(pdu, field.name)
        for field in dataclasses.fields(pdu)
        if field.name not in _HEADER_FIELDS and getattr(pdu, field.name) is not None
    }


# --- smpp.pdu3 ---------------------------------------------------------------------------------

_JASMIN = jasmin_encoding.PDUEncoder()
_JASMIN_MANDATORY = jasmin_encoding.PDUEncoder.DefaultRequiredParamEncoders
_JASMIN_OPTIONS = jasmin_encoding.OptionEncoder().options
_JASMIN_TYPED = {
    "source_addr_ton",
    "source_addr_npi",
    "dest_addr_ton",
    "dest_addr_npi",
    "addr_ton",
    "addr_npi",
    "esm_class",
    "priority_flag",
    "registered_delivery",
    "replace_if_present_flag",
    "data_coding",
}
_JASMIN_CLASSES: dict[type[Pdu], Any] = {
    SubmitSm: jasmin_operations.SubmitSM,
    DeliverSm: jasmin_operations.DeliverSM,
    BindTransceiver: jasmin_operations.BindTransceiver,
    EnquireLink: jasmin_operations.EnquireLink,
    SubmitSmResp: jasmin_operations.SubmitSMResp,
}
_TIME_FIELDS = {"schedule_delivery_time", "validity_period"}


def _jasmin_field_encoder(name: str) -> Any:
    if name == "message_state":
        return _JASMIN_OPTIONS[jasmin_types.Tag.message_state]
    return _JASMIN_MANDATORY[name]


def to_jasmin(pdu: Pdu) -> Any:
    """The same PDU as a smpp.pdu3 object, converting ints through its own field decoders."""
    params: dict[str, Any] = {}
    for name, value in body_fields(pdu).items():
        if name in _TIME_FIELDS:
            assert value == "", "smpp.pdu3 parses times; keep them empty in cross-checks"
            params[name] = None
        elif name in _JASMIN_TYPED or name == "message_state":
            encoder = _jasmin_field_encoder(name)
            params[name] = encoder.decode(io.BytesIO(bytes([value])))
        else:
            params[name] = value
    if isinstance(pdu, ShortMessagePdu) and pdu.message_payload is not None:
        params["short_message"] = None
    return _JASMIN_CLASSES[type(pdu)](seqNum=pdu.sequence_number, **params)


def from_jasmin(jasmin_pdu: Any) -> dict[str, Any]:
    """smpp.pdu3's reading as plain values comparable with ``body_fields``."""
    fields: dict[str, Any] = {}
    for name, value in jasmin_pdu.params.items():
        if name in _TIME_FIELDS:
            fields[name] = "" if value is None else value
        elif name in _JASMIN_TYPED or name == "message_state":
            fields[name] = _jasmin_field_encoder(name).encode(value)[0]
        elif name in ("short_message", "message_payload"):
            fields[name] = value if value is not None else b""
        elif isinstance(value, bytes):
            fields[name] = value.decode("latin-1")
        elif value is None and name in ("service_type", "message_id", "system_type"):
            fields[name] = ""
        else:
            fields[name] = value
    return fields


def ours_as_jasmin_sees_it(pdu: Pdu) -> dict[str, Any]:
    fields = body_fields(pdu)
    if isinstance(pdu, ShortMessagePdu) and pdu.message_payload is not None:
        fields["short_message"] = b""
    return fields


@pytest.mark.parametrize("pdu", SAMPLES_WITH_RESP, ids=lambda pdu: type(pdu).__name__)
def test_smpp_pdu3_decodes_what_we_encode(pdu: Pdu) -> None:
    theirs = _JASMIN.decode(io.BytesIO(encode(pdu)))
    assert theirs.seqNum == pdu.sequence_number
    assert theirs.commandId.name == type(pdu).command_id.name.lower()
    assert from_jasmin(theirs) == ours_as_jasmin_sees_it(pdu)


@pytest.mark.parametrize("pdu", SAMPLES_WITH_RESP, ids=lambda pdu: type(pdu).__name__)
def test_we_decode_what_smpp_pdu3_encodes(pdu: Pdu) -> None:
    frame = _JASMIN.encode(to_jasmin(pdu))
    assert decode(frame) == pdu


def test_smpp_pdu3_and_we_agree_on_error_submit_sm_resp_without_body() -> None:
    theirs = jasmin_operations.SubmitSMResp(
        seqNum=9, status=jasmin_types.CommandStatus.ESME_RTHROTTLED
    )
    frame = _JASMIN.encode(theirs)
    ours = SubmitSmResp(sequence_number=9, command_status=0x58)
    assert decode(frame) == ours
    assert encode(ours) == frame


JASMIN_TONS = st.sampled_from([0, 1, 2, 3, 4, 5, 6])
JASMIN_NPIS = st.sampled_from([0, 1, 3, 4, 6, 8, 9, 0x0A, 0x0E, 0x12])
ASCII_ADDRESS = st.text(alphabet="0123456789ABCabc+", max_size=20)


@st.composite
def jasmin_expressible_submit_sm(draw: st.DrawFn) -> SubmitSm:
    uses_payload = draw(st.booleans())
    optional_u16 = st.none() | st.integers(min_value=0, max_value=0xFFFF)
    optional_u8 = st.none() | st.integers(min_value=0, max_value=0xFF)
    return SubmitSm(
        sequence_number=draw(st.integers(min_value=1, max_value=0x7FFFFFFF)),
        service_type=draw(st.sampled_from(["", "CMT", "WAP", "USSD"])),
        source_addr_ton=draw(JASMIN_TONS),
        source_addr_npi=draw(JASMIN_NPIS),
        source_addr=draw(ASCII_ADDRESS),
        dest_addr_ton=draw(JASMIN_TONS),
        dest_addr_npi=draw(JASMIN_NPIS),
        destination_addr=draw(ASCII_ADDRESS),
        esm_class=draw(st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x40, 0x43, 0x80, 0xC0])),
        protocol_id=draw(st.integers(min_value=0, max_value=0xFF)),
        priority_flag=draw(st.integers(min_value=0, max_value=3)),
        registered_delivery=draw(st.sampled_from([0x00, 0x01, 0x02, 0x10, 0x11])),
        replace_if_present_flag=draw(st.integers(min_value=0, max_value=1)),
        data_coding=draw(st.sampled_from([0x00, 0x01, 0x03, 0x04, 0x08, 0xF0, 0xF5])),
        sm_default_msg_id=draw(st.integers(min_value=0, max_value=254)),
        short_message=b"" if uses_payload else draw(st.binary(max_size=254)),
        message_payload=draw(st.binary(max_size=1000)) if uses_payload else None,
        sar_msg_ref_num=draw(optional_u16),
        sar_total_segments=draw(optional_u8),
        sar_segment_seqnum=draw(optional_u8),
        source_port=draw(optional_u16),
        destination_port=draw(optional_u16),
        user_message_reference=draw(optional_u16),
    )


@settings(max_examples=100, deadline=None)
@given(pdu=jasmin_expressible_submit_sm())
def test_hypothesis_submit_sm_agrees_with_smpp_pdu3_both_ways(pdu: SubmitSm) -> None:
    assert from_jasmin(_JASMIN.decode(io.BytesIO(encode(pdu)))) == ours_as_jasmin_sees_it(pdu)
    assert decode(_JASMIN.encode(to_jasmin(pdu))) == pdu


# --- smpplib -----------------------------------------------------------------------------------

_SMPPLIB_CLASSES: dict[type[Pdu], tuple[str, Any]] = {
    SubmitSm: ("submit_sm", smpplib.command.SubmitSM),
    DeliverSm: ("deliver_sm", smpplib.command.DeliverSM),
    BindTransceiver: ("bind_transceiver", smpplib.command.BindTransceiver),
    EnquireLink: ("enquire_link", smpplib.command.EnquireLink),
    SubmitSmResp: ("submit_sm_resp", smpplib.command.SubmitSMResp),
}


def to_smpplib(pdu: Pdu) -> Any:
    name, cls = _SMPPLIB_CLASSES[type(pdu)]
    # ``sequence=`` only stops it asking a client for a number; the value itself is ignored.
    command = cls(name, sequence=pdu.sequence_number, **body_fields(pdu))
    command.sequence = pdu.sequence_number
    return command


def from_smpplib(command: Any, like: Pdu) -> dict[str, Any]:
    """smpplib's parsed attributes for the fields ``like`` has set."""
    fields: dict[str, Any] = {}
    for name, ours in body_fields(like).items():
        value = getattr(command, name)
        if name == "short_message" and value is None:
            value = b""  # smpplib leaves it unset when sm_length is 0 and nothing follows
        if isinstance(ours, str) and isinstance(value, bytes):
            value = value.decode("latin-1")
        fields[name] = value
    return fields


@pytest.mark.parametrize("pdu", SAMPLES_WITH_RESP, ids=lambda pdu: type(pdu).__name__)
def test_smpplib_parses_what_we_encode(pdu: Pdu) -> None:
    theirs = smpplib.smpp.parse_pdu(encode(pdu), sequence=0)
    assert theirs.command == type(pdu).command_id.name.lower()
    assert theirs.sequence == pdu.sequence_number
    assert from_smpplib(theirs, pdu) == body_fields(pdu)


@pytest.mark.parametrize("pdu", SAMPLES_WITH_RESP, ids=lambda pdu: type(pdu).__name__)
def test_we_decode_what_smpplib_generates(pdu: Pdu) -> None:
    assert decode(to_smpplib(pdu).generate()) == pdu


@settings(max_examples=100, deadline=None)
@given(pdu=jasmin_expressible_submit_sm())
def test_hypothesis_submit_sm_agrees_with_smpplib_both_ways(pdu: SubmitSm) -> None:
    theirs = smpplib.smpp.parse_pdu(encode(pdu), sequence=0)
    assert from_smpplib(theirs, pdu) == body_fields(pdu)
    if pdu.message_payload == b"":
        pdu = dataclasses.replace(pdu, message_payload=None)  # smpplib omits empty TLVs
    assert decode(to_smpplib(pdu).generate()) == pdu
