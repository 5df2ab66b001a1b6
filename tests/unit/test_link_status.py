"""The link status recorder: states and since when on an injected clock, counters, histogram."""

from __future__ import annotations

import pytest

from carriers.link.status import LatencyHistogram, LinkPhase, LinkStatus


def test_a_link_connects_binds_drops_and_comes_back_counting_one_reconnect() -> None:
    status = LinkStatus(carrier="china_mobile", protocol="smpp", peer="127.0.0.1:2775")
    assert status.phase(0.0) is LinkPhase.CLOSED
    status.on_started(10.0)
    assert (status.phase(11.0), status.since(11.0)) == (LinkPhase.CONNECTING, 10.0)
    status.on_bound(12.0)
    assert (status.phase(13.0), status.since(13.0)) == (LinkPhase.BOUND, 12.0)
    assert status.reconnects == 0
    status.on_error("connection lost: reset", 20.0)
    status.on_disconnected(20.0)
    assert (status.phase(21.0), status.since(21.0)) == (LinkPhase.CONNECTING, 20.0)
    status.on_connect_failed("Connection refused", 21.0)
    assert status.connect_failures == 1
    assert status.last_error == "connect failed: Connection refused"
    assert status.last_error_at == 21.0
    status.on_bound(25.0)
    assert status.reconnects == 1
    assert status.reconnects_since(24.0) == 1
    assert status.reconnects_since(26.0) == 0
    status.on_disconnected(30.0, closed=True)
    assert status.phase(31.0) is LinkPhase.CLOSED


def test_an_idle_link_is_idle_until_work_connects_it() -> None:
    status = LinkStatus(carrier="china_unicom", protocol="sgip")
    status.on_started(0.0)
    status.on_bound(1.0)
    status.on_disconnected(5.0, idle=True)
    assert (status.phase(6.0), status.since(6.0)) == (LinkPhase.IDLE, 5.0)
    status.on_connecting(9.0)
    assert (status.phase(9.5), status.since(9.5)) == (LinkPhase.CONNECTING, 9.0)


def test_throttling_is_a_state_of_its_own_while_the_pause_lasts() -> None:
    status = LinkStatus(carrier="china_mobile", protocol="smpp")
    status.on_started(0.0)
    status.on_bound(1.0)
    status.on_throttled(2.0, 10.0)
    assert status.throttle_episodes == 1
    assert (status.phase(11.0), status.since(11.0)) == (LinkPhase.THROTTLED, 10.0)
    assert status.current_pause(11.0) == pytest.approx(1.0)
    # A second episode while paused extends the pause, not the start.
    status.on_throttled(4.0, 11.5)
    assert status.since(12.0) == 10.0
    assert status.current_pause(12.0) == pytest.approx(3.5)
    # After the pause: bound again, since the pause ended.
    assert (status.phase(16.0), status.since(16.0)) == (LinkPhase.BOUND, 15.5)
    assert status.current_pause(16.0) == 0.0
    assert status.throttle_episodes == 2


def test_submits_are_counted_by_outcome_with_their_latency() -> None:
    status = LinkStatus(carrier="china_mobile", protocol="smpp")
    status.on_accepted(0.004)
    status.on_accepted(0.2)
    status.on_refused("transient", 0.003)
    status.on_refused("permanent", 0.001)
    status.on_refused("unanswered")
    assert status.submits_by_outcome() == {
        "accepted": 2, "transient": 1, "permanent": 1, "unanswered": 1, "not_sent": 0}
    assert status.response_latency.count == 4
    assert status.response_latency.sum == pytest.approx(0.208)


def test_inbound_is_counted_by_kind_and_receipts_by_state() -> None:
    status = LinkStatus(carrier="china_telecom", protocol="smgp")
    status.on_mo()
    status.on_receipt("delivered")
    status.on_receipt("delivered")
    status.on_receipt("expired")
    assert (status.inbound_mo, status.inbound_receipts) == (1, 3)
    assert status.receipt_states == {"delivered": 2, "expired": 1}


def test_the_histogram_puts_a_value_equal_to_a_bound_in_that_bucket() -> None:
    histogram = LatencyHistogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 3.0):
        histogram.observe(value)
    assert histogram.cumulative() == [(0.1, 2), (1.0, 4), (float("inf"), 5)]
    assert histogram.count == 5
    with pytest.raises(ValueError):
        LatencyHistogram((1.0, 0.5))
