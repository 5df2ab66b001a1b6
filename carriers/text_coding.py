"""Turning SM payload octets into text, by data_coding. Pure.

Shared by every link type: CMPP's Msg_Fmt and SMGP's MsgFormat use the same
numbers for the codings that matter here (0 GSM/ASCII, 8 UCS2, 15 GBK).
"""

from __future__ import annotations

from carriers.gsm7 import Gsm7Error, decode_gsm7_unpacked

GBK = 0x0F


def decode_payload(payload: bytes, data_coding: int) -> str:
    """Decode an MO payload; raise ValueError naming the coding when it is not text."""
    coding = data_coding
    if 0xF0 <= coding <= 0xF7:  # GSM DCS group: 7-bit unless the 8-bit bit is set
        coding = 0x04 if coding & 0x04 else 0x00
    try:
        if coding == 0x00:
            return decode_gsm7_unpacked(payload)
        if coding == 0x01:
            return payload.decode("ascii")
        if coding == 0x03:
            return payload.decode("latin-1")
        if coding == 0x08:
            if len(payload) % 2:
                raise ValueError("UCS2 payload has an odd number of octets")
            return payload.decode("utf-16-be")
        if coding == GBK:
            return payload.decode("gb18030")
    except (UnicodeDecodeError, Gsm7Error) as exc:
        raise ValueError(f"payload is not valid for data_coding 0x{data_coding:02X}: {exc}") \
            from None
    raise ValueError(f"data_coding 0x{data_coding:02X} does not carry text")
