"""Bare link throughput: the gateway's SMPP link against the simulated SMSC on loopback.

Run with ``.venv/bin/python -m bench.link_bench [--messages N]``.  The simulator
runs in a child process (its own core), the link in this one, with the link's
window and TPS cap lifted and no delivery receipts requested, so the figure is
what one link can push: submit_sm/s from the first submit to the last response.
In the same run it prints the codec comparison of ``bench.codec_bench``.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import time
from typing import Any

from bench.codec_bench import measure_codecs

SYSTEM_ID = "bench"
PASSWORD = "bench"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_simulator(port: int) -> None:
    """Child process: one simulated SMSC with no caps."""
    from twisted.internet import reactor

    from carriers.simulator.smsc_service import SimulatedSmsc, SimulatorSettings

    simulator = SimulatedSmsc(
        SimulatorSettings(carrier="bench", accounts={SYSTEM_ID: PASSWORD}, keep_received=1),
        reactor=reactor, clock=reactor, port=port, rng=random.Random(1),
    )
    reactor.callWhenRunning(simulator.startService)
    reactor.run()


def measure_link(messages: int, *, window: int = 1000) -> dict[str, float]:
    """Submit ``messages`` single-part SMS over one link; return submits/s and timings."""
    from twisted.internet import defer, reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint

    from carriers.messages import MessagePart, OutboundMessage, SubmitOutcome, TextCoding
    from carriers.smpp.esme import EsmeSettings
    from carriers.smpp.link import SmppLink

    port = _free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.link_bench", "--serve", str(port)],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    figures: dict[str, float] = {}
    try:
        _wait_for_port(port)
        link = SmppLink(
            carrier="bench",
            endpoint=TCP4ClientEndpoint(reactor, "127.0.0.1", port),
            settings=EsmeSettings(system_id=SYSTEM_ID, password=PASSWORD, window=window, tps=0,
                                  response_timeout=60.0),
            clock=reactor,
            on_inbound=lambda message: defer.succeed(None),
        )
        text = "山东手机报：今日要闻，全省经济运行稳中有进。回复TD退订".encode("utf-16-be")

        async def drive() -> None:
            link.startService()
            await link.when_bound()
            started = time.perf_counter()
            waiters = [
                link.submit(OutboundMessage(
                    source="10658000", destination=f"138{n:08d}", want_receipt=False,
                    parts=(MessagePart(payload=text, coding=TextCoding.UCS2),),
                ))
                for n in range(messages)
            ]
            results = await defer.gatherResults(waiters)
            elapsed = time.perf_counter() - started
            accepted = sum(1 for r in results if r[0].outcome is SubmitOutcome.ACCEPTED)
            figures.update(elapsed=elapsed, accepted=accepted, submits_per_s=accepted / elapsed)
            await link.stopService()

        def run() -> Any:
            return defer.ensureDeferred(drive()).addBoth(lambda _: reactor.stop())

        reactor.callWhenRunning(run)
        reactor.run()
    finally:
        child.terminate()
        child.wait(timeout=10)
    return figures


def _wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"simulator did not listen on {port}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--codec-seconds", type=float, default=2.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_simulator(args.serve)
        return
    codecs = measure_codecs(args.codec_seconds)
    link = measure_link(args.messages, window=args.window)
    print("SMPP codec, submit_sm (UCS2, sar TLVs), one core:")
    for name, value in codecs.items():
        print(f"  {name:<40} {value:>12,.0f}")
    print(f"Link on loopback (window {args.window}, TPS cap lifted, simulator in another "
          "process):")
    print(f"  submits accepted                         {link['accepted']:>12,.0f}")
    print(f"  elapsed                                  {link['elapsed']:>12.2f} s")
    print(f"  submit_sm/s                              {link['submits_per_s']:>12,.0f}")


if __name__ == "__main__":
    main()
