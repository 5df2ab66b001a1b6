"""Peer figure: Kannel 1.4.5 (bearerbox + smsbox, C) as an SMPP client against our SMPP sink.

Run with ``.venv/bin/python -m bench.kannel_peer [--messages N] [--clients C] [--window W]``
(as root: it installs the Debian packages ``kannel`` and ``nghttp2-client`` when missing).

What is measured: how fast Kannel turns HTTP sendsms requests into SMPP ``submit_sm`` PDUs.
The path is h2load (HTTP/1.1 keep-alive, C connections) → smsbox ``/cgi-bin/sendsms`` →
bearerbox → one SMPP transceiver bind (window W = ``max-pending-submits``, no throughput cap,
no message store, quiet logs) → ``bench.smpp_sink`` on 127.0.0.1.  Each message is the same
40-character Chinese text sent as UCS2 (``coding=2``), one part.  The figure is the sink's
``bulk_rate``: submits a second from its first to its last ``submit_sm``.  Also reported: the
sink's submit count, the 2xx answers h2load got, the seconds from the start of the push to
the last submit, and the CPU seconds bearerbox and smsbox used over the run (the sink and
h2load share the same cores, so the figure is that of the whole box, not of Kannel alone).

``run_kannel`` expects the sink to be running already; the command line starts its own.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from gateway.free_ports import free_port

PACKAGES = ("kannel", "nghttp2-client")
SBIN = Path("/usr/sbin")
BEARERBOX = SBIN / "bearerbox"
SMSBOX = SBIN / "smsbox"
# 40 characters, 80 bytes as UCS2: one SMS part.
MESSAGE = "【齐鲁早报】今日全省天气晴转多云，气温十二至二十度，早晚温差大，请注意添衣保暖！"
SENDER = "10658000"
RECIPIENT = "13800138000"
USER = "sdgw"
PASSWORD = "sdgw-bench"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


def ensure_kannel() -> None:
    """Install ``kannel`` and ``nghttp2-client`` (h2load) with apt-get when they are missing."""
    missing = [name for name in PACKAGES if subprocess.run(
        ["dpkg", "-s", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        check=False).returncode != 0]
    if missing:
        if os.geteuid() != 0:
            raise RuntimeError(f"packages {', '.join(missing)} are missing and installing them "
                               "with apt-get needs root")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-q"],
                        ["apt-get", "install", "-y", "-q", *missing]):
            try:
                done = subprocess.run(command, env=env, capture_output=True, text=True,
                                      check=False, timeout=900)
            except (OSError, subprocess.TimeoutExpired) as error:
                raise RuntimeError(f"{' '.join(command)} failed: {error}") from error
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
                raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}: "
                                   + " | ".join(tail))
    for program in (BEARERBOX, SMSBOX):
        if not os.access(program, os.X_OK):
            raise RuntimeError(f"{program} is not there after installing kannel")
    if shutil.which("h2load") is None:
        raise RuntimeError("h2load is not on PATH after installing nghttp2-client")


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports."""
    return [free_port() for _ in range(count)]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 6) -> str:
    """Kannel's error lines from a log (backtrace lines left out), else the last lines."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    errors = [line for line in text if ("ERROR:" in line or "PANIC:" in line)
              and not re.search(r"PANIC: /\S+\(", line)]
    return " | ".join(errors[:lines] or text[-lines:])


def _wait_port(port: int, process: subprocess.Popen[bytes], name: str, output: Path,
               timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not _port_open(port):
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before port {port} "
                               f"opened: {_tail(output)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not open port {port} in {timeout:.0f} s: "
                               f"{_tail(output)}")
        time.sleep(0.1)


def _read_stats(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of the whole line


def _stop(process: subprocess.Popen[bytes] | None, name: str) -> None:
    """SIGTERM one process we started, give it STOP_TIMEOUT seconds, then SIGKILL."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"{name} (pid {process.pid}) ignored SIGTERM for {STOP_TIMEOUT:.0f} s, SIGKILL",
              file=sys.stderr)
        process.kill()
        process.wait()


def kannel_config(*, workdir: Path, admin_port: int, box_port: int, http_port: int,
                  sink_port: int, window: int) -> str:
    """The kannel.conf for one run: one SMPP transceiver bind to the sink, no store."""
    return f"""\
# Written by bench/kannel_peer.py for one benchmark run.
group = core
admin-port = {admin_port}
admin-interface = 127.0.0.1
admin-password = {PASSWORD}
admin-allow-ip = "127.0.0.1"
smsbox-port = {box_port}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = "{workdir / 'bearerbox.log'}"
log-level = 3

group = smsc
smsc = smpp
smsc-id = sink
host = 127.0.0.1
port = {sink_port}
transceiver-mode = true
smsc-username = kannel
smsc-password = kannel
system-type = ""
max-pending-submits = {window}

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box_port}
sendsms-port = {http_port}
sendsms-interface = 127.0.0.1
log-file = "{workdir / 'smsbox.log'}"
log-level = 3

group = sendsms-user
username = {USER}
password = {PASSWORD}
max-messages = 1

group = sms-service
keyword = default
text = "unused"
"""


def sendsms_url(http_port: int) -> str:
    query = urllib.parse.urlencode(
        {"username": USER, "password": PASSWORD, "from": SENDER, "to": RECIPIENT,
         "coding": "2", "charset": "UTF-8", "text": MESSAGE},
        quote_via=urllib.parse.quote)
    return f"http://127.0.0.1:{http_port}/cgi-bin/sendsms?{query}"


