"""Running a real ``sdgw`` command with its stderr (and optionally stdout) on a
pseudo-terminal, as a user at a terminal would, and reading what it drew there."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO_ROOT

COLUMNS, ROWS = 160, 40
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
CLEAR_LINE = "\x1b[2K"


@dataclass
class Finished:
    code: int
    terminal: str
    """Everything written to the pseudo-terminal, escape sequences and all."""
    stdout: str
    """What went to stdout when it was a pipe (empty when it was the terminal too)."""


def sdgw_on_terminal(config: Path, *args: str, env: dict[str, str] | None = None,
                     stdout_on_terminal: bool = False, timeout: float = 120) -> Finished:
    """``python -m gateway --config CONFIG ARGS`` with stderr on a pseudo-terminal (a
    ``COLUMNS``×``ROWS`` xterm), stdout on a pipe unless ``stdout_on_terminal``."""
    return run_on_terminal([sys.executable, "-m", "gateway", "--config", str(config), *args],
                           env=env, stdout_on_terminal=stdout_on_terminal, timeout=timeout)


def run_on_terminal(argv: list[str], *, env: dict[str, str] | None = None,
                    stdout_on_terminal: bool = False, timeout: float = 120) -> Finished:
    """``argv`` (from the repository root) with stderr on a pseudo-terminal."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    environment = {key: value for key, value in (env or os.environ).items()
                   if key not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS",
                                  "LINES", "SDGW_PROGRESS_EVERY")}
    environment.update(TERM="xterm-256color", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        argv, cwd=REPO_ROOT,
        env=environment, stdin=subprocess.DEVNULL, stderr=terminal,
        stdout=terminal if stdout_on_terminal else subprocess.PIPE)
    os.close(terminal)
    drawn = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    try:
        stdout, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    finally:
        reader.join(timeout=10)
        os.close(controller)
    return Finished(process.returncode, drawn.decode("utf-8", "replace"),
                    (stdout or b"").decode("utf-8", "replace"))
