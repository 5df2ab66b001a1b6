"""The ``sdgw`` command: each subcommand parses its arguments and calls one function.

Errors a user can fix end as one line on stderr and exit status 2; no tracebacks.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from gateway.config import CARRIER_NAMES, GatewayConfig, config_path_from, load_config
from gateway.errors import GatewayError

log = logging.getLogger("sdgw")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args) or EXIT_OK)
    except _database_errors() as exc:  # unreachable server, refused login, unopenable file
        from gateway.db.engine import database_error

        print(f"sdgw: {database_error(_LOADED[-1] if _LOADED else '?', exc)}", file=sys.stderr)
        return EXIT_USAGE
    except GatewayError as exc:
        print(f"sdgw: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `sdgw subscribers | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


_LOADED: list[str] = []
"""The database URL of the configuration loaded last, to name in a connection error."""


def _database_errors() -> tuple[type[BaseException], ...]:
    """What a database that cannot be reached raises (SQLAlchemy's wrappers of the driver's
    connection errors); imported only when a command failed."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    return (OperationalError, InterfaceError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdgw",
        description="SMS/MMS subscription gateway for a mobile newspaper (手机报).",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="configuration file (default: $SDGW_CONFIG, else config/gateway.toml)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser("run", help="run the gateway (links, simulators) until stopped",
                              description="Run the gateway until SIGTERM or Ctrl-C; "
                              "refuses to start on an out-of-date database schema.")
    run.add_argument("--no-simulators", action="store_true",
                     help="do not start the embedded simulated SMSCs")
    run.set_defaults(handler=_run)

    db = commands.add_parser("db", help="database schema commands")
    db_commands = db.add_subparsers(title="db commands", metavar="COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="create or upgrade the schema",
                                     description="Apply every pending migration.")
    upgrade.set_defaults(handler=_db_upgrade)
    current = db_commands.add_parser("current", help="show the schema revision",
                                     description="Print the database's and the code's revision.")
    current.set_defaults(handler=_db_current)

    config = commands.add_parser("config", help="configuration commands")
    config_commands = config.add_subparsers(title="config commands", metavar="COMMAND")
    check = config_commands.add_parser("check", help="validate the configuration file",
                                       description="Validate the configuration and exit 0 if "
                                       "it is good; else print one line naming file and key.")
    check.set_defaults(handler=_config_check)

    sim = commands.add_parser("sim", help="simulated carrier SMSCs")
    sim_commands = sim.add_subparsers(title="sim commands", metavar="COMMAND")
    mo = sim_commands.add_parser(
        "mo", help="send an MO through a running simulator and print the replies",
        description="Inject an MO (as if a handset sent it) through the simulator of a "
        "running gateway or `sdgw sim serve`, and print what came back to that number.")
    mo.add_argument("--carrier", required=True, choices=CARRIER_NAMES)
    mo.add_argument("--from", dest="source", required=True, metavar="NUMBER",
                    help="the subscriber's number, e.g. 13800138000")
    mo.add_argument("--to", dest="destination", metavar="CODE",
                    help="short code (and extension); default: the carrier's short code")
    mo.add_argument("--text", required=True)
    mo.add_argument("--wait", type=float, default=5.0,
                    help="seconds to wait for replies (default 5)")
    mo.add_argument("--json", action="store_true", help="print the raw JSON answer")
    mo.set_defaults(handler=_sim_mo)
    serve = sim_commands.add_parser(
        "serve", help="run one simulated SMSC on its own",
        description="Run a carrier's simulated SMSC (and its control endpoint) alone, so a "
        "gateway - or any ESME - can be pointed at it.")
    serve.add_argument("--carrier", required=True, choices=CARRIER_NAMES)
    serve.add_argument("--port", type=int, help="SMPP port (default: from the config)")
    serve.add_argument("--control-port", type=int, help="control port (default: from config)")
    serve.set_defaults(handler=_sim_serve)

    from gateway.cli import dispatch, editions, operators, report, subscriptions

    subscriptions.register(commands)
    editions.register(commands)
    dispatch.register(commands)
    operators.register(commands)
    report.register(commands)
    return parser


def open_database(args: argparse.Namespace) -> tuple[GatewayConfig, Any]:
    """The configuration and a session factory on its database; refuses an out-of-date schema
    (naming the command that fixes it)."""
    from gateway.db.engine import ensure_schema_current, make_engine, make_session_factory

    config = load(args)
    engine = make_engine(config.database_url)
    ensure_schema_current(engine, config.path)
    return config, make_session_factory(engine)


def check_number(option: str, value: float | None, low: float, high: float | None = None,
                 *, also: str = "") -> None:
    """Refuse a command-line number outside [low, high] in one line (exit status 2)."""
    if value is None or (value >= low and (high is None or value <= high)):
        return
    wanted = f"from {low:g} to {high:g}" if high is not None else f">= {low:g}"
    raise GatewayError(f"{option} {value:g}: expected a number {wanted}{also}")


def load(args: argparse.Namespace) -> GatewayConfig:
    config = load_config(config_path_from(args.config, os.environ))
    _LOADED.append(config.database_url)
    return config


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic announces its context on every schema check; that is not news to an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)


# -- handlers -------------------------------------------------------------------------


def _config_check(args: argparse.Namespace) -> int:
    config = load(args)
    carriers = ", ".join(
        f"{name} ({c.short_code}, link {c.link.host}:{c.link.port}"
        f"{', simulated' if c.simulator and c.simulator.enabled else ''})"
        for name, c in config.carriers.items()
    )
    print(f"{config.path}: OK — newspaper {config.newspaper.name}; carriers: {carriers}")
    return EXIT_OK


def _db_upgrade(args: argparse.Namespace) -> int:
    from gateway.db.engine import current_revision, make_engine, upgrade

    config = load(args)
    engine = make_engine(config.database_url)
    before = current_revision(engine)
    upgrade(engine)
    after = current_revision(engine)
    if before == after:
        print(f"database already at {after}")
    else:
        print(f"database upgraded from {before or 'empty'} to {after}")
    return EXIT_OK


def _db_current(args: argparse.Namespace) -> int:
    from gateway.db.engine import current_revision, head_revision, make_engine

    config = load(args)
    engine = make_engine(config.database_url)
    print(f"database: {current_revision(engine) or 'empty'}; code: {head_revision()}")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from gateway.cli.reactor import run_gateway

    config = load(args)
    setup_logging(config.logging.level)
    return run_gateway(config, with_simulators=not args.no_simulators)


def _sim_serve(args: argparse.Namespace) -> int:
    from gateway.cli.reactor import serve_simulator

    check_number("--port", args.port, 1, 65535)
    check_number("--control-port", args.control_port, 1, 65535)
    config = load(args)
    setup_logging(config.logging.level)
    return serve_simulator(config, args.carrier, port=args.port, control_port=args.control_port)


def _sim_mo(args: argparse.Namespace) -> int:
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
