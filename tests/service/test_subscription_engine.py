"""The subscription engine against a real database (SQLite, and PostgreSQL in CI)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from carriers.messages import InboundMessage
from gateway.db.engine import make_session_factory
from gateway.db.models import InboundMessage as InboundRow
from gateway.db.models import OutboundMessage, Subscriber, SubscriptionEvent
from gateway.states import MessageFormat
from gateway.subscriptions.machine import Status, replay
from gateway.subscriptions.service import MoResult, handle_mo, handle_mos, make_settings
from gateway.templating import make_environment, render_text
from tests.conftest import REPO_ROOT

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
CODES = {"china_mobile": "10658000", "china_unicom": "106558000678",
         "china_telecom": "106597009"}
SETTINGS = make_settings(
    short_codes=CODES,
    newspaper={"name": "山东手机报", "price": "3元/月", "signature": "山东手机报"},
    confirm_window=timedelta(hours=24),
    help_period=timedelta(hours=1),
    duplicate_window=timedelta(minutes=2),
    # China Telecom is set up for SMS only; on China Unicom the 1709 range (an MVNO) is.
    sms_only_carriers=["china_telecom"],
    sms_only_prefixes={"china_unicom": ["1709"]},
)
ENVIRONMENT = make_environment(REPO_ROOT / "templates")


def render(name: str, context: dict) -> str:
    return render_text(ENVIRONMENT, name, **context)


class Engine_:
    """Sends MOs through handle_mo, one transaction each, on a clock the test moves."""

    def __init__(self, engine: Engine) -> None:
        self.sessions = make_session_factory(engine)
        self.now = T0
        self._ids = itertools.count(1)

    def mo(self, text: str, source: str = "13800138000", carrier: str = "china_mobile",
           to: str | None = None, message_id: str | None = None,
           advance: timedelta = timedelta(minutes=5), link_id: str = "") -> MoResult:
        self.now += advance
        message = InboundMessage(carrier=carrier, source=source,
                                 destination=to or CODES[carrier], text=text,
                                 received_at=self.now, carrier_message_id=message_id,
                                 link_id=link_id)
        with self.sessions.begin() as session:
            return handle_mo(session, message, settings=SETTINGS, render=render, now=self.now)

    def subscriber(self, msisdn: str = "13800138000") -> Subscriber | None:
        with self.sessions() as session:
            return session.scalars(select(Subscriber).where(Subscriber.msisdn == msisdn)).first()

    def events(self, msisdn: str = "13800138000") -> list[SubscriptionEvent]:
        with self.sessions() as session:
            return list(session.scalars(select(SubscriptionEvent).where(
                SubscriptionEvent.msisdn == msisdn).order_by(SubscriptionEvent.id)))


@pytest.fixture
def gw(engine: Engine) -> Engine_:
    return Engine_(engine)


def test_a_reply_names_the_carrier_session_its_mo_opened(gw: Engine_) -> None:
    """CMPP 3.0's LinkID: the reply to an on-demand MO carries the MO's session id."""
    prompt = gw.mo("SD", link_id="LK0000000042")
    assert prompt.reply is not None and prompt.reply.link_id == "LK0000000042"
    plain = gw.mo("0000", source="13900139000")
    assert plain.reply is not None and plain.reply.link_id == ""


def test_the_whole_dialog(gw: Engine_) -> None:
    prompt = gw.mo("SD")
    assert prompt.outcome == "confirm_prompt"
    assert prompt.reply is not None
    assert "回复Y确认" in prompt.reply.text and "3元/月" in prompt.reply.text
    assert prompt.reply.text.startswith("【山东手机报】")
    assert gw.subscriber().status == "pending"

    welcome = gw.mo("Y")
    assert welcome.outcome == "welcome"
    subscriber = gw.subscriber()
    assert subscriber.status == "active"
    assert subscriber.consent_text == "Y" and subscriber.consent_inbound_id == welcome.inbound_id

    listing = gw.mo("0000")
    assert listing.outcome == "subscription_list"
    assert "TD" in listing.reply.text and "10658000" in listing.reply.text

    bye = gw.mo("TD")
    assert bye.outcome == "unsubscribed"
    assert gw.subscriber().status == "cancelled"
    events = gw.events()
    assert [(e.old_status, e.new_status) for e in events] == [
        ("none", "pending"), ("pending", "active"), ("active", "cancelled")]
    assert [e.mo_text for e in events] == ["SD", "Y", "TD"]
    assert all(e.carrier == "china_mobile" and e.short_code == "10658000" for e in events)


@pytest.mark.parametrize("text", ["SD", "sd", "ＳＤ", " SD。", "Sd 手机报", "sD！"])
def test_subscribe_forms(gw: Engine_, text: str) -> None:
    assert gw.mo(text).outcome == "confirm_prompt"


@pytest.mark.parametrize("text", ["Y", "y", "Ｙ", "是", " y 。"])
def test_confirm_forms(gw: Engine_, text: str) -> None:
    gw.mo("SD")
    assert gw.mo(text).outcome == "welcome"


@pytest.mark.parametrize("text", ["TD", "td", "QX", "退订", "TD10658000", "td 10658000",
                                  "ＴＤ", "00000"])
def test_unsubscribe_forms(gw: Engine_, text: str) -> None:
    gw.mo("SD")
    gw.mo("Y")
    assert gw.mo(text).outcome == "unsubscribed"
    assert gw.subscriber().status == "cancelled"


@pytest.mark.parametrize("text", ["你好", "SDXYZ", "", "YES", "TD999"])
def test_anything_else_gets_help(gw: Engine_, text: str) -> None:
    result = gw.mo(text)
    assert result.outcome == "help"
    assert "SD" in result.reply.text and "TD" in result.reply.text


def test_confirmation_window_edges(gw: Engine_) -> None:
    gw.mo("SD")
    assert gw.mo("Y", advance=timedelta(hours=24)).outcome == "welcome"  # inclusive
    other = "13900139000"
    gw.mo("SD", source=other)
    late = gw.mo("Y", source=other, advance=timedelta(hours=24, seconds=1))
    assert late.outcome == "confirm_expired"
    assert gw.subscriber(other).status == "none"


def test_replies_that_change_nothing(gw: Engine_) -> None:
    assert gw.mo("Y").outcome == "nothing_pending"
    assert gw.mo("TD").outcome == "not_subscribed"
    assert gw.subscriber() is None
    gw.mo("SD")
    gw.mo("Y")
    before = len(gw.events())
    assert gw.mo("SD").outcome == "already_subscribed"
    assert gw.subscriber().status == "active"
    assert len(gw.events()) == before


def test_redelivered_mo_is_processed_once(gw: Engine_) -> None:
    assert gw.mo("SD", message_id="abc").outcome == "confirm_prompt"
    again = gw.mo("SD", message_id="abc", advance=timedelta(hours=3))
    assert again.outcome == "duplicate" and again.reply is None
    # Without a carrier id: the same number, code and text within the window is a re-delivery.
    assert gw.mo("Y", advance=timedelta(minutes=1)).outcome == "welcome"
    assert gw.mo("Y", advance=timedelta(seconds=30)).outcome == "duplicate"
    assert gw.mo("Y", advance=timedelta(minutes=3)).outcome == "already_subscribed"
    assert [e.new_status for e in gw.events()] == ["pending", "active"]


def test_crash_before_commit_then_redelivery_applies_once(gw: Engine_, engine: Engine) -> None:
    message = InboundMessage(carrier="china_mobile", source="13800138000",
                             destination="10658000", text="SD", received_at=T0)
    with pytest.raises(RuntimeError), gw.sessions.begin() as session:
        handle_mo(session, message, settings=SETTINGS, render=render, now=T0)
        raise RuntimeError("process killed before commit")
    assert gw.subscriber() is None
    with gw.sessions.begin() as session:
        assert handle_mo(session, message, settings=SETTINGS, render=render,
                         now=T0).outcome == "confirm_prompt"
    with gw.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboundRow)) == 1
    assert len(gw.events()) == 1


def test_help_is_rate_limited_per_number(gw: Engine_) -> None:
    assert gw.mo("hello").outcome == "help"
    assert gw.mo("what?").outcome == "help_suppressed"
    assert gw.mo("anyone", source="13900000000").outcome == "help"
    assert gw.mo("still there?", advance=timedelta(hours=1)).outcome == "help"
    with gw.sessions() as session:
        replies = session.scalar(select(func.count()).select_from(OutboundMessage))
    assert replies == 3


@pytest.mark.parametrize("number", ["12345", "+1 415 555 0100", "2380013800", "abc",
                                    "10658000123"])
def test_invalid_numbers_never_become_subscribers(gw: Engine_, number: str) -> None:
    result = gw.mo("SD", source=number)
    assert result.outcome == "invalid_number" and result.reply is None
    with gw.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
        assert session.scalar(select(InboundRow.outcome)) == "invalid_number"


@pytest.mark.parametrize("number", ["+86 138 0013 8000", "86-138-0013-8000", "008613800138000"])
def test_number_formats_are_normalised(gw: Engine_, number: str) -> None:
    gw.mo("SD", source=number)
    assert gw.subscriber("13800138000").status == "pending"


def test_extension_routing(gw: Engine_) -> None:
    result = gw.mo("SD", to="10658000123")
    assert result.reply.source == "10658000123"
    subscriber = gw.subscriber()
    assert (subscriber.short_code, subscriber.extension) == ("10658000", "123")
    assert gw.events()[0].extension == "123"
    assert gw.mo("SD", to="10690000").outcome == "unknown_service"
    assert gw.mo("SD", carrier="china_unicom", to="10658000").outcome == "unknown_service"


def test_portability_the_link_decides_the_carrier(gw: Engine_) -> None:
    unicom_number = "13012345678"
    gw.mo("SD", source=unicom_number, carrier="china_mobile")
    subscriber = gw.subscriber(unicom_number)
    assert subscriber.carrier == "china_mobile"
    assert subscriber.prefix_carrier == "china_unicom"
    gw.mo("Y", source=unicom_number, carrier="china_unicom")
    subscriber = gw.subscriber(unicom_number)
    assert subscriber.carrier == "china_unicom" and subscriber.prefix_carrier is None
    assert subscriber.status == "active"


def test_choosing_the_mms_edition_and_back(gw: Engine_) -> None:
    gw.mo("SD")
    gw.mo("Y")
    assert gw.subscriber().message_format == "sms"
    to_mms = gw.mo("cx")
    assert to_mms.outcome == "format_mms"
    assert "彩信版" in to_mms.reply.text and "DX" in to_mms.reply.text
    assert gw.subscriber().message_format == "mms"
    again = gw.mo("彩信")
    assert again.outcome == "already_mms" and "无需更改" in again.reply.text
    listing = gw.mo("0000")
    assert "彩信版" in listing.reply.text
    back = gw.mo("ＤＸ")
    assert back.outcome == "format_sms" and "CX" in back.reply.text
    assert gw.subscriber().message_format == "sms"
    events = gw.events()
    assert [(e.old_status, e.new_status, e.outcome, e.message_format) for e in events] == [
        ("none", "pending", "confirm_prompt", None),
        ("pending", "active", "welcome", None),
        ("active", "active", "format_mms", "mms"),
        ("active", "active", "format_sms", "sms"),
    ]
    assert [e.mo_text for e in events[2:]] == ["cx", "ＤＸ"]


def test_the_choice_survives_unsubscribing_and_subscribing_again(gw: Engine_) -> None:
    for text in ("SD", "Y", "CX", "TD", "SD", "Y"):
        gw.mo(text)
    subscriber = gw.subscriber()
    assert subscriber.status == "active" and subscriber.message_format == "mms"


@pytest.mark.parametrize(("carrier", "number"), [("china_telecom", "18900189000"),
                                                   ("china_unicom", "17091234567")])
def test_mms_on_an_sms_only_carrier_or_number_is_explained(
        gw: Engine_, carrier: str, number: str) -> None:
    gw.mo("SD", source=number, carrier=carrier)
    gw.mo("Y", source=number, carrier=carrier)
    refused = gw.mo("CX", source=number, carrier=carrier)
    assert refused.outcome == "mms_unavailable"
    assert "暂不支持" in refused.reply.text and "短信版" in refused.reply.text
    assert gw.subscriber(number).message_format == "sms"
    assert [e.outcome for e in gw.events(number)] == ["confirm_prompt", "welcome"]
    # Another number of the same carrier (Unicom) can.
    if carrier == "china_unicom":
        gw.mo("SD", source="13012345678", carrier=carrier)
        gw.mo("Y", source="13012345678", carrier=carrier)
        assert gw.mo("CX", source="13012345678", carrier=carrier).outcome == "format_mms"


def test_a_ported_mms_subscriber_is_told_when_the_new_carrier_has_only_sms(gw: Engine_) -> None:
    """The carrier that delivers the MO decides (number portability)."""
    for text in ("SD", "Y", "CX"):
        gw.mo(text)
    refused = gw.mo("CX", carrier="china_telecom")
    assert refused.outcome == "mms_unavailable" and "DX" in refused.reply.text


@pytest.mark.parametrize("text", ["CX", "DX", "彩信", "短信"])
def test_format_keywords_from_a_non_subscriber_or_a_pending_one(gw: Engine_, text: str) -> None:
    stranger = gw.mo(text)
    assert stranger.outcome == "format_not_subscribed"
    assert "SD" in stranger.reply.text
    gw.mo("SD")
    waiting = gw.mo(text)
    assert waiting.outcome == "format_confirm_first" and "回复Y" in waiting.reply.text
    subscriber = gw.subscriber()
    assert subscriber.status == "pending" and subscriber.message_format == "sms"
    assert gw.mo("Y").outcome == "welcome"  # the pending request is still there


_NUMBERS = [f"1380000{n:04d}" for n in range(6)]
_TEXTS = ["SD", "Y", "TD", "0000", "00000", "是", "退订", "hi", "sd", "QX", "CX", "DX", "彩信",
          "短信"]
_runs = itertools.count()


def test_random_mo_sequences_leave_state_matching_the_event_log(engine: Engine) -> None:
    """Random MO sequences from many numbers: each number ends in exactly one state, and
    that state is what its event log replays to."""

    # Mostly minutes between MOs (so numbers get as far as active and choose a format), now
    # and then hours past the confirmation window.
    gaps = st.one_of(st.integers(min_value=0, max_value=3600),
                     st.integers(min_value=0, max_value=40 * 3600))

    # Biased towards SD, Y, CX and DX, so that dialogues often get as far as a format choice.
    texts = st.one_of(st.sampled_from(["SD", "Y", "CX", "DX"]), st.sampled_from(_TEXTS))

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.sampled_from(range(len(_NUMBERS))), texts, gaps),
                    min_size=1, max_size=40))
    def check(steps: list[tuple[int, str, int]]) -> None:
        gw = Engine_(engine)
        run = next(_runs)
        prefix = f"13{run % 10}{run // 10 % 10}"  # fresh numbers per example, same database
        numbers = [prefix + n[4:] for n in _NUMBERS]
        for index, text, seconds in steps:
            gw.mo(text, source=numbers[index], advance=timedelta(seconds=seconds + 200))
        with gw.sessions() as session:
            for number in numbers:
                rows = session.scalars(
                    select(Subscriber).where(Subscriber.msisdn == number)).all()
                events = list(session.scalars(select(SubscriptionEvent).where(
                    SubscriptionEvent.msisdn == number).order_by(SubscriptionEvent.id)))
                if not rows:
                    assert events == []
                    continue
                [subscriber] = rows
                replayed = replay([(Status(e.old_status), Status(e.new_status),
                                    e.at if e.at.tzinfo else e.at.replace(tzinfo=UTC),
                                    MessageFormat(e.message_format) if e.message_format
                                    else None)
                                   for e in events])
                assert replayed.status.value == subscriber.status
                assert replayed.message_format.value == subscriber.message_format

    check()


def _everything_about(session: Any, prefix: str) -> dict[str, Any]:
    """The rows MOs from numbers starting with ``prefix`` left, with the prefix taken out and
    ids replaced by positions (so two runs on different numbers can be compared)."""
    def local(number: str) -> str:
        return number.replace(prefix, "", 1)

    inbound = list(session.scalars(select(InboundRow).where(
        InboundRow.source_addr.like(prefix + "%")).order_by(InboundRow.id)))
    position = {row.id: index for index, row in enumerate(inbound)}
    subscribers = list(session.scalars(select(Subscriber).where(
        Subscriber.msisdn.like(prefix + "%")).order_by(Subscriber.msisdn)))
    events = list(session.scalars(select(SubscriptionEvent).where(
        SubscriptionEvent.msisdn.like(prefix + "%")).order_by(SubscriptionEvent.id)))
    replies = list(session.scalars(select(OutboundMessage).where(
        OutboundMessage.destination_addr.like(prefix + "%")).order_by(OutboundMessage.id)))
    return {
        "inbound": [(local(r.source_addr), r.text, local(r.carrier_message_id or ""),
                     r.outcome) for r in inbound],
        "subscribers": [(local(s.msisdn), s.status, s.carrier, s.short_code, s.extension,
                         position.get(s.consent_inbound_id), s.consent_text,
                         s.last_help_at is not None, s.message_format) for s in subscribers],
        "events": [(local(e.msisdn), e.old_status, e.new_status, e.outcome,
                    position[e.inbound_id], e.message_format) for e in events],
        "replies": [(local(r.destination_addr), r.source_addr, r.text,
                     position[r.in_reply_to]) for r in replies],
    }


def test_mos_applied_in_batches_leave_what_one_by_one_leaves(engine: Engine) -> None:
    """handle_mos over a batch = handle_mo over each MO in turn: state carried from one MO to
    the next of the same number, re-deliveries within the batch, consent, help limits."""
    sessions = make_session_factory(engine)
    texts = [*_TEXTS, "帮助", "0000", "CX", "DX"]

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.sampled_from(range(4)), st.sampled_from(texts),
                              st.sampled_from([None, "m1", "m2", "m3"]),
                              st.sampled_from(["china_mobile", "china_unicom",
                                               "china_telecom"])),
                    min_size=1, max_size=30),
           st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=30))
    def check(steps: list[tuple[int, str, str | None, str]], cuts: list[int]) -> None:
        run = next(_runs)
        one_prefix, batch_prefix = f"139{run % 10000:04d}", f"137{run % 10000:04d}"

        def message(prefix: str, step: tuple[int, str, str | None, str]) -> InboundMessage:
            index, text, message_id, carrier = step
            return InboundMessage(
                carrier=carrier, source=f"{prefix}{index:04d}", destination=CODES[carrier],
                text=text, received_at=T0,
                carrier_message_id=f"{prefix}-{message_id}" if message_id else None)

        for step in steps:
            with sessions.begin() as session:
                handle_mo(session, message(one_prefix, step), settings=SETTINGS, render=render,
                          now=T0)
        start = 0
        for cut in itertools.cycle(cuts):
            if start >= len(steps):
                break
            with sessions.begin() as session:
                handle_mos(session, [message(batch_prefix, s) for s in steps[start:start + cut]],
                           settings=SETTINGS, render=render, now=T0)
            start += cut
        with sessions() as session:
            assert _everything_about(session, batch_prefix) == _everything_about(
                session, one_prefix)

    check()


def test_a_batch_with_no_mos_writes_nothing(engine: Engine) -> None:
    with make_session_factory(engine).begin() as session:
        assert handle_mos(session, [], settings=SETTINGS, render=render, now=T0) == []
        assert session.scalar(select(func.count()).select_from(InboundRow)) == 0
