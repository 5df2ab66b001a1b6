"""Frames between the gateway and a link worker (``gateway.link_process.frames``)."""

from __future__ import annotations

import pickle
import struct
from datetime import UTC, datetime

import pytest

from carriers.link.status import LinkStatus
from carriers.messages import DeliveryReceipt, ReceiptState
from gateway.link_process import frames
from gateway.link_process.frames import BadFrame, FrameReader, encode


def receipt(n: int) -> DeliveryReceipt:
    return DeliveryReceipt(carrier="china_mobile", message_id=f"m{n}",
                           state=ReceiptState.DELIVERED, stat="DELIVRD",
                           received_at=datetime(2026, 12, 3, tzinfo=UTC))


def test_operations_come_out_in_order_however_the_bytes_are_split() -> None:
    first = [("inbound", n, receipt(n)) for n in range(50)]
    second = [("status", LinkStatus(carrier="china_mobile", protocol="smpp"))]
    data = encode(first) + encode(second)
    for step in (1, 3, 7, 4096, len(data)):
        reader = FrameReader()
        out = []
        for start in range(0, len(data), step):
            out.extend(reader.feed(data[start:start + step]))
        assert [op[:2] for op in out[:50]] == [op[:2] for op in first]
        assert out[49][2] == receipt(49)
        assert out[50][1].carrier == "china_mobile"
        assert len(out) == 51


def test_an_announced_frame_above_the_limit_is_refused_before_it_is_read() -> None:
    with pytest.raises(BadFrame, match="limit"):
        FrameReader().feed(struct.pack(">I", frames.MAX_FRAME + 1))


def test_a_frame_that_is_not_a_list_of_operations_is_refused() -> None:
    payload = pickle.dumps({"not": "a list"})
    with pytest.raises(BadFrame, match="not a list"):
        FrameReader().feed(struct.pack(">I", len(payload)) + payload)
    with pytest.raises(BadFrame, match="unpickle"):
        FrameReader().feed(struct.pack(">I", 3) + b"\x80\x05x")


def test_every_message_kind_crosses_a_frame_whole() -> None:
    from carriers.messages import (
        InboundMessage,
        Lane,
        MessagePart,
        OutboundMessage,
        SubmitOutcome,
        SubmitResult,
        TextCoding,
    )

    at = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    sent = [
        OutboundMessage(source="10658000", destination="+8613800138000",
                        parts=(MessagePart(payload=b"\x05\x00\x03\x01\x02\x01ab",
                                           coding=TextCoding.UCS2, has_udh=True),) * 2,
                        want_receipt=False, lane=Lane.INTERACTIVE, link_id="L1",
                        references=(7, 8)),
        SubmitResult(outcome=SubmitOutcome.TRANSIENT, message_id=None, status=0x58,
                     reason="ESME_RTHROTTLED (0x58)"),
        InboundMessage(carrier="china_unicom", source="13000000001", destination="106558000678",
                       text="ＳＤ", received_at=at, carrier_message_id="x1", link_id="L2"),
        DeliveryReceipt(carrier="china_telecom", message_id="m9", state=ReceiptState.UNDELIVERABLE,
                        stat="UNDELIV", error="001", submitted_at=at, done_at=at,
                        received_at=at, subscriber="13300000001", reference=65535),
    ]
    (operation,) = FrameReader().feed(encode([("all", sent)]))
    assert operation[1] == sent
    assert [type(item) for item in operation[1]] == [type(item) for item in sent]
