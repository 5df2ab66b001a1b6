"""Number normalisation and the MIIT prefix table (carriers.numbers)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carriers.numbers import (
    PREFIX_CARRIERS,
    VIRTUAL_OPERATOR_PREFIXES,
    InvalidNumber,
    is_virtual_operator,
    normalise_msisdn,
    prefix_carrier,
)
from carriers.rules import CARRIER_RULES, CHINA_MOBILE


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "138.0013.8000",
        "(138) 0013-8000",
        "+8613800138000",
        "+86 138 0013 8000",
        "+86-138-0013-8000",
        "008613800138000",
        "0086 138 0013 8000",
        "8613800138000",
        "86 138 0013 8000",
        "  13800138000\t",
        "１３８００１３８０００",  # full-width digits
        "＋８６ １３８００１３８０００",  # full-width plus and ideographic space
        "138\u200b0013\u200b8000",  # zero-width spaces from copy and paste
    ],
)
def test_normalises_noise_and_country_prefixes(raw: str) -> None:
    assert normalise_msisdn(raw) == "13800138000"


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("- ()", "empty"),
        ("1380013800a", "other than digits"),
        ("l3800138000", "other than digits"),
        ("138 0013 800O", "other than digits"),
        ("+1 415 555 0100", "+86"),
        ("+85291234567", "+86"),
        ("1380013800", "10 digits"),
        ("138001380001", "12 digits"),
        ("86138001380", "starts with 1"),  # 86 kept: only 11 digits in all
        ("23800138000", "starts with 1"),
        ("10658000123", "short-code"),
        ("12345678901", "short-code"),
        ("11800138000", "short-code"),
        ("1440123456789", "IoT"),
        ("1400123456789", "IoT"),
        ("1410123456789", "IoT"),
        ("+86 1440123456789", "IoT"),
        ("14412345678", "IoT"),
        ("１３８００１３８００Ａ", "other than digits"),
        ("١٣٨٠٠١٣٨٠٠٠", "other than digits"),  # Arabic-Indic digits are not accepted
    ],
)
def test_rejects_with_a_reason(raw: str, reason_part: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalise_msisdn(raw)
    assert reason_part in caught.value.reason
    assert caught.value.raw == raw
    assert isinstance(caught.value, ValueError)


def test_bare_86_only_dropped_when_13_digits_remain() -> None:
    # 18612345678 is a Unicom number whose first digits happen to be "186", not "86".
    assert normalise_msisdn("18612345678") == "18612345678"
    assert normalise_msisdn("8618612345678") == "18612345678"


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_normalise_is_idempotent_on_valid_numbers(number: str) -> None:
    if number[:3] in {"140", "141", "142", "143", "144"}:
        with pytest.raises(InvalidNumber):
            normalise_msisdn(number)
        return
    assert normalise_msisdn(number) == number
    assert normalise_msisdn("+86 " + number) == number
    assert normalise_msisdn(normalise_msisdn(number)) == number


@given(st.text(max_size=20))
def test_normalise_never_raises_anything_but_invalid_number(raw: str) -> None:
    try:
        result = normalise_msisdn(raw)
    except InvalidNumber:
        return
    assert len(result) == 11
    assert result.isascii()
    assert result.isdigit()


@pytest.mark.parametrize(
    ("number", "carrier"),
    [
        # China Mobile, including the 134x split.
        ("13400000000", "china_mobile"),
        ("13481234567", "china_mobile"),
        ("13912345678", "china_mobile"),
        ("14712345678", "china_mobile"),
        ("14812345678", "china_mobile"),
        ("15212345678", "china_mobile"),
        ("17212345678", "china_mobile"),
        ("18812345678", "china_mobile"),
        ("19512345678", "china_mobile"),
        ("19812345678", "china_mobile"),
        # China Unicom.
        ("13012345678", "china_unicom"),
        ("14512345678", "china_unicom"),
        ("15612345678", "china_unicom"),
        ("16612345678", "china_unicom"),
        ("18612345678", "china_unicom"),
        ("19612345678", "china_unicom"),
        # China Telecom.
        ("13312345678", "china_telecom"),
        ("14912345678", "china_telecom"),
        ("17312345678", "china_telecom"),
        ("18012345678", "china_telecom"),
        ("19912345678", "china_telecom"),
        # China Broadnet.
        ("19212345678", "china_broadnet"),
        # Virtual operators: 170x is split three ways, 165/167/171/162 whole.
        ("17001234567", "china_telecom"),
        ("17021234567", "china_telecom"),
        ("17031234567", "china_mobile"),
        ("17041234567", "china_unicom"),
        ("17051234567", "china_mobile"),
        ("17061234567", "china_mobile"),
        ("17071234567", "china_unicom"),
        ("17091234567", "china_unicom"),
        ("16512345678", "china_mobile"),
        ("16712345678", "china_unicom"),
        ("17112345678", "china_unicom"),
        ("16212345678", "china_telecom"),
        # Satellite and unassigned ranges.
        ("13491234567", None),
        ("17412345678", None),
        ("15412345678", None),
        ("17912345678", None),
        ("19412345678", None),
    ],
)
def test_prefix_carrier(number: str, carrier: str | None) -> None:
    assert prefix_carrier(number) == carrier


def test_prefix_carrier_normalises_first() -> None:
    assert prefix_carrier("+86 134-0000-0000") == "china_mobile"
    with pytest.raises(InvalidNumber):
        prefix_carrier("10086")


@pytest.mark.parametrize(
    ("number", "virtual"),
    [
        ("17001234567", True),
        ("17041234567", True),
        ("17051234567", True),
        ("16512345678", True),
        ("16712345678", True),
        ("17112345678", True),
        ("16212345678", True),
        ("13812345678", False),
        ("13491234567", False),
        ("19212345678", False),
    ],
)
def test_is_virtual_operator(number: str, virtual: bool) -> None:
    assert is_virtual_operator(number) is virtual


def test_prefix_table_shape() -> None:
    assert all(len(p) in (3, 4) and p.startswith("1") for p in PREFIX_CARRIERS)
    assert set(VIRTUAL_OPERATOR_PREFIXES) <= set(PREFIX_CARRIERS)
    # Every 134x and 170x is listed, so no 4-digit gap falls back to a 3-digit row.
    assert {f"134{d}" for d in range(10)} <= set(PREFIX_CARRIERS)
    assert {f"170{d}" for d in range(10)} <= set(PREFIX_CARRIERS)
    assert "134" not in PREFIX_CARRIERS
    assert "170" not in PREFIX_CARRIERS
    carriers = {c for c in PREFIX_CARRIERS.values() if c is not None}
    assert set(CARRIER_RULES) <= carriers


def test_carrier_rules_defaults() -> None:
    mobile = CARRIER_RULES[CHINA_MOBILE]
    assert mobile.display_name == "中国移动"
    assert (mobile.max_sms_segments, mobile.max_mms_bytes) == (8, 100 * 1024)
    assert CARRIER_RULES["china_telecom"].display_name == "中国电信"
