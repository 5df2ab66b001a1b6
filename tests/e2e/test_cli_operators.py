"""`sdgw operator …` as an administrator runs it, the password piped on stdin."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.cli.operators import read_password
from gateway.console.passwords import verify_password
from gateway.db.console_models import Operator
from gateway.db.engine import make_engine, make_session_factory
from gateway.errors import GatewayError
from tests.conftest import REPO_ROOT
from tests.e2e.test_cli_editions import write_config


def sdgw(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config), *args],
        input=stdin, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = write_config(tmp_path)
    upgraded = sdgw(path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return path


def _stored_hash(tmp_path: Path, name: str) -> str:
    engine = make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    try:
        with make_session_factory(engine)() as session:
            return session.scalars(select(Operator.password_hash)
                                   .where(Operator.name == name)).one()
    finally:
        engine.dispose()


def test_add_list_and_refuse_a_duplicate(config: Path, tmp_path: Path) -> None:
    added = sdgw(config, "operator", "add", "chief.editor", "--role", "admin",
                 stdin="s3cret pass\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout == "operator chief.editor added (admin)\n"

    listing = sdgw(config, "operator", "list")
    assert listing.returncode == 0, listing.stderr
    header, row = listing.stdout.splitlines()
    assert header.split() == ["name", "role", "created", "disabled"]
    assert row.split()[:2] == ["chief.editor", "admin"] and row.endswith(" -")

    again = sdgw(config, "operator", "add", "chief.editor", "--role", "viewer",
                 stdin="other password\n")
    assert again.returncode == 2
    assert again.stderr == "sdgw: operator 'chief.editor' already exists\n"

    stored = _stored_hash(tmp_path, "chief.editor")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "s3cret pass")
    assert not verify_password(stored, "s3cret pass\n")


def test_passwd_and_disable(config: Path, tmp_path: Path) -> None:
    assert sdgw(config, "operator", "add", "vera", "--role", "viewer", "--password-stdin",
                stdin="first password\n").returncode == 0
    changed = sdgw(config, "operator", "passwd", "vera", stdin="second password\r\n")
    assert changed.returncode == 0, changed.stderr
    assert verify_password(_stored_hash(tmp_path, "vera"), "second password")

    disabled = sdgw(config, "operator", "disable", "vera")
    assert disabled.returncode == 0, disabled.stderr
    row = sdgw(config, "operator", "list").stdout.splitlines()[1]
    assert not row.endswith(" -")


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (("add", "bob", "--role", "root"), "long enough\n",
     "sdgw: --role 'root': expected one of viewer, admin\n"),
    (("add", "bob", "--role", "admin"), "short\n",
     "sdgw: password: expected at least 8 characters, not all spaces\n"),
    (("add", "bob", "--role", "admin"), "", "sdgw: no password on stdin (expected one line)\n"),
    (("add", "bad name", "--role", "admin"), "long enough\n",
     "sdgw: operator name 'bad name': expected 1 to 64 letters, digits, '_', '.' or '-'\n"),
    (("passwd", "nobody"), "long enough\n",
     "sdgw: no operator named 'nobody' (see `sdgw operator list`)\n"),
    (("disable", "nobody"), "", "sdgw: no operator named 'nobody' (see `sdgw operator list`)\n"),
])
def test_mistakes_end_with_one_line_and_status_2(
    config: Path, args: tuple[str, ...], stdin: str, message: str
) -> None:
    result = sdgw(config, "operator", *args, stdin=stdin)
    assert (result.returncode, result.stderr) == (2, message)


def test_an_out_of_date_schema_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = sdgw(config, "operator", "list")
    assert result.returncode == 2
    assert "db upgrade" in result.stderr and len(result.stderr.splitlines()) == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_is_asked_twice_and_the_answers_must_match() -> None:
    answers = iter(["typed twice", "typed twice", "first", "second"])

    def ask(prompt: str) -> str:
        return next(answers)

    assert read_password(_Terminal(), from_stdin=False, ask=ask) == "typed twice"
    with pytest.raises(GatewayError, match="the two passwords differ"):
        read_password(_Terminal(), from_stdin=False, ask=ask)
    assert read_password(_Terminal("from a line\n"), from_stdin=True, ask=ask) == "from a line"
