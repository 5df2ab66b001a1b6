"""Bare link throughput: the SMPP, CMPP, SMGP and SGIP links against simulated carriers.

Run with ``.venv/bin/python -m bench.link_bench [--messages N] [--rounds R]``.  Each
protocol's simulated carrier (SMPP SMSC, CMPP 3.0 and SMGP 3.0 ISMGs, SGIP 1.2 SMG) runs in a
child process of its own and each link in another, with the link's window and TPS cap lifted
and no delivery receipts requested, so the figure is what one link can push: submits/s from
the first submit to the last response.  The links are measured side by side in the same run,
taking turns (SMPP, CMPP, SMGP, SGIP, SMPP, …), each round in a fresh link process, and the
best round of each is compared with SMPP's.  In the same run it prints the codec comparison
of ``bench.codec_bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import time
from typing import Any

from bench.codec_bench import measure_codecs
from gateway.cli.progress import CommandProgress
from gateway.free_ports import free_port

PROTOCOLS = ("smpp", "cmpp", "smgp", "sgip")
LOGIN = {"smpp": "bench", "cmpp": "901234", "smgp": "bench", "sgip": "bench"}
SGIP_NODE = 3053112345
SECRET = "bench"


def serve_simulator(protocol: str, port: int) -> None:
    """Child process: one simulated carrier with no caps."""
    from twisted.internet import reactor

    from carriers.protocols import PROTOCOLS, SimulatorParts
    from carriers.simulator.smsc_service import SimulatorSettings

    link = None
    if protocol == "sgip":  # its SMG would connect back to a listener: none runs here
        from carriers.sgip.config import SgipLinkConfig

        link = SgipLinkConfig(port=port, login_name=LOGIN["sgip"], password=SECRET,
                              node_id=SGIP_NODE, listen_port=free_port(),
                              smg_login_name="smg", smg_password=SECRET)
    simulator = PROTOCOLS[protocol].build_simulator(
        SimulatorSettings(carrier="bench", accounts={LOGIN[protocol]: SECRET}, keep_received=1),
        SimulatorParts(reactor=reactor, clock=reactor, host="127.0.0.1", port=port,
                       rng=random.Random(1), link=link),
    )
    reactor.callWhenRunning(simulator.startService)
    reactor.run()


def _link(protocol: str, port: int, window: int) -> Any:
    from twisted.internet import defer, reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint

    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    if protocol == "sgip":  # the submit connection alone: no receipts are asked for
        from carriers.sgip.client import SgipClientSettings
        from carriers.sgip.link import SgipLink

        return SgipLink(
            carrier="bench", endpoint=endpoint, clock=reactor,
            settings=SgipClientSettings(login_name=LOGIN["sgip"], login_password=SECRET,
                                        node_id=SGIP_NODE, window=window, tps=0,
                                        response_timeout=60.0, idle_timeout=3600.0),
            on_inbound=lambda message: defer.succeed(None))
    if protocol == "smgp":
        from carriers.smgp.client import SmgpClientSettings
        from carriers.smgp.link import SmgpLink

        return SmgpLink(
            carrier="bench", endpoint=endpoint, clock=reactor,
            settings=SmgpClientSettings(client_id=LOGIN["smgp"], shared_secret=SECRET,
                                        window=window, tps=0, response_timeout=60.0),
            on_inbound=lambda message: defer.succeed(None))
    if protocol == "cmpp":
        from carriers.cmpp.client import CmppClientSettings
        from carriers.cmpp.link import CmppLink

        return CmppLink(
            carrier="bench", endpoint=endpoint, clock=reactor,
            settings=CmppClientSettings(source_addr=LOGIN["cmpp"], shared_secret=SECRET,
                                        window=window, tps=0, response_timeout=60.0),
            on_inbound=lambda message: defer.succeed(None))
    from carriers.smpp.esme import EsmeSettings
    from carriers.smpp.link import SmppLink

    return SmppLink(
        carrier="bench", endpoint=endpoint, clock=reactor,
        settings=EsmeSettings(system_id=LOGIN["smpp"], password=SECRET, window=window, tps=0,
                              response_timeout=60.0),
        on_inbound=lambda message: defer.succeed(None))


def measure_links(messages: int, *, window: int = 1000, rounds: int = 2,
                  protocols: tuple[str, ...] = PROTOCOLS) -> dict[str, list[dict[str, float]]]:
    """Submit ``messages`` single-part UCS2 SMS over each protocol's link, ``rounds`` times
    in turn; return each round's figures per protocol.

    Every round runs its link in a fresh process: a link process that has already sent a
    round runs the next one slower (whatever its protocol), so links sharing one process
    would be ranked by the order they ran in."""
    ports = {protocol: free_port() for protocol in protocols}
    children = {
        protocol: subprocess.Popen(
            [sys.executable, "-m", "bench.link_bench", "--serve", protocol, str(port)],
            env={**os.environ, "PYTHONPATH": os.getcwd()})
        for protocol, port in ports.items()
    }
    figures: dict[str, list[dict[str, float]]] = {protocol: [] for protocol in protocols}
    display = CommandProgress().start()
    turns = display.add("link rounds", total=rounds * len(protocols), unit="rounds")
    try:
        for port in ports.values():
            _wait_for_port(port)
        for _ in range(rounds):
            for protocol in protocols:
                carrier_cpu = _cpu_seconds(children[protocol].pid)
                answer = subprocess.run(
                    [sys.executable, "-m", "bench.link_bench", "--drive", protocol,
                     str(ports[protocol]), str(messages), str(window)],
                    env={**os.environ, "PYTHONPATH": os.getcwd()}, capture_output=True,
                    text=True, check=True)
                round_ = json.loads(answer.stdout.strip().splitlines()[-1])
                carrier_cpu = _cpu_seconds(children[protocol].pid) - carrier_cpu
                round_["carrier_us"] = carrier_cpu / messages * 1e6
                figures[protocol].append(round_)
                turns.advance()
        turns.finish()
    finally:
        display.close()
        for child in children.values():
            child.terminate()
            child.wait(timeout=10)
    return figures


def drive_link(protocol: str, port: int, messages: int, window: int) -> dict[str, float]:
    """Child process: bind one link, submit ``messages`` through it, print the figures."""
    from twisted.internet import defer, reactor

    from carriers.messages import MessagePart, OutboundMessage, SubmitOutcome, TextCoding

    text = "山东手机报：今日要闻，全省经济运行稳中有进。回复TD退订".encode("utf-16-be")
    part = (MessagePart(payload=text, coding=TextCoding.UCS2),)
    link = _link(protocol, port, window)
    figures: dict[str, float] = {}

    async def drive() -> None:
        link.startService()
        await link.when_bound()
        link_cpu = time.process_time()
        started = time.perf_counter()
        waiters = [
            link.submit(OutboundMessage(source="10658000", destination=f"138{n:08d}",
                                        want_receipt=False, parts=part))
            for n in range(messages)
        ]
        results = await defer.gatherResults(waiters)
        elapsed = time.perf_counter() - started
        link_cpu = time.process_time() - link_cpu
        accepted = sum(1 for r in results if r[0].outcome is SubmitOutcome.ACCEPTED)
        figures.update(elapsed=elapsed, accepted=accepted, submits_per_s=accepted / elapsed,
                       link_us=link_cpu / messages * 1e6)
        await link.stopService()

    def run() -> Any:
        return defer.ensureDeferred(drive()).addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(run)
    reactor.run()
    return figures


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--protocols", default=",".join(PROTOCOLS),
                        help="comma-separated, of: smpp, cmpp, smgp, sgip")
    parser.add_argument("--codec-seconds", type=float, default=2.0)
    parser.add_argument("--serve", nargs=2, metavar=("PROTOCOL", "PORT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--drive", nargs=4, metavar=("PROTOCOL", "PORT", "MESSAGES", "WINDOW"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_simulator(args.serve[0], int(args.serve[1]))
        return
    if args.drive:
        protocol, port, messages, window = args.drive
        print(json.dumps(drive_link(protocol, int(port), int(messages), int(window))))
        return
    protocols = tuple(p for p in args.protocols.split(",") if p)
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        parser.error(f"--protocols: expected some of {', '.join(PROTOCOLS)}")
    codecs = measure_codecs(args.codec_seconds)
    links = measure_links(args.messages, window=args.window, rounds=args.rounds,
                          protocols=protocols)
    print("SMPP codec, submit_sm (UCS2, sar TLVs), one core:")
    for name, value in codecs.items():
        print(f"  {name:<40} {value:>12,.0f}")
    print(f"Links on loopback ({args.messages:,} single-part UCS2 submits per round, window "
          f"{args.window}, TPS cap lifted, each simulator in its own process):")
    best: dict[str, float] = {}
    for protocol, rounds in links.items():
        rates = [round_["submits_per_s"] for round_ in rounds]
        accepted = min(round_["accepted"] for round_ in rounds)
        best[protocol] = max(rates)
        shown = ", ".join(f"{rate:,.0f}" for rate in rates)
        link_us = min(round_["link_us"] for round_ in rounds)
        carrier_us = min(round_["carrier_us"] for round_ in rounds)
        print(f"  {protocol.upper():<5} submits/s per round: {shown}   best {best[protocol]:,.0f}"
              f"   (accepted {accepted:,.0f} of {args.messages:,} each round)")
        print(f"        CPU per submit (least of the rounds): link {link_us:.1f} µs, "
              f"simulated carrier {carrier_us:.1f} µs")
    for protocol in best:
        if protocol != "smpp" and "smpp" in best:
            print(f"  {protocol.upper()} / SMPP (best rounds, same run)"
                  f"         {best[protocol] / best['smpp']:>8.2f}")


if __name__ == "__main__":
    main()
