"""Throughput of our SMPP codec against smpp.pdu3 (Jasmin's codec), in one process.

Run with ``.venv/bin/python -m bench.codec_bench``. The PDU is one segment of a long Chinese
message as the gateway sends it: a submit_sm with 134 octets of UCS2 text and the three sar TLVs.
Each case runs in batches for ``seconds_per_case``; the best batch is reported, as ``timeit``
advises, so that other load on the machine distorts the figures as little as possible.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from carriers.smpp.codec import decode, encode
from carriers.smpp.pdus import SubmitSm
from gateway.cli.progress import CommandProgress

__all__ = ["main", "measure_codecs", "sample_submit_sm"]

_TEXT = (
    "【省报手机版】今日要闻：全省经济运行稳中有进，一季度重点项目建设加快推进，"
    "城乡居民收入持续增长，民生保障水平不断提高，各地春耕生产有序展开。"
)[:67]
_BATCHES = 10


def sample_submit_sm() -> SubmitSm:
    """The representative PDU: segment 1 of 2, UCS2, delivery receipt requested."""
    return SubmitSm(
        sequence_number=123456,
        source_addr_ton=0,
        source_addr_npi=1,
        source_addr="1065710099",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="8613800138000",
        registered_delivery=1,
        data_coding=0x08,
        short_message=_TEXT.encode("utf-16-be"),
        sar_msg_ref_num=0x1234,
        sar_total_segments=2,
        sar_segment_seqnum=1,
    )


def _rate(operation: Callable[[], object], seconds: float) -> float:
    """Operations per second of the fastest of several batches filling ``seconds``."""
    # Calibrate a batch size that takes roughly seconds / _BATCHES.
    count = 1
    while True:
        started = time.perf_counter()
        for _ in range(count):
            operation()
        elapsed = time.perf_counter() - started
        if elapsed >= 0.02:
            break
        count *= 4
    per_batch = max(1, int(count * (seconds / _BATCHES) / elapsed))
    best = 0.0
    deadline = time.perf_counter() + seconds
    while True:
        started = time.perf_counter()
        for _ in range(per_batch):
            operation()
        finished = time.perf_counter()
        best = max(best, per_batch / (finished - started))
        if finished >= deadline:
            return best


def _our_operations() -> dict[str, Callable[[], object]]:
    pdu = sample_submit_sm()
    frame = encode(pdu)
    assert decode(frame) == pdu
    return {
        "encode": lambda: encode(pdu),
        "decode": lambda: decode(frame),
        "pair": lambda: decode(encode(pdu)),
    }


def _jasmin_operations() -> dict[str, Callable[[], object]] | None:
    try:
        from smpp.pdu import operations
        from smpp.pdu import pdu_types as types
        from smpp.pdu.pdu_encoding import PDUEncoder
    except ImportError:
        return None
    ours = sample_submit_sm()
    fields: dict[str, Any] = {
        "service_type": "",
        "source_addr_ton": types.AddrTon.UNKNOWN,
        "source_addr_npi": types.AddrNpi.ISDN,
        "source_addr": ours.source_addr,
        "dest_addr_ton": types.AddrTon.INTERNATIONAL,
        "dest_addr_npi": types.AddrNpi.ISDN,
        "destination_addr": ours.destination_addr,
        "esm_class": types.EsmClass(types.EsmClassMode.DEFAULT, types.EsmClassType.DEFAULT),
        "protocol_id": 0,
        "priority_flag": types.PriorityFlag.LEVEL_0,
        "schedule_delivery_time": None,
        "validity_period": None,
        "registered_delivery": types.RegisteredDelivery(
            types.RegisteredDeliveryReceipt.SMSC_DELIVERY_RECEIPT_REQUESTED
        ),
        "replace_if_present_flag": types.ReplaceIfPresentFlag.DO_NOT_REPLACE,
        "data_coding": types.DataCoding(
            types.DataCodingScheme.DEFAULT, types.DataCodingDefault.UCS2
        ),
        "sm_default_msg_id": 0,
        "short_message": ours.short_message,
        "sar_msg_ref_num": ours.sar_msg_ref_num,
        "sar_total_segments": ours.sar_total_segments,
        "sar_segment_seqnum": ours.sar_segment_seqnum,
    }
    pdu = operations.SubmitSM(seqNum=ours.sequence_number, **fields)
    encoder = PDUEncoder()
    frame = encoder.encode(pdu)
    # Same bytes as ours, so both codecs do the same work.
    assert frame == encode(ours), "smpp.pdu3 encodes the sample differently"
    return {
        "encode": lambda: encoder.encode(pdu),
        "decode": lambda: encoder.decode(io.BytesIO(frame)),
        "pair": lambda: encoder.decode(io.BytesIO(encoder.encode(pdu))),
    }


def measure_codecs(seconds_per_case: float = 2.0) -> dict[str, float]:
    """Operations per second, keyed ``"<codec>.<encode|decode|pair>"`` plus ``"ratio.<op>"``.

    ``<codec>`` is ``sdgw`` (ours) or ``smpp.pdu3``; a pair is one encode plus one decode.
    The ``smpp.pdu3`` and ratio keys are absent if that package is not installed.
    """
    results: dict[str, float] = {}
    codecs = {"sdgw": _our_operations(), "smpp.pdu3": _jasmin_operations()}
    cases = sum(len(operations) for operations in codecs.values() if operations is not None)
    with CommandProgress() as display:
        measured = display.add("codec cases", total=cases, unit="cases")
        for codec_name, operations in codecs.items():
            if operations is None:
                continue
            for operation_name, operation in operations.items():
                results[f"{codec_name}.{operation_name}"] = _rate(operation, seconds_per_case)
                measured.advance()
    if codecs["smpp.pdu3"] is not None:
        for operation_name in ("encode", "decode", "pair"):
            results[f"ratio.{operation_name}"] = (
                results[f"sdgw.{operation_name}"] / results[f"smpp.pdu3.{operation_name}"]
            )
    return results


def main() -> None:
    """Print the measurements as a small table."""
    frame = encode(sample_submit_sm())
    print(f"submit_sm, {len(frame)} octets (UCS2 text + sar TLVs); best of {_BATCHES} batches")
    results = measure_codecs()
    print(f"{'operation':<10}{'sdgw /s':>14}{'smpp.pdu3 /s':>16}{'ratio':>9}")
    for operation_name in ("encode", "decode", "pair"):
        ours = results[f"sdgw.{operation_name}"]
        theirs = results.get(f"smpp.pdu3.{operation_name}")
        ratio = results.get(f"ratio.{operation_name}")
        theirs_text = f"{theirs:>16,.0f}" if theirs is not None else f"{'n/a':>16}"
        ratio_text = f"{ratio:>8.1f}x" if ratio is not None else f"{'n/a':>9}"
        print(f"{operation_name:<10}{ours:>14,.0f}{theirs_text}{ratio_text}")


if __name__ == "__main__":
    main()
