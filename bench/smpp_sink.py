"""A fast SMPP 3.4 sink for benchmarks: the far end of a gateway (or of Kannel) that costs little.

Run with ``python -m bench.smpp_sink --port P --stats FILE [--receipts] [--mo-rate R]``.

- Any bind (transmitter, receiver, transceiver) is accepted; ``enquire_link``, ``unbind`` and
  ``generic_nack`` are answered; ``submit_sm`` gets a ``submit_sm_resp`` with a unique message
  id, and with ``--receipts`` a delivery receipt (``deliver_sm``, ``esm_class`` 0x04, the
  ``receipted_message_id`` and ``message_state`` TLVs and the usual ``id:… stat:DELIVRD`` text)
  sent in the same write: no window of its own for receipts, as fast as the socket takes them.
- It counts what it is sent per destination: every part of a concatenated message (UDH 8-bit
  or 16-bit reference) sets one bit of that number's mask, and a part seen twice is a
  duplicate. The stats file (JSON, rewritten each second and on exit) says how many numbers
  got exactly ``--parts`` parts and how many got fewer, more or twice the same.
- With ``--mo-rate R``, while bulk traffic runs (from the first bulk submit until
  ``--bulk-expected`` of them), R mobile-originated messages a second go to the bound
  receivers from ``--mo-numbers`` numbers (``SD``, ``Y`` and ``TD`` in turn per number, one
  second apart), and the time from each MO's ``deliver_sm`` to the first ``submit_sm`` back
  to its number (the reply) is measured: p50/p99/max in the stats.

The decoding here is its own (``struct`` over the raw PDU), not the gateway's codec, so the
benchmark's copy check is an independent reading of what went on the wire.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import struct
import time
from collections import deque
from pathlib import Path
from typing import Any

from twisted.internet import protocol, reactor, task

HEADER = struct.Struct(">IIII")
GENERIC_NACK = 0x80000000
BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER = 0x00000001, 0x00000002, 0x00000009
SUBMIT_SM, DELIVER_SM, UNBIND, ENQUIRE_LINK = 0x00000004, 0x00000005, 0x00000006, 0x00000015
RESPONSE = 0x80000000
MO_TEXTS = ("SD", "Y", "TD")


class Stats:
    """What the sink saw, shared by its connections."""

    def __init__(self, *, parts: int, mo_numbers: list[str]) -> None:
        self.parts = parts
        self.binds = 0
        self.submits = 0
        self.bulk_submits = 0
        self.first_submit: float | None = None
        self.last_submit: float | None = None
        self.receipts_sent = 0
        self.receipt_responses = 0
        self.masks: dict[str, int] = {}
        self.duplicates = 0
        self.mo_numbers = set(mo_numbers)
        self.mo_sent = 0
        self.mo_waiting: dict[str, float] = {}
        self.mo_latencies: list[float] = []
        self.mo_unanswered_overtaken = 0
        self.mo_replies_extra = 0

    def snapshot(self) -> dict[str, Any]:
        complete = sum(1 for mask in self.masks.values() if mask == (1 << self.parts) - 1)
        latencies = sorted(self.mo_latencies)

        def pct(q: float) -> float | None:
            if not latencies:
                return None
            return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)

        span = (self.last_submit or 0) - (self.first_submit or 0)
        return {
            "binds": self.binds,
            "submits": self.submits,
            "bulk_submits": self.bulk_submits,
            "first_submit": self.first_submit,
            "last_submit": self.last_submit,
            "bulk_rate": round((self.bulk_submits - 1) / span, 1) if span > 0 else None,
            "receipts_sent": self.receipts_sent,
            "receipt_responses": self.receipt_responses,
            "numbers": len(self.masks),
            "numbers_complete": complete,
            "numbers_incomplete": len(self.masks) - complete,
            "duplicate_parts": self.duplicates,
            "mo_sent": self.mo_sent,
            "mo_replied": len(self.mo_latencies),
            "mo_waiting": len(self.mo_waiting),
            "mo_overtaken": self.mo_unanswered_overtaken,
            "mo_p50_ms": pct(0.50),
            "mo_p99_ms": pct(0.99),
            "mo_max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        }


def c_string(data: bytes, offset: int) -> tuple[bytes, int]:
    end = data.index(b"\0", offset)
    return data[offset:end], end + 1


def read_submit(body: bytes) -> tuple[str, int | None, bool]:
    """Destination, part number (None when not concatenated), and whether a receipt is wanted."""
    _service, at = c_string(body, 0)
    _src, at = c_string(body, at + 2)
    destination, at = c_string(body, at + 2)
    esm_class = body[at]
    _schedule, at = c_string(body, at + 3)
    _validity, at = c_string(body, at)
    registered = body[at]
    length = body[at + 4]
    message = body[at + 5:at + 5 + length]
    part = None
    if esm_class & 0x40 and message:
        udh = message[1:1 + message[0]]
        index = 0
        while index + 2 <= len(udh):
            iei, size = udh[index], udh[index + 1]
            if iei == 0x00 and size == 3:
                part = udh[index + 4]
            elif iei == 0x08 and size == 4:
                part = udh[index + 5]
            index += 2 + size
    return destination.decode("ascii", "replace"), part, bool(registered & 0x03)


class SinkSession(protocol.Protocol):
    def __init__(self, sink: SinkFactory) -> None:
        self.sink = sink
        self.buffer = b""
        self.sequence = 0
        self.bound = False
        self.receiver = False

    def connectionLost(self, reason: Any = None) -> None:
        if self in self.sink.receivers:
            self.sink.receivers.remove(self)

    def dataReceived(self, data: bytes) -> None:
        buffer = self.buffer + data
        out: list[bytes] = []
        stats = self.sink.stats
        at = 0
        size = len(buffer)
        now = time.monotonic()
        while size - at >= 16:
            length, command, _status, sequence = HEADER.unpack_from(buffer, at)
            if length < 16 or length > 65536:
                self.transport.loseConnection()
                return
            if size - at < length:
                break
            body = buffer[at + 16:at + length]
            at += length
            if command == SUBMIT_SM:
                self.sink.next_id += 1
                message_id = b"%x" % self.sink.next_id
                out.append(HEADER.pack(16 + len(message_id) + 1, SUBMIT_SM | RESPONSE, 0,
                                       sequence) + message_id + b"\0")
                try:
                    destination, part, wanted = read_submit(body)
                except (ValueError, IndexError):
                    continue
                stats.submits += 1
                waited = stats.mo_waiting.pop(destination, None) if stats.mo_numbers else None
                if waited is not None:
                    stats.mo_latencies.append(now - waited)
                elif destination in stats.mo_numbers:
                    stats.mo_replies_extra += 1
                else:
                    stats.bulk_submits += 1
                    if stats.first_submit is None:
                        stats.first_submit = time.time()
                    stats.last_submit = time.time()
                    bit = 1 << ((part or 1) - 1)
                    mask = stats.masks.get(destination, 0)
                    if mask & bit:
                        stats.duplicates += 1
                    stats.masks[destination] = mask | bit
                if self.sink.receipts and wanted:
                    out.append(self.receipt(message_id, destination))
                    stats.receipts_sent += 1
            elif command == DELIVER_SM | RESPONSE:
                stats.receipt_responses += 1
            elif command == ENQUIRE_LINK:
                out.append(HEADER.pack(16, ENQUIRE_LINK | RESPONSE, 0, sequence))
            elif command in (BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER):
                self.bound = True
                stats.binds += 1
                out.append(HEADER.pack(16 + 5, command | RESPONSE, 0, sequence) + b"sink\0")
                if command != BIND_TRANSMITTER:
                    self.receiver = True
                    self.sink.receivers.append(self)
            elif command == UNBIND:
                out.append(HEADER.pack(16, UNBIND | RESPONSE, 0, sequence))
            elif command & RESPONSE:
                pass
            else:
                out.append(HEADER.pack(16, GENERIC_NACK, 3, sequence))
        self.buffer = buffer[at:]
        if out:
            self.transport.write(b"".join(out))

    def next_sequence(self) -> int:
        self.sequence = self.sequence % 0x7FFFFFFF + 1
        return self.sequence

    def deliver_sm(self, source: str, destination: str, esm_class: int, data_coding: int,
                   message: bytes, tlvs: bytes = b"") -> bytes:
        body = (b"\0" + bytes((1, 1)) + source.encode() + b"\0" + bytes((0, 1))
                + destination.encode() + b"\0" + bytes((esm_class, 0, 0)) + b"\0\0"
                + bytes((0, 0, data_coding, 0, len(message))) + message + tlvs)
        return HEADER.pack(16 + len(body), DELIVER_SM, 0, self.next_sequence()) + body

    def receipt(self, message_id: bytes, destination: str) -> bytes:
        stamp = time.strftime("%y%m%d%H%M").encode()
        text = (b"id:" + message_id + b" sub:001 dlvrd:001 submit date:" + stamp
                + b" done date:" + stamp + b" stat:DELIVRD err:000 text:")
        tlvs = (struct.pack(">HH", 0x001E, len(message_id) + 1) + message_id + b"\0"
                + struct.pack(">HHB", 0x0427, 1, 2))
        return self.deliver_sm(destination, self.sink.short_code, 0x04, 0, text, tlvs)

    def mo(self, source: str, text: str) -> None:
        self.transport.write(self.deliver_sm(source, self.sink.short_code, 0, 0,
                                             text.encode("ascii")))


class SinkFactory(protocol.Factory):
    def __init__(self, stats: Stats, *, receipts: bool, short_code: str) -> None:
        self.stats = stats
        self.receipts = receipts
        self.short_code = short_code
        self.next_id = int(time.time()) << 20
        self.receivers: list[SinkSession] = []

    def buildProtocol(self, addr: Any) -> SinkSession:
        return SinkSession(self)


class MoLoad:
    """R MOs a second: each number says SD, then Y a second later, then TD a second after."""

    def __init__(self, sink: SinkFactory, numbers: list[str], rate: float,
                 bulk_expected: int) -> None:
        self.sink = sink
        self.bulk_expected = bulk_expected
        self.rate = rate
        self.queue: deque[tuple[float, str, int]] = deque()
        self.numbers = iter(numbers)
        self.started = 0.0
        self.turn = 0
        self.sent = 0

    def tick(self) -> None:
        """Runs while bulk traffic does: from the first bulk submit to the expected last."""
        stats = self.sink.stats
        if (not self.sink.receivers or stats.first_submit is None
                or (self.bulk_expected and stats.bulk_submits >= self.bulk_expected)):
            self.started = 0.0
            return
        now = time.monotonic()
        if not self.started:
            self.started, self.sent = now, 0
        wanted = int((now - self.started) * self.rate)
        while self.sent < wanted:
            if self.queue and self.queue[0][0] <= now:
                _, number, step = self.queue.popleft()
            else:
                number = next(self.numbers, None)  # type: ignore[arg-type]
                if number is None:
                    return
                step = 0
            if number in stats.mo_waiting:
                stats.mo_unanswered_overtaken += 1
            stats.mo_waiting[number] = time.monotonic()
            receivers = self.sink.receivers
            receivers[self.turn % len(receivers)].mo(number, MO_TEXTS[step])
            self.turn += 1
            stats.mo_sent += 1
            self.sent += 1
            if step + 1 < len(MO_TEXTS):
                self.queue.append((now + 1.0, number, step + 1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--receipts", action="store_true")
    parser.add_argument("--parts", type=int, default=2, help="parts each number should get")
    parser.add_argument("--short-code", default="10658000")
    parser.add_argument("--mo-rate", type=float, default=0.0)
    parser.add_argument("--bulk-expected", type=int, default=0,
                        help="bulk submits after which the MO load stops (0: never)")
    parser.add_argument("--mo-numbers", default="13900000000:100000",
                        help="FIRST:COUNT of the numbers MOs come from")
    args = parser.parse_args(argv)
    first, count = args.mo_numbers.split(":")
    numbers = [str(int(first) + n) for n in range(int(count))] if args.mo_rate else []
    stats = Stats(parts=args.parts, mo_numbers=numbers)
    sink = SinkFactory(stats, receipts=args.receipts, short_code=args.short_code)

    def dump() -> None:
        temporary = args.stats.with_suffix(".tmp")
        temporary.write_text(json.dumps(stats.snapshot()))
        os.replace(temporary, args.stats)

    reactor.listenTCP(args.port, sink, interface=args.host, backlog=50)  # type: ignore[attr-defined]
    task.LoopingCall(dump).start(1.0)
    if args.mo_rate:
        task.LoopingCall(MoLoad(sink, numbers, args.mo_rate, args.bulk_expected).tick).start(0.01)

    def stop(*_: Any) -> None:
        reactor.callFromThread(reactor.stop)  # type: ignore[attr-defined]

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    reactor.run(installSignalHandlers=False)  # type: ignore[attr-defined]
    dump()


if __name__ == "__main__":
    main()
