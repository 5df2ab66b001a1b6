"""A fast SMSC floods `sdgw run` with delivery receipts, ignoring any window.

The fake SMSC lives in this process: it binds the gateway, then writes 100,000 deliver_sm
receipts for message ids the gateway never sent as fast as the socket takes them, while another
thread reads (and drops) the gateway's responses.  Every receipt must end up stored (as
unmatched), and the gateway's memory must stay flat: the link stops reading the socket while
too many receipts are read but not yet committed, and TCP flow control holds the SMSC.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from carriers.smpp import codec
from carriers.smpp.pdus import (
    BindTransceiverResp,
    CommandId,
    DeliverSm,
    EnquireLinkResp,
    MessageState,
    UnbindResp,
)
from carriers.smpp.receipts import ReceiptText, format_receipt_text
from gateway.db.engine import make_engine, upgrade
from gateway.db.models import UnmatchedReceipt
from tests.conftest import REPO_ROOT, free_port
from tests.e2e.test_cli_run import LogReader

RECEIPTS = 100_000
CHUNK = 64 * 1024
"""Octets per sendall: the flood is written in pieces so queued responses can go in between."""
MAX_GROWTH_MB = 120.0
STORE_TIMEOUT = 420.0
"""Generous: the unmatched-receipt path takes ~50 s on SQLite and ~120-180 s on PostgreSQL here."""


def receipt_frames(count: int) -> bytes:
    """``count`` encoded deliver_sm receipts for ids the gateway does not know, back to back."""
    submitted = datetime(2026, 1, 5, 7, 0)  # receipt dates are the SMSC's naive local time
    done = datetime(2026, 1, 5, 7, 1)
    frames = []
    for number in range(1, count + 1):
        message_id = f"flood{number:09d}"
        text = format_receipt_text(ReceiptText(
            id=message_id, sub=1, dlvrd=1, submit_date=submitted, done_date=done,
            stat="DELIVRD", err="000", text="",
        ))
        frames.append(codec.encode(DeliverSm(
            sequence_number=number,
            source_addr="13800138000",
            destination_addr="10658000",
            esm_class=0x04,
            data_coding=0x01,
            short_message=text.encode("ascii"),
            receipted_message_id=message_id,
            message_state=MessageState.DELIVERED,
        )))
    return b"".join(frames)


class FloodingSmsc:
    """A blocking-socket SMSC: binds one client, then floods it; responses are read and dropped.

    One thread writes (the bind response, then the flood, then whatever the reader queued);
    another reads every PDU the gateway sends, so this side never blocks on them, and queues
    answers to enquire_link and unbind.
    """

    def __init__(self, flood: bytes) -> None:
        self._flood = flood
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.bound = threading.Event()
        self.start_flood = threading.Event()
        self.flood_written = threading.Event()
        self.responses = 0
        self._answers: queue.Queue[bytes | None] = queue.Queue()
        self._connection: socket.socket | None = None
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._writer.start()

    def close(self) -> None:
        self._answers.put(None)
        self.start_flood.set()
        self._listener.close()
        if self._connection is not None:
            self._connection.close()

    def _write(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return
        self._connection = connection
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        header = _read_exact(connection, 16)
        if header is None:
            return
        length, command_id, _, sequence = struct.unpack(">IIII", header)
        _read_exact(connection, length - 16)
        assert command_id == CommandId.BIND_TRANSCEIVER, hex(command_id)
        connection.sendall(codec.encode(
            BindTransceiverResp(sequence_number=sequence, system_id="flood")))
        threading.Thread(target=self._read, args=(connection,), daemon=True).start()
        self.bound.set()
        self.start_flood.wait()
        view = memoryview(self._flood)
        try:
            for start in range(0, len(view), CHUNK):
                connection.sendall(view[start:start + CHUNK])
                self._send_answers(connection, block=False)
            self.flood_written.set()
            self._send_answers(connection, block=True)
        except OSError:
            return

    def _send_answers(self, connection: socket.socket, *, block: bool) -> None:
        while True:
            try:
                answer = self._answers.get(block=block)
            except queue.Empty:
                return
            if answer is None:
                return
            connection.sendall(answer)

    def _read(self, connection: socket.socket) -> None:
        while (header := _read_exact(connection, 16)) is not None:
            length, command_id, _, sequence = struct.unpack(">IIII", header)
            if _read_exact(connection, length - 16) is None:
                break
            if command_id == CommandId.DELIVER_SM_RESP:
                self.responses += 1
            elif command_id == CommandId.ENQUIRE_LINK:
                self._answers.put(codec.encode(EnquireLinkResp(sequence_number=sequence)))
            elif command_id == CommandId.UNBIND:
                self._answers.put(codec.encode(UnbindResp(sequence_number=sequence)))
                self._answers.put(None)
        self._answers.put(None)


def _read_exact(connection: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        try:
            chunk = connection.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return bytes(data)


class RssSampler:
    """Samples a process's resident set size (VmRSS) every ``interval`` seconds, in MB."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self._path = Path(f"/proc/{pid}/status")
        self._interval = interval
        self._stop = threading.Event()
        self.samples: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def read(self) -> float:
        for line in self._path.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self.read())
            except (OSError, AssertionError):
                return
            self._stop.wait(self._interval)


def write_config(tmp_path: Path, database_url: str, smsc_port: int) -> Path:
    path = tmp_path / "flood.toml"
    path.write_text(f"""
[database]
url = "{database_url}"
[console]
enabled = false
[metrics]
enabled = false
[content]
port = {free_port()}
[dispatch]
schedule = false
[newspaper]
name = "测试手机报"
price = "3元/月"
signature = "测试手机报"
[carriers.china_mobile]
short_code = "10658000"
[carriers.china_mobile.link]
port = {smsc_port}
system_id = "flood"
password = "pw"
reconnect_initial_delay = 0.2
""", encoding="utf-8")
    return path


@pytest.mark.timeout(STORE_TIMEOUT + 120)
def test_receipt_flood_is_stored_with_flat_memory(tmp_path: Path, database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    smsc = FloodingSmsc(receipt_frames(RECEIPTS))
    config = write_config(tmp_path, database_url, smsc.port)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--config", str(config), "run"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log = LogReader(process)
    sampler = RssSampler(process.pid)
    stored = 0
    try:
        log.wait_for(r"link: bound to", timeout=30)
        assert smsc.bound.wait(timeout=5)
        time.sleep(1.0)  # let start-up settle before the baseline
        baseline = sampler.read()
        sampler.start()
        started = time.monotonic()
        smsc.start_flood.set()
        deadline = started + STORE_TIMEOUT
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                stored = connection.execute(
                    select(func.count()).select_from(UnmatchedReceipt)).scalar_one()
            if stored >= RECEIPTS:
                break
            assert process.poll() is None, log.text[-3000:]
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        sampler.stop()
        final = sampler.read()
        peak = max(sampler.samples, default=baseline)
        print(f"\nreceipt flood: {stored} of {RECEIPTS} stored in {elapsed:.1f}s "
              f"({stored / elapsed:.0f} receipts/s); RSS baseline {baseline:.1f} MB, "
              f"peak {peak:.1f} MB (+{peak - baseline:.1f}), final {final:.1f} MB; "
              f"pauses logged: {log.text.count('pausing reads')}")
    finally:
        sampler.stop()
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
            smsc.close()
            engine.dispose()
    assert stored == RECEIPTS, log.text[-3000:]
    assert peak - baseline < MAX_GROWTH_MB, f"RSS grew {peak - baseline:.1f} MB"
    assert code == 0, log.text[-3000:]
    assert "Traceback" not in log.text, log.text[-3000:]
