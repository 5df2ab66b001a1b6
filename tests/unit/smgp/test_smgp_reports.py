"""The SMGP status report (docs/protocols.md §4.6), read by offsets whatever the label case
(§7 trap 4)."""

from __future__ import annotations

import pytest

from carriers.smgp.reports import REPORT_LENGTH, SmgpReport, decode_report, encode_report

from . import unhex

MSG_ID = bytes.fromhex("01006101161700012345")
REPORT = SmgpReport(msg_id=MSG_ID, stat="UNDELIV", submit_date="2601161700",
                    done_date="2601161705", err="005", text="hello")

CAPITALISED_HEX = """
    69643a 01006101 16170001 2345       # "id:" + MsgID
    20 7375623a 303031                  # " sub:001"
    20 646c7672643a 303031              # " dlvrd:001"
    20 5375626d6974 20 646174653a       # " Submit date:" (gateways that capitalise)
    32363031 31363137 3030
    20 646f6e65 20 646174653a           # " done date:"
    32363031 31363137 3035
    20 737461743a 554e44454c4956        # " stat:UNDELIV"
    20 6572723a 303035                  # " err:005"
    20 546578743a 68656c6c6f 00*15      # " Text:hello"
"""


def test_length_is_122() -> None:
    assert REPORT_LENGTH == 122
    assert len(encode_report(REPORT)) == 122


def test_round_trip_in_both_label_cases() -> None:
    assert decode_report(encode_report(REPORT)) == REPORT
    assert decode_report(encode_report(REPORT, capitalised=True)) == REPORT


def test_capitalised_labels_by_hand_are_read_by_offsets() -> None:
    content = unhex(CAPITALISED_HEX)
    assert encode_report(REPORT, capitalised=True) == content
    assert decode_report(content) == REPORT


def test_labels_are_never_looked_at() -> None:
    content = bytearray(encode_report(REPORT))
    content[0:3] = b"ID:"
    content[108 - 6:108 - 1] = b"XXXXX"
    assert decode_report(bytes(content)).stat == "UNDELIV"


def test_binary_msg_id_may_hold_any_octets() -> None:
    report = SmgpReport(msg_id=b" stat:\0\xff\x00:", stat="DELIVRD")
    assert decode_report(encode_report(report)).msg_id == report.msg_id


def test_short_content_and_non_ascii_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="122"):
        decode_report(encode_report(REPORT)[:121])
    content = bytearray(encode_report(REPORT))
    content[81] = 0xC8  # inside stat
    with pytest.raises(ValueError, match="stat"):
        decode_report(bytes(content))


def test_longer_content_keeps_its_first_122_octets() -> None:
    assert decode_report(encode_report(REPORT) + b"\0\0").stat == "UNDELIV"


@pytest.mark.parametrize("change", [{"stat": "TOOLONGX"}, {"err": "1234"}, {"text": "é"},
                                    {"msg_id": bytes(9)}])
def test_encode_refuses_values_that_do_not_fit(change: dict) -> None:
    from dataclasses import replace

    with pytest.raises(ValueError):
        encode_report(replace(REPORT, **change))
