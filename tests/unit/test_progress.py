"""The progress display's choices and its plain lines (stderr not a terminal)."""

from __future__ import annotations

import io
import re
import time

import pytest

from gateway.cli.progress import DEFAULT_PERIOD, CommandProgress, plain_period
from gateway.errors import GatewayError


@pytest.mark.parametrize(("value", "seconds"), [
    (None, DEFAULT_PERIOD), ("", DEFAULT_PERIOD), ("2.5", 2.5), ("0", 0.0), (" 7 ", 7.0)])
def test_period_from_the_environment(value: str | None, seconds: float) -> None:
    environ = {} if value is None else {"SDGW_PROGRESS_EVERY": value}
    assert plain_period(environ) == seconds


@pytest.mark.parametrize("value", ["-1", "soon", "nan", "inf"])
def test_a_bad_period_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(GatewayError, match="SDGW_PROGRESS_EVERY"):
        plain_period({"SDGW_PROGRESS_EVERY": value})


def test_a_stream_that_is_not_a_terminal_gets_plain_lines() -> None:
    stream = io.StringIO()
    with CommandProgress(stream=stream, environ={"SDGW_PROGRESS_EVERY": "0.02"}) as display:
        assert not display.live
        task = display.add("purge events", total=100, unit="events")
        for _ in range(10):
            task.advance(10)
            time.sleep(0.02)
        task.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2 and "\x1b" not in stream.getvalue()
    assert all(re.fullmatch(r"progress: purge events \d+/100 events \(\d+%\), [\d.,]+/s, "
                            r"ETA (\d+:\d\d:\d\d|\?)", line) for line in lines[:-1]), lines
    assert re.fullmatch(r"progress: purge events done: 100 events in [\d.]+s \([\d.,]+/s\)",
                        lines[-1])


def test_a_task_shorter_than_the_period_prints_nothing() -> None:
    stream = io.StringIO()
    with CommandProgress(stream=stream, environ={"SDGW_PROGRESS_EVERY": "30"}) as display:
        task = display.add("ingest", total=3, unit="files")
        task.advance(3)
        task.finish()
    assert stream.getvalue() == ""


def test_period_zero_turns_plain_lines_off() -> None:
    stream = io.StringIO()
    with CommandProgress(stream=stream, environ={"SDGW_PROGRESS_EVERY": "0"}) as display:
        task = display.add("ingest", total=3, unit="files")
        time.sleep(0.05)
        task.advance(3)
    assert stream.getvalue() == ""


def test_a_task_left_unfinished_says_where_it_stopped() -> None:
    stream = io.StringIO()
    with CommandProgress(stream=stream, environ={"SDGW_PROGRESS_EVERY": "0.02"}) as display:
        task = display.add("dispatch china_mobile", total=50, unit="deliveries", completed=20)
        task.update(completed=30)
        time.sleep(0.08)
    last = stream.getvalue().splitlines()[-1]
    assert last.startswith("progress: dispatch china_mobile 30/50 deliveries (60%)"), last


def test_what_was_done_before_the_bar_is_not_in_its_rate() -> None:
    stream = io.StringIO()
    with CommandProgress(stream=stream, environ={"SDGW_PROGRESS_EVERY": "0.05"}) as display:
        task = display.add("dispatch china_mobile", total=1_000_000, unit="deliveries",
                           completed=900_000)
        time.sleep(0.12)
        task.update(completed=1_000_000)
        task.finish()
    rate = float(re.search(r"\(([\d.,]+)/s\)$", stream.getvalue().splitlines()[-1])
                 .group(1).replace(",", ""))
    # 100,000 in about 0.12 s; counting the 900,000 done before would make it ten times more
    assert 100_000 / 0.6 < rate < 100_000 / 0.1
