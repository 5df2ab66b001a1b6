"""``sdgw sim mo`` (an MO through a running simulator) and ``sdgw sim serve`` (one simulated
SMSC on its own)."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request

from gateway.cli.common import EXIT_OK, check_number, load, setup_logging
from gateway.errors import GatewayError


def serve_command(args: argparse.Namespace) -> int:
    check_number("--port", args.port, 1, 65535)
    check_number("--control-port", args.control_port, 1, 65535)
    config = load(args)
    setup_logging(config.logging.level, config.logging.format)
    # Imported here: `sim mo` (below) is a small HTTP client, typed again and again by hand,
    # that should not wait for the gateway and Twisted to load.
    from gateway.app import OrderedServices, build_simulator
    from gateway.cli.reactor import installed_reactor, run_until_stopped

    carrier = config.carrier(args.carrier)
    if carrier.simulator is None:
        raise GatewayError(f"{config.path}: carriers.{args.carrier}.simulator: not configured")
    root = OrderedServices()
    build_simulator(args.carrier, carrier, reactor=installed_reactor(), parent=root,
                    port=args.port, control_port=args.control_port)
    run_until_stopped(root, f"{args.carrier} simulator")
    return EXIT_OK


def mo_command(args: argparse.Namespace) -> int:
    check_number("--wait", args.wait, 0, 3600)
    config = load(args)
    carrier = config.carrier(args.carrier)
    if carrier.simulator is None:
        raise GatewayError(f"carriers.{args.carrier}.simulator is not configured; "
                           "there is no control endpoint to send the MO through")
    destination = args.destination or carrier.short_code
    url = f"http://{carrier.simulator.host}:{carrier.simulator.control_port}/mo"
    body = json.dumps({"from": args.source, "to": destination, "text": args.text,
                       "wait": args.wait}).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=args.wait + 10) as response:
            answer = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise GatewayError(f"simulator refused the MO: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GatewayError(
            f"no simulator control endpoint at {url} ({reason}); is `sdgw run` "
            f"or `sdgw sim serve --carrier {args.carrier}` running?") from None
    if args.json:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"MO  {args.source} → {destination} ({args.carrier}): {args.text}")
    replies = answer.get("replies", [])
    if not replies:
        print(f"(no reply within {args.wait:g}s)")
    for reply in replies:
        parts = f" [{reply['parts']} parts]" if reply.get("parts", 1) > 1 else ""
        print(f"MT  {reply['from']} → {reply['to']}{parts}: {reply['text']}")
    return EXIT_OK
