"""An independent CMPP 3.0 client from PyPI (cmppy 0.3) against our simulated ISMG: it logs
in, submits UCS2 Chinese text, gets its Msg_Id, and receives the status report.

cmppy shares no code with ours, so its CONNECT, SUBMIT and TERMINATE check the simulator's
decoding, and its parsing of CONNECT_RESP and SUBMIT_RESP checks our encoding.  cmppy cannot
read a DELIVER, so the test parses the report frame by hand, from docs/wire-formats.md §2.6
(3.0 layout), not with our codec.

Library bugs worked around here (cmppy 0.3, the last release; found in /tmp research, each
reproduced against a throwaway ISMG first):

1. ``Cmppy._read`` reads ``recv(4)`` then ``recv(Total_Length)``, i.e. 4 octets too many (it
   swallows the start of the next PDU), and does not loop on short reads.  Workaround:
   ``_read_frame`` below replaces it (monkeypatched per test).
2. cmppy has no DELIVER class (``parse_response`` raises ``KeyError: 5``) and cannot answer
   one.  Workaround: the test reads the raw DELIVER and writes the DELIVER_RESP itself.
3. ``Cmppy._valid_auth`` is Python 2 code (``bytes.encode("hex")``) and is never called, so
   cmppy does not check AuthenticatorISMG.  Workaround: the test sends cmppy's own
   ``ConnectReq`` (which keeps its ``authenticator_source``) and checks the MD5 itself.
4. ``cmppy._log`` print()s every frame in hex.  Workaround: silenced.
5. ``sp_id``/``msg_src``, FeeType and FeeCode are written unpadded, and the defaults are odd
   (``feecode='103013'``, ``service_id='MI'``): the test passes a 6-digit SP code, a 2-char
   fee type and a 6-digit fee code, so cmppy's SUBMIT is the size the spec says.
6. Sequence_Ids come from a module-global counter bumped when a request object is built, so
   in ``request()`` the SUBMIT (built first) has a lower Sequence_Id than the CONNECT sent
   before it; the simulator must simply echo them (checked in the one-shot test).
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor, threads

from carriers.messages import TextCoding
from carriers.simulator.smsc_service import SimulatedIsmg, SimulatorSettings

cmppy = pytest.importorskip("cmppy")

SP_CODE = "901234"
SECRET = "s3cret"
SHORT_CODE = "1065800001"
HANDSET = "8613800138000"
TEXT = "山东手机报：今日要闻，CMPP测试"
AUTH_FAILED = 3
DELIVER = 0x00000005
DELIVER_RESP = 0x80000005
TERMINATE_RESP = 0x80000002
# CMPP 3.0 DELIVER body (docs/wire-formats.md §2.6): Msg_Id 8, Dest_Id 21, Service_Id 10,
# TP_pid 1, TP_udhi 1, Msg_Fmt 1, Src_terminal_Id 32, Src_terminal_type 1,
# Registered_Delivery 1, Msg_Length 1, Msg_Content n, LinkID 20.
DELIVER_FIXED = 97
# The 3.0 status report: Msg_Id 8, Stat 7, Submit_time 10, Done_time 10,
# Dest_terminal_Id 32, SMSC_sequence 4.
REPORT_LENGTH = 71


def _read_frame(self: Any) -> bytes:
    """One whole PDU: what ``Cmppy._read`` should do (bug 1 in the module docstring)."""

    def exact(count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self._so.recv(count - len(data))
            if not chunk:
                raise ConnectionError("the ISMG closed the connection")
            data += chunk
        return data

    head = exact(12)
    (length,) = struct.unpack("!L", head[:4])
    return head + exact(length - 12)


@pytest.fixture(autouse=True)
def _patched_cmppy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(cmppy.Cmppy, "_read", _read_frame)
    monkeypatch.setattr(cmppy, "_log", lambda message: None)
    yield


def _start_ismg() -> SimulatedIsmg:
    ismg = SimulatedIsmg(
        SimulatorSettings(carrier="china_mobile", accounts={SP_CODE: SECRET},
                          receipt_delay=0.1),
        reactor=reactor, clock=reactor, rng=random.Random(3),
    )
    ismg.startService()
    return ismg


def _c_string(raw: bytes) -> str:
    """A NUL-padded Octet String field; padding must be NULs only."""
    text, _, padding = raw.partition(b"\x00")
    assert padding.strip(b"\x00") == b"", f"non-NUL octets after the padding: {raw!r}"
    return text.decode("ascii")


def _parse_report_deliver(frame: bytes) -> dict[str, Any]:
    """A 3.0 DELIVER carrying a status report, sliced by hand (docs/wire-formats.md §2.6)."""
    length, command_id, sequence = struct.unpack("!LLL", frame[:12])
    body = frame[12:]
    msg_length = body[76]
    report = body[77 : 77 + msg_length]
    return {
        "length": length,
        "command_id": command_id,
        "sequence": sequence,
        "msg_id": body[0:8],
        "dest_id": _c_string(body[8:29]),
        "service_id": _c_string(body[29:39]),
        "tp_udhi": body[40],
        "msg_fmt": body[41],
        "src_terminal_id": _c_string(body[42:74]),
        "src_terminal_type": body[74],
        "registered_delivery": body[75],
        "msg_length": msg_length,
        "link_id": _c_string(body[77 + msg_length :]),
        "linkid_octets": len(body) - 77 - msg_length,
        "report_msg_id": struct.unpack("!Q", report[0:8])[0],
        "stat": report[8:15].decode("ascii"),
        "submit_time": report[15:25].decode("ascii"),
        "done_time": report[25:35].decode("ascii"),
        "report_dest": _c_string(report[35:67]),
        "smsc_sequence": struct.unpack("!L", report[67:71])[0],
    }


def _cmppy_session(port: int) -> dict[str, Any]:
    """Blocking cmppy work, run in a thread while the reactor serves the simulator."""
    seen: dict[str, Any] = {}
    client = cmppy.Cmppy("127.0.0.1", port, SP_CODE, SECRET)
    client._so.settimeout(5)
    try:
        # cmppy's _commence() does the same but drops the request; keep it to check the
        # AuthenticatorISMG (bug 3).
        client._connect()
        connect = cmppy.ConnectReq(SP_CODE, SECRET)
        client._write(connect.message)
        frame = client._read()
        answer = cmppy.parse_response(frame)
        seen["connect"] = {
            "length": len(frame), "sequence": answer.sequence, "sent_sequence": connect.sequence,
            "status": answer.status, "version": answer.version,
            "authenticator_ok": answer.authenticator_ISMG == hashlib.md5(
                answer.raw_status + connect.authenticator_source + SECRET.encode()).digest(),
        }
        submit = cmppy.SubmitReq(
            msg_src=SP_CODE, msg_content=TEXT, src_id=SHORT_CODE, dest_terminal_id=[HANDSET],
            service_id="NEWS", registered_delivery=1, feetype="01", feecode="000000",
            msg_fmt=8,
        )
        seen["submit_length"] = len(submit.message)
        client._write(submit.message)
        frame = client._read()
        answer = cmppy.parse_response(frame)
        seen["submit_resp"] = {
            "length": len(frame), "command_id": answer.command_id, "sequence": answer.sequence,
            "sent_sequence": submit.sequence, "msg_id": answer.msg_id, "result": answer.result,
        }
        deliver = client._read()  # bug 2: no DELIVER class; parsed by hand
        seen["deliver"] = _parse_report_deliver(deliver)
        client._write(struct.pack("!LLL", 24, DELIVER_RESP, seen["deliver"]["sequence"])
                      + seen["deliver"]["msg_id"] + struct.pack("!L", 0))
        terminate = cmppy.TerminateReq()
        client._write(terminate.message)
        answer = cmppy.parse_response(client._read())
        seen["terminate_resp"] = (answer.command_id, answer.sequence, terminate.sequence)
        seen["closed"] = client._so.recv(1) == b""  # the ISMG hangs up after TERMINATE_RESP
    finally:
        client._close()
    return seen


@pytest_twisted.ensureDeferred
async def test_cmppy_logs_in_submits_chinese_and_gets_the_report() -> None:
    ismg = _start_ismg()
    try:
        seen = await threads.deferToThread(_cmppy_session, ismg.port)
    finally:
        await ismg.stopService()

    connect = seen["connect"]
    assert connect["length"] == 33  # 3.0 CONNECT_RESP: Status is 4 octets
    assert connect["sequence"] == connect["sent_sequence"]
    assert (connect["status"], connect["version"]) == (0, 0x30)
    assert connect["authenticator_ok"], "AuthenticatorISMG != MD5(Status+AuthSource+secret)"

    # cmppy's SUBMIT, 3.0 with one recipient: 12 + 151 + 32·1 + Msg_Length.
    assert seen["submit_length"] == 12 + 151 + 32 + 2 * len(TEXT)
    resp = seen["submit_resp"]
    assert resp["length"] == 24  # 3.0 SUBMIT_RESP: Msg_Id 8 + Result 4
    assert (resp["command_id"], resp["result"]) == (0x80000004, 0)
    assert resp["sequence"] == resp["sent_sequence"]
    assert resp["msg_id"] != 0

    report = seen["deliver"]
    assert report["command_id"] == DELIVER
    assert report["registered_delivery"] == 1
    assert report["msg_length"] == REPORT_LENGTH
    assert report["length"] == 12 + DELIVER_FIXED + REPORT_LENGTH
    assert report["linkid_octets"] == 20
    assert report["report_msg_id"] == resp["msg_id"]
    assert report["stat"] == "DELIVRD"
    assert report["report_dest"] == HANDSET
    assert report["src_terminal_id"] == HANDSET  # a report comes "from" the handset
    assert report["dest_id"] == SHORT_CODE
    assert report["submit_time"].isdigit() and report["done_time"].isdigit()
    assert report["submit_time"] <= report["done_time"]

    command_id, sequence, sent_sequence = seen["terminate_resp"]
    assert (command_id, sequence) == (TERMINATE_RESP, sent_sequence)
    assert seen["closed"]

    [received] = ismg.received
    assert received.text == TEXT
    assert (received.coding, received.wire_coding) == (TextCoding.UCS2, 8)
    assert (received.login, received.source, received.destination) == (
        SP_CODE, SHORT_CODE, HANDSET)
    assert received.udh == b""
    assert received.message_id == f"{resp['msg_id']:016X}"
    assert ismg.counters["receipts"] == 1
    assert ismg.counters["redeliveries"] == 0  # our DELIVER_RESP was taken
    assert ismg.counters["peer_errors"] == 0


def _cmppy_one_shot(port: int) -> tuple[Any, int, int]:
    """cmppy's own ``request()``: connect, CONNECT, the request, TERMINATE, close."""
    submit = cmppy.SubmitReq(
        msg_src=SP_CODE, msg_content="你好", src_id=SHORT_CODE, dest_terminal_id=[HANDSET],
        service_id="NEWS", feetype="01", feecode="000000",
    )  # built before request() builds its CONNECT: a lower Sequence_Id (bug 6)
    client = cmppy.Cmppy("127.0.0.1", port, SP_CODE, SECRET)
    client._so.settimeout(5)
    answer = client.request(submit)
    return answer, submit.sequence, len(submit.message)


