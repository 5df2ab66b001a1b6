"""The ``sdgw`` command: the parser of every subcommand, and :func:`main`, which runs the one
asked for. Each command group has its module here (``run``, ``db``, ``config``, ``sim``,
``subscriptions``, ``editions``, ``dispatch``, ``demo``, ``operators``, ``report``), holding
one ``*_command(args)`` function per subcommand; ``common`` loads the configuration, opens the
database and sets up logging; ``reactor`` is the one way a command runs the reactor.

Errors a user can fix end as one line on stderr and exit status 2; no tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from gateway.cli.common import EXIT_OK, EXIT_USAGE, database_errors, unreachable_database
from gateway.config import CARRIER_NAMES, parse_article_ids
from gateway.errors import GatewayError
from gateway.states import SubscriptionStatus

REPORT_SECTIONS = ("carriers", "period", "daily", "editions")
SUBSCRIBER_STATUSES = tuple(status.value for status in SubscriptionStatus)
PASSWORD_INPUT = (
    "The password is asked twice (not echoed) when stdin is a terminal; otherwise, or with "
    "--password-stdin, it is the first line read from stdin, e.g. "
    "`echo \"$PW\" | sdgw operator add NAME --role admin`."
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(command(args.handler)(args) or EXIT_OK)
    except database_errors() as exc:  # unreachable server, refused login, unopenable file
        print(f"sdgw: {unreachable_database(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except GatewayError as exc:
        print(f"sdgw: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `sdgw subscribers | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def command(handler: str) -> Callable[[argparse.Namespace], int]:
    """The function named ``"module:function"`` of this package, e.g. ``"db:upgrade_command"``.

    A command's module is imported only when that command runs: together they need SQLAlchemy,
    Alembic, Twisted and the whole gateway (about a second), which `sdgw --help` and a
    mistyped option should not wait for."""
    module, function = handler.split(":")
    return getattr(importlib.import_module(f"gateway.cli.{module}"), function)  # type: ignore[no-any-return]


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
    _run_parser(commands)
    _db_parser(commands)
    _config_parser(commands)
    _sim_parser(commands)
    _subscriptions_parser(commands)
    _editions_parser(commands)
    _dispatch_parser(commands)
    _demo_parser(commands)
    _operators_parser(commands)
    _report_parser(commands)
    return parser


def _run_parser(commands: Any) -> None:
    run = commands.add_parser("run", help="run the gateway (links, simulators) until stopped",
                              description="Run the gateway until SIGTERM or Ctrl-C; "
                              "refuses to start on an out-of-date database schema.")
    run.add_argument("--no-simulators", action="store_true",
                     help="do not start the embedded simulated SMSCs")
    run.set_defaults(handler="run:run_command")


def _db_parser(commands: Any) -> None:
    db = commands.add_parser("db", help="database schema commands")
    db_commands = db.add_subparsers(title="db commands", metavar="COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="create or upgrade the schema",
                                     description="Apply every pending migration.")
    upgrade.set_defaults(handler="db:upgrade_command")
    current = db_commands.add_parser("current", help="show the schema revision",
                                     description="Print the database's and the code's revision.")
    current.set_defaults(handler="db:current_command")
    backup = db_commands.add_parser(
        "backup", help="copy the SQLite database to a file, safely while the gateway runs",
        description="Copy the SQLite database (database.url) to PATH with SQLite's online "
        "backup API: one consistent snapshot, taken without stopping the gateway or holding "
        "up its writes, checked, and written under a temporary name first. For PostgreSQL "
        "use pg_dump.")
    backup.add_argument("path", metavar="PATH", help="the backup file to write")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    backup.set_defaults(handler="db:backup_command")


def _config_parser(commands: Any) -> None:
    config = commands.add_parser("config", help="configuration commands")
    config_commands = config.add_subparsers(title="config commands", metavar="COMMAND")
    check = config_commands.add_parser("check", help="validate the configuration file",
                                       description="Validate the configuration and exit 0 if "
                                       "it is good; else print one line naming file and key.")
    check.set_defaults(handler="config:check_command")


def _sim_parser(commands: Any) -> None:
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
    mo.set_defaults(handler="sim:mo_command")
    serve = sim_commands.add_parser(
        "serve", help="run one simulated SMSC on its own",
        description="Run a carrier's simulated SMSC (and its control endpoint) alone, so a "
        "gateway - or any ESME - can be pointed at it.")
    serve.add_argument("--carrier", required=True, choices=CARRIER_NAMES)
    serve.add_argument("--port", type=int, help="SMPP port (default: from the config)")
    serve.add_argument("--control-port", type=int, help="control port (default: from config)")
    serve.set_defaults(handler="sim:serve_command")


def _subscriptions_parser(commands: Any) -> None:
    subscribers = commands.add_parser(
        "subscribers", help="list subscribers, or one number's whole history",
        description="List subscribers (filtered), or with --number the subscriber's state "
        "and whole history: transitions, MOs and MTs with their receipts.")
    subscribers.add_argument("--carrier", choices=CARRIER_NAMES)
    subscribers.add_argument("--status", choices=SUBSCRIBER_STATUSES)
    subscribers.add_argument("--number", help="one number (any common format)")
    subscribers.add_argument("--limit", type=int, default=200,
                             help="at most this many rows (default 200; 0 = all)")
    subscribers.set_defaults(handler="subscriptions:subscribers_command")

    events = commands.add_parser("events", help="the subscription event log")
    event_commands = events.add_subparsers(title="events commands", metavar="COMMAND")
    purge = event_commands.add_parser(
        "purge", help="delete events past the retention period, and stale unmatched receipts",
        description="Delete the events of subscriptions that ended more than "
        "subscriptions.event_retention_days ago (default 183). The engine never deletes "
        "events; this command is the only thing that does. Also deletes delivery receipts "
        "that matched nothing and are older than dispatch.unmatched_receipt_days (default 7; "
        "a running gateway purges those itself every 10 minutes). Deletes in batches, each "
        "in a transaction of its own, showing progress on stderr; --dry-run only counts.")
    purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    purge.add_argument("--batch", type=_positive_int, default=5000, metavar="N",
                       help="rows deleted per transaction (default 5000)")
    purge.set_defaults(handler="subscriptions:purge_command")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _editions_parser(commands: Any) -> None:
    ingest = commands.add_parser(
        "ingest", help="store article files (scraped text, HTML, RSS/Atom, JSON)",
        description="Parse article files and folders and store each article once (by "
        "canonical URL, else by content hash). Prints one line per article (new, unchanged, "
        "updated, frozen) and one per bad file; exit status 1 if any file failed.")
    ingest.add_argument("paths", nargs="+", metavar="PATH", type=Path,
                        help="article files, or folders searched for them")
    ingest.set_defaults(handler="editions:ingest_command")

    edition = commands.add_parser("edition", help="build and preview editions")
    edition_commands = edition.add_subparsers(title="edition commands", metavar="COMMAND")
    build = edition_commands.add_parser(
        "build", help="select a day's articles and render the edition for every carrier",
        description="Build (or rebuild) the edition of a date and slot: select that day's "
        "articles in editorial order and render, once per carrier, the SMS digest and the MMS "
        "edition with its WAP Push notification. A frozen edition is never rebuilt.")
    _edition_arguments(build)
    build.add_argument("--order", type=_article_ids, metavar="ID,ID,…",
                       help="article ids to put first, in this order (default: editions.order)")
    build.set_defaults(handler="editions:build_command")
    preview = edition_commands.add_parser(
        "preview", help="print what each carrier's subscribers receive",
        description="Print the stored edition as each carrier's subscribers receive it: the "
        "SMS digest segment by segment, the MMS pages with their sizes, the notification.")
    _edition_arguments(preview)
    preview.add_argument("--carrier", choices=CARRIER_NAMES, help="only this carrier")
    preview.set_defaults(handler="editions:preview_command")


def _edition_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, type=_date, metavar="YYYY-MM-DD",
                        help="the newspaper date")
    parser.add_argument("--slot", required=True, help="a slot of editions.slots, e.g. morning")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _article_ids(text: str) -> list[int]:
    try:
        return parse_article_ids(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _dispatch_parser(commands: Any) -> None:
    dispatch = commands.add_parser(
        "dispatch", help="start or resume a dispatch by hand, or show progress",
        description="`sdgw dispatch --edition ID` starts (or resumes) sending edition ID in "
        "this process, over links to the configured SMSCs, and returns when every delivery "
        "is submitted or final. `sdgw dispatch status` shows progress per carrier.")
    dispatch.add_argument("action", nargs="?", choices=("status",),
                          help="status: show progress instead of sending")
    dispatch.add_argument("--edition", type=int, metavar="ID")
    dispatch.add_argument("--ignore-quiet-hours", action="store_true",
                          help="send even inside quiet hours (tests, emergencies)")
    dispatch.set_defaults(handler="dispatch:dispatch_command")


def _demo_parser(commands: Any) -> None:
    demo = commands.add_parser(
        "demo", help="run the whole story once on a fresh demo database and exit",
        description="Simulated subscribers on all three carriers text SD and confirm with Y, "
        "the sample articles are ingested, an edition is built and dispatched through the "
        "simulators, receipts come back, and a summary is printed. Uses var/demo.db (made "
        "anew each run) and free loopback ports; quiet hours do not apply to the demo.")
    demo.add_argument("--subscribers", type=int, default=200,
                      help="subscribers per carrier (default 200)")
    demo.add_argument("--serve", action="store_true",
                      help="afterwards keep the gateway running on the demo database, with the "
                      "operator console (console.host:console.port) and an admin operator "
                      "'demo' whose password is printed, until Ctrl-C or SIGTERM")
    demo.set_defaults(handler="demo:demo_command")


def _operators_parser(commands: Any) -> None:
    operator = commands.add_parser("operator", help="operator console accounts")
    operator_commands = operator.add_subparsers(title="operator commands", metavar="COMMAND")

    add = operator_commands.add_parser(
        "add", help="create a console operator",
        description="Create an operator who may log in to the console: a viewer sees, an admin "
        "also acts (pause, resume, unsubscribe). Names are 1-64 letters, digits, '_', '.' or "
        f"'-'; passwords at least 8 characters. {PASSWORD_INPUT}")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, metavar="viewer|admin",
                     help="viewer: sees everything; admin: also acts")
    _password_stdin_argument(add)
    add.set_defaults(handler="operators:add_command")

    passwd = operator_commands.add_parser(
        "passwd", help="set an operator's password",
        description=f"Replace an operator's password; their open sessions end. {PASSWORD_INPUT}")
    passwd.add_argument("name", metavar="NAME")
    _password_stdin_argument(passwd)
    passwd.set_defaults(handler="operators:passwd_command")

    disable = operator_commands.add_parser(
        "disable", help="stop an operator from logging in",
        description="Disable an operator: they cannot log in and their open sessions end.")
    disable.add_argument("name", metavar="NAME")
    disable.set_defaults(handler="operators:disable_command")

    listing = operator_commands.add_parser(
        "list", help="list operators",
        description="List operators: name, role, when created and when disabled.")
    listing.set_defaults(handler="operators:list_command")


def _password_stdin_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password as one line from stdin, even from a terminal")


def _report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="subscriber and delivery figures (as on the console's dashboard)",
        description="Refresh the summary tables, then print the figures the console shows: "
        "subscribers per carrier, the period's requests, confirmations, unsubscriptions, "
        "SD→Y conversion and churn, the figures per day, and delivery per edition and "
        "carrier (with the deliveries ever uncertain and how many of them were reconciled, "
        "resent or skipped). JSON holds every section; table and CSV print the sections "
        "asked for.")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.add_argument("--days", type=int, choices=(30, 90), default=30,
                        help="the period (default 30 days, ending today)")
    report.add_argument("--section", choices=REPORT_SECTIONS, action="append",
                        help="only this section (repeatable; default: all)")
    report.add_argument("--no-refresh", action="store_true",
                        help="print the summary tables as they are (what the console shows), "
                        "without counting again first")
    report.set_defaults(handler="report:report_command", every_section=REPORT_SECTIONS)

