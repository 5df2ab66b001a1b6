"""Progress of long commands (``sdgw ingest``, ``dispatch``, ``demo``, ``events purge``, the
benchmarks), always on stderr, so that what a command prints on stdout (``--format json``,
CSV, one line per article) stays clean.

On a terminal it is a live display drawn by ``rich`` (a bar per task with done/total, rate
and ETA); while it is up, the command's log lines and its own output to the terminal are
printed above it. Anywhere else (a pipe, a file, the journal, ``TERM=dumb``) it is a plain
line per unfinished task every ``SDGW_PROGRESS_EVERY`` seconds (default 10; ``0`` turns the
lines off) and, for a task that had such a line, one when it ends (a command shorter than the
period prints none)::

    progress: ingest 120/500 files (24%), 35.0/s, ETA 0:00:10
    progress: ingest done: 500 files in 14.2s (35.2/s)

Counting is the caller's business: a task is told its total and how far it has got, from
whichever thread; this module only shows it.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from gateway.errors import GatewayError

PERIOD_ENV_VAR = "SDGW_PROGRESS_EVERY"
DEFAULT_PERIOD = 10.0
"""Seconds between plain progress lines when stderr is not a terminal."""


def plain_period(environ: Mapping[str, str]) -> float:
    """``SDGW_PROGRESS_EVERY`` in seconds (``0``: no plain lines); a bad value is refused in
    one line naming the variable."""
    text = environ.get(PERIOD_ENV_VAR, "").strip()
    if not text:
        return DEFAULT_PERIOD
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise GatewayError(f"{PERIOD_ENV_VAR}={text!r}: expected seconds between progress "
                           "lines, a number >= 0 (0 turns them off)")
    return seconds


class _Rate(ProgressColumn):
    """Items per second (rich's estimate over the last 30 s)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        shown = "-/s" if speed is None else f"{speed:,.1f}/s"
        return Text(shown, style="progress.data.speed")


class ProgressTask:
    """One bar: ``total`` items (unknown when None), of which ``completed`` are done."""

    def __init__(self, display: CommandProgress, task_id: TaskID, description: str,
                 unit: str, completed: float = 0) -> None:
        self._display = display
        self.id = task_id
        self.description = description
        self.unit = unit
        self.baseline = completed
        """Done before this display began watching (a dispatch resumed): not in the rate."""
        self.started = time.monotonic()
        self.finished_at: float | None = None
        self.plain_lines = 0
        """Periodic plain lines written about this task."""

    def update(self, *, completed: float | None = None, total: float | None = None) -> None:
        self._display.progress.update(self.id, completed=completed, total=total)

    def advance(self, amount: float = 1) -> None:
        self._display.progress.advance(self.id, amount)

    def finish(self) -> None:
        """The task is over (done or not): its bar stops, a plain last line is written."""
        if self.finished_at is not None:
            return
        task = self._task()
        if task.total is None:
            self._display.progress.update(self.id, total=task.completed)
        self.finished_at = time.monotonic()
        self._display.progress.stop_task(self.id)
        self._display.task_finished(self)

    @property
    def completed(self) -> float:
        return self._task().completed

    @property
    def total(self) -> float | None:
        return self._task().total

    def _task(self) -> Task:
        return self._display.progress.tasks[self._display.index_of(self.id)]

    def plain_line(self) -> str:
        """The task as one line: how far, rate, ETA; or, finished, how much in how long."""
        task = self._task()
        unit = f" {self.unit}" if self.unit else ""
        done = _count(task.completed)
        now = self.finished_at or time.monotonic()
        elapsed = max(now - self.started, 1e-9)
        average = (task.completed - self.baseline) / elapsed
        if self.finished_at is not None:
            return (f"progress: {self.description} done: {done}{unit} in {elapsed:.1f}s "
                    f"({average:,.1f}/s)")
        rate = task.speed if task.speed is not None else average
        if task.total:
            share = f" ({100 * task.completed / task.total:.0f}%)"
            eta = _eta(task.total - task.completed, rate)
            return (f"progress: {self.description} {done}/{_count(task.total)}{unit}{share}, "
                    f"{rate:,.1f}/s, ETA {eta}")
        return f"progress: {self.description} {done}{unit}, {rate:,.1f}/s"


def _count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _eta(left: float, rate: float) -> str:
    if left <= 0:
        return "0:00:00"
    if rate <= 0:
        return "?"
    return str(timedelta(seconds=math.ceil(left / rate)))


class CommandProgress:
    """The progress display of one command; use as a context manager around the work.

    ``stream`` is where it goes (stderr); ``live`` forces the choice between the live display
    and plain lines (default: live when ``stream`` is a terminal rich can draw on)."""

    def __init__(self, *, stream: TextIO | None = None,
                 environ: Mapping[str, str] | None = None, live: bool | None = None,
                 period: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.period = plain_period(os.environ if environ is None else environ) \
            if period is None else period
        self.console = Console(file=self.stream, highlight=False)
        if live is None:
            live = self.console.is_terminal and not self.console.is_dumb_terminal
        self.live = live
        stdout_shares_terminal = self.live and _is_terminal(sys.stdout)
        self.progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}", markup=False),
            TaskProgressColumn(),
            _Rate(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.live,
            # Output meant for stdout goes above the display only when stdout is the same
            # terminal; redirected, it goes where it was sent, untouched.
            redirect_stdout=stdout_shares_terminal,
            redirect_stderr=self.live,
            refresh_per_second=4,
        )
        self._tasks: list[ProgressTask] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._handlers: list[tuple[logging.StreamHandler[TextIO], TextIO]] = []

    # -- tasks ------------------------------------------------------------------------------

    def add(self, description: str, *, total: float | None = None, unit: str = "",
            completed: float = 0) -> ProgressTask:
        """A new bar; ``completed``: already done when it appears (not counted in its rate)."""
        task_id = self.progress.add_task(description, total=total, unit=unit,
                                         completed=completed)
        task = ProgressTask(self, task_id, description, unit, completed)
        with self._lock:
            self._tasks.append(task)
        return task

    def index_of(self, task_id: TaskID) -> int:
        return next(i for i, task in enumerate(self.progress.tasks) if task.id == task_id)

    def task_finished(self, task: ProgressTask) -> None:
        if not self.live and task.plain_lines:
            self._write_line(task.plain_line())

    # -- start and stop ---------------------------------------------------------------------

    def __enter__(self) -> CommandProgress:
        return self.start()

    def start(self) -> CommandProgress:
        """Show the display (live) or start the plain lines' timer; :meth:`close` ends it."""
        if self.live:
            original = self.stream
            self.progress.start()
            # Log lines go through the display's stderr (above the bars), not over them.
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream is original:
                    self._handlers.append((handler, handler.stream))
                    handler.setStream(sys.stderr)
        elif self.period > 0:
            self._ticker = threading.Thread(target=self._tick, name="sdgw-progress",
                                            daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        for task in list(self._tasks):
            if task.finished_at is not None:
                continue
            if _reached_total(task):
                task.finish()
            elif not self.live and task.plain_lines:
                self._write_line(task.plain_line())  # where it was left
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        if self.live:
            for handler, stream in self._handlers:
                handler.setStream(stream)
            self._handlers.clear()
            self.progress.stop()

    # -- plain lines -------------------------------------------------------------------------

    def _tick(self) -> None:
        last: dict[TaskID, float] = {}
        while not self._stop.wait(self.period):
            with self._lock:
                tasks = [task for task in self._tasks if task.finished_at is None]
            for task in tasks:
                completed = task.completed
                if last.get(task.id) == completed:
                    continue  # nothing moved since the last line
                last[task.id] = completed
                task.plain_lines += 1
                self._write_line(task.plain_line())

    def _write_line(self, line: str) -> None:
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed under us: progress is not worth dying for
            pass


def _reached_total(task: ProgressTask) -> bool:
    """A task whose total is reached ends with the display (its last line is written)."""
    total = task.total
    return total is not None and task.completed >= total


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
