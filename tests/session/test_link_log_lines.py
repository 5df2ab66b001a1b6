"""A link's traffic lines (``gateway/log_format.py``): one line per throttling episode and
per reconnect, each carrying the carrier, in text and in JSON."""

from __future__ import annotations

import logging

import pytest

from carriers.smpp.pdus import CommandStatus
from tests.log_records import as_json, as_text, traffic
from tests.session.test_link_transport import Carrier, answer, message

LINK_LOG = "carriers.link.transport"


@pytest.fixture
def carrier() -> Carrier:
    return Carrier()


def test_each_throttling_episode_is_one_line(carrier: Carrier,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LINK_LOG)
    carrier.bind()
    submitted = [carrier.link.submit(message(f"m{n}")) for n in range(2)]
    first, second = carrier.sent()
    # Both submits of one burst are refused: one episode, one line.
    carrier.feed(answer(first, CommandStatus.ESME_RTHROTTLED),
                 answer(second, CommandStatus.ESME_RTHROTTLED))
    assert len(traffic(caplog.records, "throttled")) == 1
    carrier.clock.advance(1.0)
    again = carrier.sent()
    # The next burst is refused too: a second episode, with the doubled pause.
    carrier.feed(answer(again[0], CommandStatus.ESME_RMSGQFUL))
    lines = traffic(caplog.records, "throttled")
    assert len(lines) == 2
    entries = [as_json(record) for record in lines]
    assert [(e["carrier"], e["status"].split(" ")[0], e["pause"], e["episodes"])
            for e in entries] == [("china_mobile", "ESME_RTHROTTLED", 1.0, 1),
                                  ("china_mobile", "ESME_RMSGQFUL", 2.0, 2)]
    assert all(e["protocol"] == "smpp" and e["level"] == "info" for e in entries)
    text = as_text(lines[1])
    assert "china_mobile link: carrier said ESME_RMSGQFUL" in text
    assert "pausing 2.00s (throttling episode 2)" in text
    assert not any(s.called for s in submitted)


def test_each_reconnect_is_one_line(carrier: Carrier, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LINK_LOG)
    carrier.bind()
    carrier.lose()
    carrier.clock.advance(3.0)
    carrier.bind()
    carrier.lose()
    lines = traffic(caplog.records, "reconnect")
    assert len(lines) == 2
    entry = as_json(lines[0])
    assert (entry["carrier"], entry["level"], entry["was_bound"]) == (
        "china_mobile", "warning", True)
    assert "Connection to the other side was lost" in entry["reason"]
    assert "china_mobile link: connection lost" in as_text(lines[0])
    assert [as_json(r)["binds"] for r in traffic(caplog.records, "link_bound")] == [1, 2]
    assert all(as_json(r)["carrier"] == "china_mobile" for r in caplog.records
               if getattr(r, "event", None))
