"""The states the gateway stores, and the outcome groups every report counts deliveries in.

Each state is a ``StrEnum``: a member *is* the string stored in the database (``status``
columns are plain ``String(16)``), so SQL comparisons, existing rows and JSON are unchanged.

A delivery (one edition to one subscriber) walks
``pending → claimed → sending → submitted → delivered | undeliverable | expired | unknown``,
or ends ``rejected | failed | cancelled | skipped``; a submit in flight at a crash, or one
left unanswered, makes it ``uncertain`` until evidence reconciles it, it is sent again
(``pending``) or it is skipped (see ``gateway/dispatch/store.py``).

The outcome groups (:data:`DELIVERY_GROUPS`) are the one meaning of the figures that
``sdgw dispatch status``, the console (dashboard, edition page, ``/api/editions``, CSV),
``sdgw report`` and ``sdgw demo`` show:

- **pending**: not final yet, not known to have left: pending, claimed, sending, and
  uncertain (waiting for evidence its submit left). The dispatch is not done while any is
  left. ``sdgw dispatch status`` also shows the uncertain ones apart, as *waiting*.
- **submitted**: accepted by the carrier, waiting for the delivery receipt.
- **delivered**: the carrier's receipt says the subscriber's handset has it.
- **failed**: the subscriber did not get it, and the gateway will not try again: the receipt
  said undeliverable or expired (the handset stayed off until the carrier gave up), the
  carrier rejected the submit, or the gateway gave up (``failed``: the dispatch's deadline
  passed, or only some parts were accepted). The console also shows the expired ones apart.
- **other**: final, but neither delivered nor failed as far as anyone knows: cancelled (the
  subscriber unsubscribed during the dispatch), skipped (uncertain and, by
  ``dispatch.uncertain = "skip"``, not sent again: it may well have arrived), and unknown
  (submitted, but no receipt came in time).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class DeliveryStatus(StrEnum):
    """``deliveries.status`` (and ``delivery_parts.status``: submitted or a receipt's)."""

    PENDING = "pending"
    """Waiting to be claimed (also: claimed by a process that died, or due for a retry)."""
    CLAIMED = "claimed"
    SENDING = "sending"
    """Marked, in a committed transaction, just before its submit."""
    UNCERTAIN = "uncertain"
    """Its submit may have left (a crash while sending, or no response): needs evidence."""
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class MessageStatus(StrEnum):
    """``outbound_messages.status`` and ``outbound_segments.status`` (replies to MOs)."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"


class SubscriptionStatus(StrEnum):
    """``subscribers.status`` (and the events' old/new status); the state machine in
    ``gateway/subscriptions/machine.py`` moves a subscriber between them."""

    NONE = "none"
    PENDING = "pending"
    """Texted SD, not confirmed yet."""
    ACTIVE = "active"
    CANCELLED = "cancelled"


class MessageFormat(StrEnum):
    """``subscribers.message_format`` (and ``deliveries.message_format``): which edition a
    subscriber receives. Subscribers start with SMS and switch with ``CX`` / ``DX``."""

    SMS = "sms"
    """The SMS digest."""
    MMS = "mms"
    """The MMS edition (彩信版), announced by WAP Push (or submitted over MM7)."""


class DispatchStatus(StrEnum):
    """``dispatches.status``: preparing → running ⇄ paused → done."""

    PREPARING = "preparing"
    """Created; its delivery rows are not all materialised yet."""
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    """Nothing pending is left (receipts may still come)."""


class DeliveryGroup(StrEnum):
    """The outcome groups of the module's docstring, named as the reports' columns."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    FAILED = "failed"
    OTHER = "other"


_S = DeliveryStatus

DELIVERY_GROUPS: Mapping[DeliveryGroup, tuple[DeliveryStatus, ...]] = MappingProxyType({
    DeliveryGroup.PENDING: (_S.PENDING, _S.CLAIMED, _S.SENDING, _S.UNCERTAIN),
    DeliveryGroup.SUBMITTED: (_S.SUBMITTED,),
    DeliveryGroup.DELIVERED: (_S.DELIVERED,),
    DeliveryGroup.FAILED: (_S.UNDELIVERABLE, _S.EXPIRED, _S.REJECTED, _S.FAILED),
    DeliveryGroup.OTHER: (_S.CANCELLED, _S.SKIPPED, _S.UNKNOWN),
})
"""Every delivery status, in exactly one group."""

OPEN_STATUSES: tuple[DeliveryStatus, ...] = DELIVERY_GROUPS[DeliveryGroup.PENDING]
"""Not final yet: the dispatch is not done while any delivery is in one of these."""
WAITING_STATUSES: tuple[DeliveryStatus, ...] = (_S.UNCERTAIN,)
"""Open, but waiting for evidence its submit left (then reconciled, resent or skipped)."""
UNFINISHED_STATUSES: tuple[DeliveryStatus, ...] = (*OPEN_STATUSES, _S.SUBMITTED)
"""May still change: open, or waiting for the receipt. A dispatch with any is not final."""

_GROUP_OF: dict[str, DeliveryGroup] = {status: group for group, statuses in DELIVERY_GROUPS.items()
             for status in statuses}


def delivery_group(status: str) -> DeliveryGroup:
    """The group a stored delivery status counts in (a status this code does not know,
    say one written by a newer version, counts as other)."""
    return _GROUP_OF.get(status, DeliveryGroup.OTHER)


def group_counts(by_status: Mapping[str, int]) -> dict[DeliveryGroup, int]:
    """Deliveries per status (as a ``GROUP BY status`` gives them) → per group, every group
    present (zeros included)."""
    counts = dict.fromkeys(DeliveryGroup, 0)
    for status, count in by_status.items():
        counts[delivery_group(status)] += count
    return counts
