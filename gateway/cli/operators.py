"""``sdgw operator …``: console operator accounts (add, passwd, disable, list)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from gateway.errors import GatewayError

PASSWORD_INPUT = (
    "The password is asked twice (not echoed) when stdin is a terminal; otherwise, or with "
    "--password-stdin, it is the first line read from stdin, e.g. "
    "`echo \"$PW\" | sdgw operator add NAME --role admin`."
)


def register(commands: Any) -> None:
    """Add this module's subcommands to the ``sdgw`` parser (importing neither the database
    nor the password libraries: every ``sdgw`` command builds this parser)."""
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
    add.set_defaults(handler=_add)

    passwd = operator_commands.add_parser(
        "passwd", help="set an operator's password",
        description=f"Replace an operator's password; their open sessions end. {PASSWORD_INPUT}")
    passwd.add_argument("name", metavar="NAME")
    _password_stdin_argument(passwd)
    passwd.set_defaults(handler=_passwd)

    disable = operator_commands.add_parser(
        "disable", help="stop an operator from logging in",
        description="Disable an operator: they cannot log in and their open sessions end.")
    disable.add_argument("name", metavar="NAME")
    disable.set_defaults(handler=_disable)

    listing = operator_commands.add_parser(
        "list", help="list operators",
        description="List operators: name, role, when created and when disabled.")
    listing.set_defaults(handler=_list)


def _password_stdin_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password as one line from stdin, even from a terminal")


def read_password(
    stdin: TextIO, *, from_stdin: bool, ask: Callable[[str], str] = getpass.getpass
) -> str:
    """The new password: one line of ``stdin`` (line end removed) if asked to or if stdin is not
    a terminal, else typed twice at the prompt via ``ask``."""
    if from_stdin or not stdin.isatty():
        line = stdin.readline()
        if not line:
            raise GatewayError("no password on stdin (expected one line)")
        return line.removesuffix("\n").removesuffix("\r")
    password = ask("Password: ")
    if ask("Password again: ") != password:
        raise GatewayError("the two passwords differ; nothing changed")
    return password


def _open(args: argparse.Namespace) -> Any:
    from gateway.cli import open_database

    return open_database(args)


def _add(args: argparse.Namespace) -> int:
    from gateway.console.auth import ROLES, OperatorError, add_operator

    if args.role not in ROLES:  # before asking for a password
        raise OperatorError(f"--role {args.role!r}: expected one of {', '.join(ROLES)}")
    _, sessions = _open(args)
    password = read_password(sys.stdin, from_stdin=args.password_stdin)
    with sessions.begin() as session:
        add_operator(session, args.name, args.role, password, datetime.now(UTC))
    print(f"operator {args.name} added ({args.role})")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    from gateway.console.auth import set_password

    _, sessions = _open(args)
    password = read_password(sys.stdin, from_stdin=args.password_stdin)
    with sessions.begin() as session:
        set_password(session, args.name, password, datetime.now(UTC))
    print(f"password of operator {args.name} changed; their sessions ended")
    return 0


def _disable(args: argparse.Namespace) -> int:
    from gateway.console.auth import disable_operator

    _, sessions = _open(args)
    with sessions.begin() as session:
        disable_operator(session, args.name, datetime.now(UTC))
    print(f"operator {args.name} disabled; their sessions ended")
    return 0


def _list(args: argparse.Namespace) -> int:
    from gateway.console.auth import list_operators
    from gateway.db.times import local_text

    config, sessions = _open(args)
    zone = ZoneInfo(config.newspaper.timezone)
    with sessions() as session:
        operators = list_operators(session)
    if not operators:
        print("no operators (add one with `sdgw operator add NAME --role admin`)")
        return 0
    print(f"{'name':<24} {'role':<7} {'created':<20} disabled")
    for operator in operators:
        print(f"{operator.name:<24} {operator.role:<7} "
              f"{local_text(operator.created_at, zone):<20} "
              f"{local_text(operator.disabled_at, zone)}")
    return 0



