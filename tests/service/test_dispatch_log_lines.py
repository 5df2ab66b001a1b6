"""A dispatch's start and finish are one log line each (``gateway/log_format.py``), with the
carrier, the dispatch and edition ids and the counts, in text and in JSON."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import Engine, select

from gateway.db.dispatch_models import Dispatch
from gateway.db.engine import make_session_factory
from tests.log_records import as_json, as_text, assert_no_whole_number, traffic
from tests.service.dispatch_fixtures import FakeLink, seed_edition, seed_subscribers
from tests.service.test_dispatch import runner_for


@pytest_twisted.ensureDeferred
async def test_dispatch_start_and_finish_are_one_line_each_per_carrier(
        engine: Engine, database: Any, caplog: pytest.LogCaptureFixture) -> None:
    sessions = make_session_factory(engine)
    carriers = ("china_mobile", "china_unicom")
    with sessions.begin() as session:
        edition_id = seed_edition(session, carriers=carriers)
        numbers = seed_subscribers(session, 30)
        numbers += seed_subscribers(session, 20, carrier="china_unicom", start=500)
    runner = runner_for(database, {carrier: FakeLink() for carrier in carriers})
    caplog.set_level(logging.INFO, logger="gateway.dispatch.runner")
    await runner.dispatch(edition_id)
    with sessions() as session:
        dispatch_ids = dict(session.execute(select(Dispatch.carrier, Dispatch.id)).all())

    starts = [as_json(record) for record in traffic(caplog.records, "dispatch_start")]
    finishes = [as_json(record) for record in traffic(caplog.records, "dispatch_finish")]
    assert sorted((e["carrier"], e["dispatch_id"], e["edition_id"], e["total"])
                  for e in starts) == [("china_mobile", dispatch_ids["china_mobile"],
                                        edition_id, 30),
                                       ("china_unicom", dispatch_ids["china_unicom"],
                                        edition_id, 20)]
    assert sorted((e["carrier"], e["dispatch_id"], e["edition_id"], e["sent"])
                  for e in finishes) == [("china_mobile", dispatch_ids["china_mobile"],
                                          edition_id, 30),
                                         ("china_unicom", dispatch_ids["china_unicom"],
                                          edition_id, 20)]
    assert all(e["elapsed"] >= 0 and e["level"] == "info" for e in finishes)
    finish = next(r for r in traffic(caplog.records, "dispatch_finish")
                  if r.carrier == "china_unicom")  # type: ignore[attr-defined]
    assert (f"dispatch #{dispatch_ids['china_unicom']} of edition #{edition_id} "
            "(china_unicom): done; 20 sent by this process") in as_text(finish)
    assert_no_whole_number(caplog.records, *numbers)
