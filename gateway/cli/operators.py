"""``sdgw operator …``: console operator accounts (add, passwd, disable, list)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from gateway.cli.common import open_database
from gateway.console.auth import (
    ROLES,
    OperatorError,
    add_operator,
    disable_operator,
    list_operators,
    set_password,
)
from gateway.db.times import local_text
from gateway.errors import GatewayError


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


def add_command(args: argparse.Namespace) -> int:
    if args.role not in ROLES:  # before asking for a password
        raise OperatorError(f"--role {args.role!r}: expected one of {', '.join(ROLES)}")
    _, sessions = open_database(args)
    password = read_password(sys.stdin, from_stdin=args.password_stdin)
    with sessions.begin() as session:
        add_operator(session, args.name, args.role, password, datetime.now(UTC))
    print(f"operator {args.name} added ({args.role})")
    return 0


def passwd_command(args: argparse.Namespace) -> int:
    _, sessions = open_database(args)
    password = read_password(sys.stdin, from_stdin=args.password_stdin)
    with sessions.begin() as session:
        set_password(session, args.name, password, datetime.now(UTC))
    print(f"password of operator {args.name} changed; their sessions ended")
    return 0


def disable_command(args: argparse.Namespace) -> int:
    _, sessions = open_database(args)
    with sessions.begin() as session:
        disable_operator(session, args.name, datetime.now(UTC))
    print(f"operator {args.name} disabled; their sessions ended")
    return 0


def list_command(args: argparse.Namespace) -> int:
    config, sessions = open_database(args)
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