@pytest_twisted.ensureDeferred
async def test_cmppys_own_one_shot_request_without_a_report() -> None:
    ismg = _start_ismg()
    try:
        answer, sent_sequence, length = await threads.deferToThread(_cmppy_one_shot, ismg.port)
    finally:
        await ismg.stopService()
    assert length == 12 + 151 + 32 + 4
    assert (answer.command_id, answer.sequence, answer.result) == (
        0x80000004, sent_sequence, 0)
    [received] = ismg.received
    assert received.text == "你好"
    assert received.message_id == f"{answer.msg_id:016X}"
    assert ismg.counters["receipts"] == 0


def _cmppy_wrong_secret(port: int) -> tuple[int, int, bytes, bool]:
    client = cmppy.Cmppy("127.0.0.1", port, SP_CODE, "wrong")
    client._so.settimeout(5)
    try:
        client._connect()
        client._write(cmppy.ConnectReq(SP_CODE, "wrong").message)
        frame = client._read()
        answer = cmppy.parse_response(frame)
        try:
            closed = client._so.recv(1) == b""  # the ISMG hangs up after a refused login
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            closed = False
        return len(frame), answer.status, answer.authenticator_ISMG, closed
    finally:
        client._close()


@pytest_twisted.ensureDeferred
async def test_cmppy_with_a_wrong_secret_gets_status_3() -> None:
    ismg = _start_ismg()
    try:
        length, status, authenticator, closed = await threads.deferToThread(
            _cmppy_wrong_secret, ismg.port)
    finally:
        await ismg.stopService()
    assert length == 33
    assert status == AUTH_FAILED
    assert authenticator == bytes(16)
    assert closed
    assert ismg.counters["bind_failures"] == 1
    assert not ismg.received
