"""SGIP against CMPP: the parts both protocols share must come out byte for byte the same.

A concatenated UCS2 part (UDH then UTF-16BE text, §5.1) goes into SGIP's MessageContent and
CMPP's Msg_Content unchanged, with TP_udhi 1 and coding 8 in both (carriers.codings "sgip" and
"cmpp" share the Chinese operators' numbers).
"""

from __future__ import annotations

import pytest

from carriers.cmpp import codec as cmpp_codec
from carriers.cmpp.pdus import Submit as CmppSubmit
from carriers.codings import coding_from_wire, wire_number
from carriers.messages import TextCoding
from carriers.sgip import codec as sgip_codec
from carriers.sgip.pdus import Deliver as SgipDeliver
from carriers.sgip.pdus import Submit as SgipSubmit
from carriers.sgip.sequence import SequenceNumber

UDH = bytes.fromhex("050003 2a 02 01")  # concatenation, 8-bit reference 0x2a, part 1 of 2
TEXTS = ["早上好，这是手机报", "emoji 😀 outside the BMP", "ASCII only"]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("version", [0x20, 0x30])
def test_same_udh_and_ucs2_bytes_in_both(text: str, version: int) -> None:
    content = UDH + text.encode("utf-16-be")
    sgip_frame = sgip_codec.encode(SgipSubmit(
        sequence=SequenceNumber(3755012345, 1202141030, 1), user_numbers=("8613012345678",),
        tp_udhi=1, message_coding=wire_number("sgip", TextCoding.UCS2), message_content=content))
    cmpp_frame = cmpp_codec.encode(CmppSubmit(
        sequence_id=1, dest_terminal_ids=("8613012345678",), tp_udhi=1,
        msg_fmt=wire_number("cmpp", TextCoding.UCS2), msg_content=content), version)

    sgip = sgip_codec.decode(sgip_frame)
    cmpp = cmpp_codec.decode(cmpp_frame, version)
    assert sgip.message_content == cmpp.msg_content == content
    assert sgip.tp_udhi == cmpp.tp_udhi == 1
    assert sgip.message_coding == cmpp.msg_fmt == 8
    # The content sits at the end of both frames, before their fixed trailers
    # (SGIP Reserve 8; CMPP 2.0 Reserve 8, 3.0 LinkID 20).
    assert sgip_frame[-8 - len(content) : -8] == content
    trailer = 20 if version == 0x30 else 8
    assert cmpp_frame[-trailer - len(content) : -trailer] == content


def test_codings_agree() -> None:
    for coding in (TextCoding.ASCII, TextCoding.BINARY, TextCoding.UCS2, TextCoding.GBK):
        assert wire_number("sgip", coding) == wire_number("cmpp", coding)
    assert coding_from_wire("sgip", 15) is TextCoding.GBK


def test_mo_content_is_the_same_bytes_as_a_cmpp_deliver() -> None:
    content = UDH + "回复1订阅".encode("utf-16-be")
    deliver = SgipDeliver(sequence=SequenceNumber(110001, 1202141030, 3),
                          user_number="8613012345678", sp_number="1065501", tp_udhi=1,
                          message_coding=8, message_content=content)
    assert sgip_codec.decode(sgip_codec.encode(deliver)).message_content == content
