"""The CMPP status report inside a DELIVER: 60 octets (2.0) or 71 (3.0), chosen by length."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers.cmpp.reports import (
    REPORT_LENGTHS,
    CmppReport,
    decode_report,
    encode_report,
    parse_report_time,
)

from . import unhex

REPORT_60_HEX = """
    fedcba98 76543210                   # Msg_Id (8)
    554e4445 4c4956                     # Stat "UNDELIV" (7)
    32353132 33313233 3539              # Submit_time "2512312359" (10)
    32363031 30313030 3030              # Done_time "2601010000" (10)
    31333830 30313338 303030 00*10      # Dest_terminal_Id "13800138000" (21 in 2.0)
    ffffffff                            # SMSC_sequence 4294967295 (4)
"""
REPORT_60 = CmppReport(
    msg_id=0xFEDCBA9876543210,
    stat="UNDELIV",
    submit_time="2512312359",
    done_time="2601010000",
    dest_terminal_id="13800138000",
    smsc_sequence=0xFFFFFFFF,
)
REPORT_71_HEX = """
    01234567 89abcdef                   # Msg_Id (8)
    44454c49 565244                     # Stat "DELIVRD" (7)
    32363031 30313132 3030              # Submit_time "2601011200" (10)
    32363031 30313132 3031              # Done_time "2601011201" (10)
    31333830 30313338 303030 00*21      # Dest_terminal_Id "13800138000" (32 in 3.0)
    0000002a                            # SMSC_sequence 42
"""
REPORT_71 = CmppReport(
    msg_id=0x0123456789ABCDEF,
    stat="DELIVRD",
    submit_time="2601011200",
    done_time="2601011201",
    dest_terminal_id="13800138000",
    smsc_sequence=42,
)


def test_report_lengths() -> None:
    assert REPORT_LENGTHS == {0x20: 60, 0x30: 71}
    assert len(unhex(REPORT_60_HEX)) == 60
    assert len(unhex(REPORT_71_HEX)) == 71


@pytest.mark.parametrize(
    ("vector", "report", "version"),
    [(REPORT_60_HEX, REPORT_60, 0x20), (REPORT_71_HEX, REPORT_71, 0x30)],
)
def test_golden_reports(vector: str, report: CmppReport, version: int) -> None:
    assert decode_report(unhex(vector)) == report
    assert encode_report(report, version).hex() == unhex(vector).hex()


def test_a_60_octet_report_reads_the_same_whatever_the_link_version() -> None:
    # Some ISMGs send the 2.0 report on a 3.0 link: decode_report goes by the length only.
    assert decode_report(encode_report(REPORT_71, 0x20)) == REPORT_71
    assert decode_report(bytearray(unhex(REPORT_60_HEX))) == REPORT_60


@pytest.mark.parametrize("size", [0, 8, 59, 61, 70, 72, 140])
def test_other_lengths_are_refused_naming_the_length(size: int) -> None:
    with pytest.raises(ValueError, match=f"not {size}"):
        decode_report(bytes(size))


def test_non_ascii_field_is_a_value_error() -> None:
    content = bytearray(unhex(REPORT_71_HEX))
    content[8] = 0xC0
    with pytest.raises(ValueError, match="Stat"):
        decode_report(bytes(content))


def test_odd_times_still_yield_the_msg_id_and_stat() -> None:
    content = bytearray(unhex(REPORT_60_HEX))
    content[15:25] = b"\0" * 10
    report = decode_report(bytes(content))
    assert (report.msg_id, report.stat, report.submit_time) == (0xFEDCBA9876543210, "UNDELIV", "")


@pytest.mark.parametrize(
    ("change", "version", "field"),
    [
        ({"stat": "DELIVRD!"}, 0x30, "stat"),
        ({"submit_time": "260101120"}, 0x30, "submit_time"),
        ({"done_time": "26010112OO"}, 0x30, "done_time"),
        ({"dest_terminal_id": "1" * 22}, 0x20, "dest_terminal_id"),
        ({"dest_terminal_id": "1" * 33}, 0x30, "dest_terminal_id"),
        ({"msg_id": -1}, 0x30, "msg_id"),
        ({"smsc_sequence": 1 << 32}, 0x30, "smsc_sequence"),
    ],
)
def test_encode_names_the_field_that_does_not_fit(
    change: dict[str, object], version: int, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        encode_report(dataclasses.replace(REPORT_71, **change), version)  # type: ignore[arg-type]


def test_a_32_character_number_fits_only_in_3_0() -> None:
    report = dataclasses.replace(REPORT_71, dest_terminal_id="8" * 32)
    assert decode_report(encode_report(report, 0x30)) == report


@settings(max_examples=150, deadline=None)
@given(
    msg_id=st.integers(0, (1 << 64) - 1),
    stat=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ:0123456789", min_size=1, max_size=7),
    times=st.tuples(*[st.text(alphabet="0123456789", min_size=10, max_size=10)] * 2),
    number=st.text(alphabet="+0123456789", max_size=21),
    smsc_sequence=st.integers(0, 0xFFFFFFFF),
    version=st.sampled_from([0x20, 0x30]),
)
def test_round_trip(
    msg_id: int,
    stat: str,
    times: tuple[str, str],
    number: str,
    smsc_sequence: int,
    version: int,
) -> None:
    report = CmppReport(msg_id, stat, times[0], times[1], number, smsc_sequence)
    content = encode_report(report, version)
    assert len(content) == REPORT_LENGTHS[version]
    assert decode_report(content) == report


def test_parse_report_time() -> None:
    assert parse_report_time("2601011201") == datetime(2026, 1, 1, 12, 1)
    for odd in ("", "0000000000", "2613011200", "260101120", "26010112O1", "２６０１０１１２０１"):
        assert parse_report_time(odd) is None
