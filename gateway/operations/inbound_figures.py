"""MOs by keyword outcome and replies sent, counted as the inbound processor reports them."""

from __future__ import annotations

from collections import Counter

from gateway.subscriptions.machine import Outcome

KEYWORD_OUTCOMES: tuple[str, ...] = (
    "subscribe", "confirm", "unsubscribe", "query", "help", "invalid", "duplicate",
)
"""The ``outcome`` label of ``sdgw_mo_total``."""

_KEYWORD_OF: dict[str, str] = {
    Outcome.CONFIRM_PROMPT.value: "subscribe",
    Outcome.ALREADY_SUBSCRIBED.value: "subscribe",
    Outcome.WELCOME.value: "confirm",
    Outcome.NOTHING_PENDING.value: "confirm",
    Outcome.CONFIRM_EXPIRED.value: "confirm",
    Outcome.UNSUBSCRIBED.value: "unsubscribe",
    Outcome.PENDING_CANCELLED.value: "unsubscribe",
    Outcome.NOT_SUBSCRIBED.value: "unsubscribe",
    Outcome.SUBSCRIPTION_LIST.value: "query",
    Outcome.HELP.value: "help",
    "help_suppressed": "help",
    "invalid_number": "invalid",
    "unknown_service": "invalid",
    "duplicate": "duplicate",
}


def keyword_outcome(outcome: str) -> str:
    """The keyword group of an MO's stored outcome (``SD`` → subscribe, ``Y`` → confirm, …);
    an outcome this code does not know counts as invalid."""
    return _KEYWORD_OF.get(outcome, "invalid")


class InboundFigures:
    """Counters the inbound processor feeds (on the reactor thread)."""

    def __init__(self) -> None:
        self.mos: Counter[tuple[str, str]] = Counter()
        """(carrier, keyword outcome) → MOs handled."""
        self.replies: Counter[tuple[str, str]] = Counter()
        """(carrier, outcome of the reply's submit) → replies sent."""

    def mo_handled(self, carrier: str, outcome: str) -> None:
        self.mos[(carrier, keyword_outcome(outcome))] += 1

    def reply_sent(self, carrier: str, outcome: str) -> None:
        self.replies[(carrier, outcome)] += 1
