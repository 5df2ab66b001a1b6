"""Delivery receipt text: tolerant parsing, formatting and stat words."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers.smpp.pdus import MessageState
from carriers.smpp.receipts import (
    ReceiptText,
    format_receipt_text,
    message_state_to_stat,
    parse_receipt_text,
    stat_to_message_state,
)

STANDARD = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 "
    "stat:DELIVRD err:000 text:Hello world"
)


def test_standard_receipt() -> None:
    assert parse_receipt_text(STANDARD) == ReceiptText(
        id="0123456789",
        sub=1,
        dlvrd=1,
        submit_date=datetime(2026, 1, 1, 12, 0),
        done_date=datetime(2026, 1, 1, 12, 1),
        stat="DELIVRD",
        err="000",
        text="Hello world",
    )


def test_labels_in_any_case_and_capital_text() -> None:
    receipt = parse_receipt_text(
        "ID:7f3a9c2e11 SUB:001 DLVRD:000 Submit Date:2512312359 Done Date:2601010001 "
        "Stat:undeliv Err:034 Text:早上好"
    )
    assert receipt.id == "7f3a9c2e11"
    assert receipt.dlvrd == 0
    assert receipt.submit_date == datetime(2025, 12, 31, 23, 59)
    assert receipt.stat == "UNDELIV"
    assert receipt.err == "034"
    assert receipt.text == "早上好"


def test_twelve_digit_dates_carry_seconds() -> None:
    receipt = parse_receipt_text(
        "id:42 submit date:260315083005 done date:260315083107 stat:DELIVRD"
    )
    assert receipt.submit_date == datetime(2026, 3, 15, 8, 30, 5)
    assert receipt.done_date == datetime(2026, 3, 15, 8, 31, 7)


def test_jasmin_style_receipt_without_sub_dlvrd_text() -> None:
    receipt = parse_receipt_text(
        "id:a1b2c3d4-0000-4000-8000-abcdefabcdef submit date:2601011200 "
        "done date:2601011200 stat:EXPIRED err:001"
    )
    assert receipt.id == "a1b2c3d4-0000-4000-8000-abcdefabcdef"
    assert (receipt.sub, receipt.dlvrd, receipt.text) == (None, None, None)
    assert receipt.stat == "EXPIRED"


def test_only_an_id() -> None:
    assert parse_receipt_text("id:99") == ReceiptText(id="99")


def test_underscored_date_labels_and_extra_vendor_fields() -> None:
    receipt = parse_receipt_text(
        "id:5 submit_date:2601011200 mccmnc:46000 done_date:2601011300 stat:DELIVRD"
    )
    assert receipt.submit_date == datetime(2026, 1, 1, 12, 0)
    assert receipt.done_date == datetime(2026, 1, 1, 13, 0)


def test_text_runs_to_the_end_even_if_it_looks_like_labels() -> None:
    receipt = parse_receipt_text("id:5 stat:DELIVRD text:id:6 stat:REJECTD")
    assert receipt.id == "5"
    assert receipt.stat == "DELIVRD"
    assert receipt.text == "id:6 stat:REJECTD"


def test_first_occurrence_wins() -> None:
    assert parse_receipt_text("id:1 stat:DELIVRD stat:UNDELIV").stat == "DELIVRD"


def test_labels_inside_words_are_not_labels() -> None:
    assert parse_receipt_text("msgid:77 id:78").id == "78"


@pytest.mark.parametrize(
    "value",
    ["2613011200", "2601321200", "2601012500", "26010112", "26O1011200", "２６０１０１１２００"],
)
def test_bad_dates_become_none(value: str) -> None:
    receipt = parse_receipt_text(f"id:1 submit date:{value} done date:{value}")
    assert receipt.submit_date is None
    assert receipt.done_date is None


def test_non_numeric_counts_become_none() -> None:
    receipt = parse_receipt_text("id:1 sub:one dlvrd:")
    assert (receipt.sub, receipt.dlvrd) == (None, None)


@pytest.mark.parametrize(
    "text", ["", "sub:001 dlvrd:001 stat:DELIVRD", "id: sub:001", "ID:", "hello world"]
)
def test_missing_or_empty_id_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="no id"):
        parse_receipt_text(text)


def test_format_standard_layout() -> None:
    receipt = ReceiptText(
        id="0123456789",
        sub=1,
        dlvrd=1,
        submit_date=datetime(2026, 1, 1, 12, 0),
        done_date=datetime(2026, 1, 1, 12, 1),
        stat="DELIVRD",
        err="000",
        text="Hello world, this text is longer than twenty",
    )
    assert format_receipt_text(receipt) == (
        "id:0123456789 sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 "
        "stat:DELIVRD err:000 text:Hello world, this te"
    )


def test_format_leaves_out_missing_fields_and_can_add_seconds() -> None:
    receipt = ReceiptText(id="x", done_date=datetime(2026, 2, 3, 4, 5, 6), stat="UNDELIV")
    assert format_receipt_text(receipt, seconds=True) == "id:x done date:260203040506 stat:UNDELIV"


DATES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59))
WORD = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    receipt=st.builds(
        ReceiptText,
        id=WORD,
        sub=st.none() | st.integers(min_value=0, max_value=999),
        dlvrd=st.none() | st.integers(min_value=0, max_value=999),
        submit_date=st.none() | DATES.map(lambda moment: moment.replace(microsecond=0)),
        done_date=st.none() | DATES.map(lambda moment: moment.replace(microsecond=0)),
        stat=st.none() | WORD,
        err=st.none() | WORD,
        text=st.none() | st.text(max_size=20),
    )
)
def test_format_then_parse_round_trips(receipt: ReceiptText) -> None:
    assert parse_receipt_text(format_receipt_text(receipt, seconds=True)) == receipt


@pytest.mark.parametrize(
    ("stat", "state"),
    [
        ("DELIVRD", MessageState.DELIVERED),
        ("delivrd", MessageState.DELIVERED),
        ("DELIVERED", MessageState.DELIVERED),
        ("EXPIRED", MessageState.EXPIRED),
        ("DELETED", MessageState.DELETED),
        ("UNDELIV", MessageState.UNDELIVERABLE),
        ("ACCEPTD", MessageState.ACCEPTED),
        ("UNKNOWN", MessageState.UNKNOWN),
        ("REJECTD", MessageState.REJECTED),
        ("ENROUTE", MessageState.ENROUTE),
        (" Rejectd ", MessageState.REJECTED),
        ("MA:0001", MessageState.UNKNOWN),
        ("", MessageState.UNKNOWN),
    ],
)
def test_stat_to_message_state(stat: str, state: MessageState) -> None:
    assert stat_to_message_state(stat) is state


def test_message_state_to_stat_round_trips_every_state() -> None:
    for state in MessageState:
        stat = message_state_to_stat(state)
        assert len(stat) == 7
        assert stat_to_message_state(stat) is state
    assert message_state_to_stat(0) == "UNKNOWN"
    assert message_state_to_stat(99) == "UNKNOWN"
