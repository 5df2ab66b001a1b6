"""Fuzzing the MM7 readers: whatever arrives, they answer a value or raise Mm7Error only."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carriers.mm7.codec import (
    MmStatus,
    build_delivery_report_request,
    parse_mmsc_request,
    parse_submit_response,
)
from carriers.mm7.mime import parse_request_body
from carriers.mm7.soap import Mm7Error

VALID = build_delivery_report_request(
    release="REL-6-MM7-1-4", transaction_id="t1", message_id="CM1", recipient="13912345678",
    sender="10658000", status=MmStatus.RETRIEVED, date=datetime(2020, 1, 1, tzinfo=UTC))


def _mutations() -> st.SearchStrategy[bytes]:
    """Valid envelopes cut, spliced and flipped, and plain random bytes."""
    def mutate(data: tuple[int, int, bytes]) -> bytes:
        start, length, insert = data
        start %= len(VALID)
        return VALID[:start] + insert + VALID[start + length:]
    return st.one_of(
        st.binary(max_size=600),
        st.tuples(st.integers(0, len(VALID)), st.integers(0, 40), st.binary(max_size=30))
        .map(mutate),
        st.text(alphabet="<>/=\"': abcdMessageIDTransactionEnvelopeBodyxmlns", max_size=300)
        .map(str.encode),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_mmsc_request_parser_raises_only_its_own_error(data: bytes) -> None:
    with contextlib.suppress(Mm7Error):
        parse_mmsc_request(data)


@settings(max_examples=300, deadline=None)
@given(_mutations())
def test_submit_response_parser_raises_only_its_own_error(data: bytes) -> None:
    with contextlib.suppress(Mm7Error):
        parse_submit_response(data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), st.binary(max_size=800))
def test_multipart_reader_raises_only_its_own_error(content_type: str, body: bytes) -> None:
    with contextlib.suppress(Mm7Error):
        parse_request_body("multipart/related; " + content_type, body)
