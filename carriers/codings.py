"""Which text codings each wire protocol carries, and the number it writes for each. Pure.

The gateway names codings (:class:`~carriers.messages.TextCoding`); only links see numbers:
SMPP's ``data_coding``, CMPP's and SGIP's ``Msg_Fmt``/``MessageCoding``, SMGP's ``MsgFormat``.
The numbers differ where it matters: SMPP 0 is the GSM 7-bit default alphabet, CMPP/SGIP/SMGP
0 is ASCII (they have no GSM 7-bit at all).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from carriers.messages import TextCoding

_SMPP: Mapping[TextCoding, int] = MappingProxyType({
    TextCoding.GSM7: 0x00,
    TextCoding.ASCII: 0x01,
    TextCoding.LATIN1: 0x03,
    TextCoding.BINARY: 0x04,
    TextCoding.UCS2: 0x08,
})
_CHINESE_OPERATORS: Mapping[TextCoding, int] = MappingProxyType({
    TextCoding.ASCII: 0,
    TextCoding.BINARY: 4,
    TextCoding.UCS2: 8,
    TextCoding.GBK: 15,
})

PROTOCOL_CODINGS: Mapping[str, Mapping[TextCoding, int]] = MappingProxyType({
    "smpp": _SMPP,
    "cmpp": _CHINESE_OPERATORS,
    "sgip": _CHINESE_OPERATORS,
    "smgp": _CHINESE_OPERATORS,
})
"""protocol → the codings it can carry → the number it writes for each."""

_CODING_BY_NUMBER: Mapping[str, Mapping[int, TextCoding]] = MappingProxyType({
    protocol: MappingProxyType({number: coding for coding, number in numbers.items()})
    for protocol, numbers in PROTOCOL_CODINGS.items()
})

_SMPP_GBK = 0x0F
"""Read, never written: Chinese SMSCs speaking SMPP send GBK MOs with data_coding 15 (which
SMPP 3.4 gives to KS C 5601); the gateway has always read them so."""


def protocol_codings(protocol: str) -> frozenset[TextCoding]:
    """The codings ``protocol`` can carry; ValueError for a protocol not in the table."""
    return frozenset(_numbers_of(protocol))


_SENT_TEXT: Mapping[str, frozenset[TextCoding]] = MappingProxyType({
    "smpp": frozenset({TextCoding.GSM7, TextCoding.UCS2}),
    "cmpp": frozenset({TextCoding.ASCII, TextCoding.UCS2}),
    "sgip": frozenset({TextCoding.ASCII, TextCoding.UCS2}),
    "smgp": frozenset({TextCoding.ASCII, TextCoding.UCS2}),
})


def sending_codings(protocol: str) -> frozenset[TextCoding]:
    """The codings the gateway sends text in over ``protocol`` (segmentation picks among
    them). SMPP keeps to GSM 7-bit and UCS2, which every SMSC and handset takes (its ASCII,
    data_coding 1, is SMSC-specific); the Chinese protocols have no GSM 7-bit, so ASCII."""
    _numbers_of(protocol)  # ValueError for an unknown protocol
    return _SENT_TEXT[protocol]


def wire_number(protocol: str, coding: TextCoding) -> int:
    """The number ``protocol`` writes for ``coding``; ValueError when it cannot carry it."""
    numbers = _numbers_of(protocol)
    try:
        return numbers[coding]
    except KeyError:
        raise ValueError(f"{protocol} cannot carry {coding}") from None


def coding_from_wire(protocol: str, number: int) -> TextCoding:
    """The coding ``protocol`` means by ``number``; ValueError for a number it does not define.

    SMPP also reads the GSM data coding scheme group 0xF0-0xF7 (7-bit unless bit 0x04 says
    8-bit data) and 15 as GBK.
    """
    _numbers_of(protocol)  # ValueError for an unknown protocol
    if protocol == "smpp":
        if 0xF0 <= number <= 0xF7:
            return TextCoding.BINARY if number & 0x04 else TextCoding.GSM7
        if number == _SMPP_GBK:
            return TextCoding.GBK
    coding = _CODING_BY_NUMBER[protocol].get(number)
    if coding is None:
        raise ValueError(f"{protocol} coding {number} (0x{number:02X}) is not one it defines")
    return coding


def _numbers_of(protocol: str) -> Mapping[TextCoding, int]:
    try:
        return PROTOCOL_CODINGS[protocol]
    except KeyError:
        known = ", ".join(PROTOCOL_CODINGS)
        raise ValueError(f"unknown link protocol {protocol!r}; known: {known}") from None
