"""Subscriptions: MO keyword parsing and the pure subscription state machine.

The public names are re-exported here; the modules hold the tables and the
documented decisions (:mod:`.keywords`, :mod:`.machine`, :mod:`.help_limit`).
"""

from gateway.subscriptions.help_limit import help_allowed
from gateway.subscriptions.keywords import Command, CommandKind, parse_command
from gateway.subscriptions.machine import (
    DEFAULT_CONFIRM_WINDOW,
    Decision,
    InvalidState,
    InvalidTransition,
    Outcome,
    ReplayMismatch,
    Status,
    SubscriptionError,
    SubscriptionState,
    Transition,
    apply,
    pending_expired,
    replay,
)

__all__ = [
    "DEFAULT_CONFIRM_WINDOW",
    "Command",
    "CommandKind",
    "Decision",
    "InvalidState",
    "InvalidTransition",
    "Outcome",
    "ReplayMismatch",
    "Status",
    "SubscriptionError",
    "SubscriptionState",
    "Transition",
    "apply",
    "help_allowed",
    "parse_command",
    "pending_expired",
    "replay",
]