def run_kannel(*, sink_port: int, sink_stats: Path, messages: int, clients: int = 16,
               window: int = 16, workdir: Path) -> dict[str, float | int]:
    """One Kannel run against the sink already listening on ``sink_port``; see the module doc."""
    workdir.mkdir(parents=True, exist_ok=True)
    admin_port, box_port, http_port = _free_ports(3)
    config = workdir / "kannel.conf"
    config.write_text(kannel_config(workdir=workdir, admin_port=admin_port, box_port=box_port,
                                    http_port=http_port, sink_port=sink_port, window=window))
    bearerbox: subprocess.Popen[bytes] | None = None
    smsbox: subprocess.Popen[bytes] | None = None
    try:
        bearer_out = workdir / "bearerbox.out"
        with bearer_out.open("wb") as out:
            bearerbox = subprocess.Popen([str(BEARERBOX), "-v", "3", str(config)], cwd=workdir,
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        _wait_port(box_port, bearerbox, "bearerbox", bearer_out)
        smsbox_out = workdir / "smsbox.out"
        with smsbox_out.open("wb") as out:
            smsbox = subprocess.Popen([str(SMSBOX), "-v", "3", str(config)], cwd=workdir,
                                      stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT)
        _wait_port(http_port, smsbox, "smsbox", smsbox_out)
        deadline = time.monotonic() + START_TIMEOUT
        while int(_read_stats(sink_stats).get("binds") or 0) < 1:
            if bearerbox.poll() is not None:
                raise RuntimeError(f"bearerbox exited with {bearerbox.returncode}: "
                                   f"{_tail(bearer_out)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kannel did not bind to the sink on port {sink_port} in "
                                   f"{START_TIMEOUT:.0f} s: {_tail(workdir / 'bearerbox.log')}")
            time.sleep(0.2)
        time.sleep(1.0)

        ticks_start = {"bearerbox": _cpu_ticks(bearerbox.pid), "smsbox": _cpu_ticks(smsbox.pid)}
        push_start = time.time()
        try:
            pushed = subprocess.run(
                ["h2load", "--h1", "-n", str(messages), "-c", str(clients),
                 sendsms_url(http_port)],
                capture_output=True, text=True, check=False, timeout=120 + messages / 500)
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(f"h2load did not finish in {error.timeout:.0f} s") from error
        (workdir / "h2load.out").write_text(pushed.stdout + pushed.stderr)
        found = re.search(r"status codes: (\d+) 2xx", pushed.stdout)
        http_2xx = int(found[1]) if found else 0
        if pushed.returncode != 0 or not found:
            print(f"h2load exited with {pushed.returncode}: "
                  f"{(pushed.stderr or pushed.stdout).strip()[-400:]}", file=sys.stderr)

        wait = 60 + messages / 2000
        deadline = time.monotonic() + wait
        while True:
            submits = int(_read_stats(sink_stats).get("submits") or 0)
            if submits >= messages:
                break
            if time.monotonic() > deadline:
                print(f"timeout: after {wait:.0f} s the sink had seen {submits} of {messages} "
                      f"submits ({http_2xx} sendsms answered 2xx)", file=sys.stderr)
                break
            time.sleep(0.2)
        ticks_end = {"bearerbox": _cpu_ticks(bearerbox.pid), "smsbox": _cpu_ticks(smsbox.pid)}
        time.sleep(1.2)  # the sink rewrites its stats file each second
        stats = _read_stats(sink_stats)
    finally:
        _stop(smsbox, "smsbox")
        _stop(bearerbox, "bearerbox")

    hertz = os.sysconf("SC_CLK_TCK")
    last_submit = stats.get("last_submit")
    return {
        "messages_per_second": float(stats.get("bulk_rate") or 0.0),
        "submits": int(stats.get("submits") or 0),
        "http_2xx": http_2xx,
        "seconds": round(float(last_submit) - push_start, 3) if last_submit else 0.0,
        "cpu_bearerbox_s": round((ticks_end["bearerbox"] - ticks_start["bearerbox"]) / hertz, 2),
        "cpu_smsbox_s": round((ticks_end["smsbox"] - ticks_start["smsbox"]) / hertz, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16, help="h2load connections")
    parser.add_argument("--window", type=int, default=16, help="Kannel's max-pending-submits")
    parser.add_argument("--workdir", type=Path,
                        help="keep Kannel's config and logs here (default: a temporary dir)")
    args = parser.parse_args(argv)
    ensure_kannel()
    with tempfile.TemporaryDirectory(prefix="kannel-peer-") as temporary:
        workdir = args.workdir or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        stats = Path(temporary) / "sink.json"
        (sink_port,) = _free_ports(1)
        sink_out = Path(temporary) / "sink.out"
        with sink_out.open("wb") as out:
            sink = subprocess.Popen(
                [sys.executable, "-m", "bench.smpp_sink", "--port", str(sink_port),
                 "--stats", str(stats)],
                cwd=Path(__file__).resolve().parent.parent, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_port(sink_port, sink, "smpp_sink", sink_out)
            result = run_kannel(sink_port=sink_port, sink_stats=stats, messages=args.messages,
                                clients=args.clients, window=args.window, workdir=workdir)
        finally:
            _stop(sink, "smpp_sink")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
