"""MO keyword parsing (gateway.subscriptions.keywords)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.subscriptions.keywords import (
    KEYWORDS,
    Command,
    CommandKind,
    Trailing,
    parse_command,
)

OUR_CODES = ("10658000", "106558000678", "106597009")

K = CommandKind


def kind(text: str, service_codes: tuple[str, ...] = OUR_CODES) -> CommandKind:
    return parse_command(text, service_codes).kind


@pytest.mark.parametrize(
    "text",
    [
        "SD",
        "sd",
        "Sd",
        "ＳＤ",  # full-width
        "ｓｄ",
        " SD",
        "SD ",
        " SD。",
        "SD!",
        "SD！",
        "SD？",
        "SD.",
        "SD，",
        "、SD、",
        "【SD】",
        "「sd」",
        "\u3000ＳＤ\u3000",  # ideographic spaces
        "\tSD\r\n",
        "\u200bSD\ufeff",  # zero-width space, BOM
        "SD 手机报",
        "SD,手机报",
        "SD。手机报",
        "SD手机报",  # CJK right after an ASCII keyword is a boundary
        "sd  please",
    ],
)
def test_subscribe_forms(text: str) -> None:
    assert kind(text) is K.SUBSCRIBE


@pytest.mark.parametrize(
    "text", ["Y", "y", "Ｙ", "ｙ", " Y ", "Y。", "y!", "【Y】", "是", " 是！", "是。"]
)
def test_confirm_forms(text: str) -> None:
    assert kind(text) is K.CONFIRM


@pytest.mark.parametrize(
    "text",
    # Conservative: a confirmation must be the whole message.
    [
        "YES",
        "yes",
        "Y 不要",
        "Y,no",
        "YY",
        "Y Y",
        "Y1",
        "是的",
        "是不是收费",
        "是 的",
        "不是",
        "NY",
    ],
)
def test_confirm_needs_the_whole_message(text: str) -> None:
    assert kind(text) is K.HELP


@pytest.mark.parametrize(
    "text",
    [
        "TD",
        "td",
        "Td",
        "ＴＤ",
        " TD。",
        "QX",
        "qx",
        "ＱＸ",
        "退订",
        " 退订！",
        "退订手机报",
        "TD 手机报",
        "TD手机报",
        "QX，谢谢",
    ],
)
def test_unsubscribe_forms(text: str) -> None:
    command = parse_command(text, OUR_CODES)
    assert command.kind is K.UNSUBSCRIBE
    assert command.service_code is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("TD10658000", "10658000"),
        ("td10658000", "10658000"),
        ("TD 10658000", "10658000"),
        ("td 10658000", "10658000"),
        ("TD-10658000", "10658000"),
        ("ＴＤ１０６５８０００", "10658000"),
        ("TD10658000。", "10658000"),
        ("QX10658000", "10658000"),
        ("qx 106558000678", "106558000678"),
        ("退订106597009", "106597009"),
        ("退订 106597009", "106597009"),
        ("TD10658000123", "10658000"),  # our code plus an extension
        ("TD 10658000 谢谢", "10658000"),
    ],
)
def test_unsubscribe_with_service_code(text: str, code: str) -> None:
    command = parse_command(text, OUR_CODES)
    assert command.kind is K.UNSUBSCRIBE
    assert command.service_code == code


def test_unsubscribe_with_code_keeps_the_rest_as_argument() -> None:
    assert parse_command("TD 10658000 谢谢", OUR_CODES).argument == "谢谢"


@pytest.mark.parametrize(
    "text",
    [
        "TD10655000999",  # someone else's code: do not cancel ours
        "TD1065800",  # too short to be ours
        "TD 1",
        "TD12AB",  # digits glued to letters
        "TD10658000ABC",
    ],
)
def test_unsubscribe_naming_no_code_of_ours_is_help(text: str) -> None:
    assert kind(text) is K.HELP


def test_without_known_codes_any_digits_are_the_code() -> None:
    command = parse_command("TD12345")
    assert command == Command(kind=K.UNSUBSCRIBE, keyword="TD", service_code="12345")


@pytest.mark.parametrize(
    "text", ["SDXYZ", "SDA", "SD1", "SD10658000", "TDX", "TDD", "QXX", "XSD", "HELLO SD", "S D"]
)
def test_keyword_glued_to_letters_or_digits_is_help(text: str) -> None:
    assert kind(text) is K.HELP


@pytest.mark.parametrize("text", ["0000", " 0000 ", "００００", "0000。", "0000 list"])
def test_query_forms(text: str) -> None:
    assert kind(text) is K.QUERY


@pytest.mark.parametrize("text", ["00000", "０００００", " 00000！", "00000 all"])
def test_unsubscribe_all_forms(text: str) -> None:
    assert kind(text) is K.UNSUBSCRIBE_ALL


@pytest.mark.parametrize(
    "text", ["CX", "cx", "Cx", "ＣＸ", " cx。", "【CX】", "CX 彩信版", "cx,please", "彩信",
             " 彩信！", "彩信版", "彩信版。"]
)
def test_mms_format_forms(text: str) -> None:
    assert kind(text) is K.CHOOSE_MMS


@pytest.mark.parametrize(
    "text", ["DX", "dx", "ＤＸ", "Dx！", "DX 短信", "短信", "短信。", "「短信版」", "ｄｘ"]
)
def test_sms_format_forms(text: str) -> None:
    assert kind(text) is K.CHOOSE_SMS


@pytest.mark.parametrize(
    "text", ["CXY", "CX1", "DXX", "XCX", "彩信好看", "短信退订", "短信怎么收费", "彩信版本",
             "短信TD"]
)
def test_format_words_are_not_read_into_other_messages(text: str) -> None:
    """``短信退订`` asks to leave, not to switch: the Chinese format words count only as the
    whole message, and CX/DX only before a boundary."""
    assert kind(text) not in (K.CHOOSE_MMS, K.CHOOSE_SMS)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "。",
        "\u200b",
        "000",
        "000000",
        "00001",
        "0000A",
        "hello",
        "你好",
        "帮助",
        "?",
        "~SD~",
    ],
)
def test_everything_else_is_help(text: str) -> None:
    assert kind(text) is K.HELP


def test_help_keeps_the_normalised_text() -> None:
    assert parse_command(" ｈｅｌｌｏ。") == Command(kind=K.HELP, argument="HELLO")


def test_subscribe_keeps_the_text_after_the_keyword() -> None:
    assert parse_command("sd 手机报。") == Command(
        kind=K.SUBSCRIBE, keyword="SD", argument="手机报"
    )


def test_keyword_table_is_normalised_data() -> None:
    for keyword, spec in KEYWORDS.items():
        assert keyword == keyword.upper().strip()
        assert parse_command(keyword, OUR_CODES).kind is spec.kind
    confirmations = [k for k, spec in KEYWORDS.items() if spec.kind is K.CONFIRM]
    assert all(KEYWORDS[k].trailing is Trailing.NOTHING for k in confirmations)


@given(st.text(max_size=40))
def test_parse_never_raises(text: str) -> None:
    command = parse_command(text, OUR_CODES)
    assert isinstance(command.kind, CommandKind)
    if command.kind is not K.UNSUBSCRIBE:
        assert command.service_code is None


@given(st.text(alphabet=st.characters(categories=["Lu", "Ll", "Nd"]), max_size=10))
def test_confirm_is_never_read_into_longer_words(suffix: str) -> None:
    if suffix:
        assert kind("Y" + suffix) is not K.CONFIRM
        assert kind("是" + suffix) is not K.CONFIRM


def _full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


decorations = st.lists(
    st.sampled_from(
        [" ", "\u3000", "\t", "。", "，", "！", "？", "、", ".", ",", "!", "?", "【", "】"]
    ),
    max_size=4,
).map("".join)


@given(
    keyword=st.sampled_from(sorted(KEYWORDS)),
    before=decorations,
    after=decorations,
    full_width=st.booleans(),
    lower=st.booleans(),
)
def test_every_keyword_survives_case_width_and_punctuation(
    keyword: str, before: str, after: str, full_width: bool, lower: bool
) -> None:
    typed = keyword.lower() if lower else keyword
    if full_width:
        typed = _full_width(typed)
    command = parse_command(before + typed + after, OUR_CODES)
    assert command.kind is KEYWORDS[keyword].kind
    assert command.keyword == keyword
    assert command.argument == ""
