"""Sending a frozen edition to every subscriber, per carrier, over that carrier's link.

One loop per carrier claims deliveries in batches, marks a small chunk ``sending``
(committed) just before handing it to the link, keeps at most ``max_ahead`` messages
between that mark and their stored result (never the whole base in memory; and what a
crash can leave uncertain: ``max_ahead`` plus the next marked chunk), and writes results
and receipts in batches from a thread pool.  Every part carries a reference chosen before
its submit (:func:`store.part_reference`), which the carrier's receipts echo.  Digest
traffic uses the link's bulk lane, so replies to subscribers' own MOs overtake it.  Quiet
hours, pauses and a stop hold the loop; rows it had claimed are given back meanwhile.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from carriers.messages import (
    DeliveryReceipt,
    Lane,
    MessagePart,
    OutboundMessage,
    SubmitResult,
    TextCoding,
)
from gateway.db.batch_writer import BatchWriter
from gateway.db.dispatch_models import Dispatch
from gateway.db.edition_models import EditionRender, EditionRenderSegment
from gateway.db.threads import DatabaseThreads
from gateway.db.times import as_utc
from gateway.dispatch import mm7_sender, mms_notifications, store
from gateway.dispatch.mms_notifications import MmsNotificationSettings
from gateway.dispatch.quiet_hours import QuietHours
from gateway.editions.build import freeze_edition
from gateway.log_format import fields
from gateway.message_log import SubmittedMessage, apply_reply_receipts, record_submitted
from gateway.states import DispatchStatus

log = logging.getLogger(__name__)


class Link(Protocol):
    def submit(self, message: OutboundMessage) -> defer.Deferred[list[SubmitResult]]: ...


class MmsSender(Protocol):
    """Where a carrier's MMS deliveries go instead of its link (MM7: ``mm7_sender.py``)."""

    async def prepare(self, edition_id: int) -> bool: ...

    def submit(self, edition_id: int, message: OutboundMessage
               ) -> defer.Deferred[list[SubmitResult]]: ...

    def abandon_queued(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchSettings:
    node: str
    """What this process's claims carry: its lease's claim name (see ``leases.py``)."""
    batch_size: int = 1000
    chunk: int = 64
    """Deliveries marked ``sending`` per transaction: what a crash can leave uncertain."""
    max_ahead: int = 512
    """Messages marked ``sending`` and handed to a link whose result is not stored yet."""
    max_ahead_by_carrier: Mapping[str, int] = field(default_factory=dict)
    """Per-carrier values of ``max_ahead`` (the link's window by default)."""
    flush_interval: float = 0.05
    flush_size: int = 1000
    retry_initial: float = 30.0
    retry_max: float = 600.0
    deadline: timedelta = timedelta(hours=12)
    flag_after: int = 3
    uncertain_wait: float = 300.0
    """Seconds an uncertain delivery waits for evidence before ``uncertain_policy``."""
    uncertain_policy: str = "resend"
    """resend: parts still without evidence go out again; skip: they are not resent."""
    quiet: Mapping[str, QuietHours] = field(default_factory=dict)
    mms: MmsNotificationSettings = field(default_factory=MmsNotificationSettings)
    """Each MMS delivery's own notification: content location base and expiry."""


def load_parts(session: Session, edition_id: int) -> dict[tuple[str, str], tuple[MessagePart, ...]]:
    """The stored bytes of an edition: (carrier, format) → the SMs every subscriber gets."""
    parts: dict[tuple[str, str], tuple[MessagePart, ...]] = {}
    renders = session.scalars(select(EditionRender).where(EditionRender.edition_id == edition_id))
    for render in renders:
        segments = session.scalars(select(EditionRenderSegment).where(
            EditionRenderSegment.render_id == render.id).order_by(EditionRenderSegment.number))
        parts[(render.carrier, render.format)] = tuple(
            MessagePart(payload=s.short_message, coding=TextCoding(s.coding), has_udh=s.udhi)
            for s in segments
        )
    return parts


def prepare_dispatches(
    session: Session, edition_id: int, carriers: list[str], *, cutoff: datetime,
    deadline: datetime, now: datetime,
) -> list[int]:
    """Freeze the edition and create (or find) its dispatch on each carrier; their delivery
    rows are made when a loop first runs them (``store.materialise``)."""
    freeze_edition(session, edition_id, now=now)
    return [store.create_dispatch(session, edition_id=edition_id, carrier=carrier,
                                  cutoff=cutoff, deadline=deadline, now=now)
            for carrier in carriers]


class DispatchRunner:
    """Runs dispatches of this process; several processes may run the same one."""

    def __init__(
        self, *, database: DatabaseThreads, links: Mapping[str, Link],
        settings: DispatchSettings, clock: IReactorTime,
        mms_senders: Mapping[str, MmsSender] | None = None,
    ) -> None:
        """``mms_senders``: carriers whose ``mms`` deliveries go to an MMSC (MM7) rather
        than over their link as WAP Push."""
        self._database = database
        self._links = links
        self._mms_senders = mms_senders if mms_senders is not None else {}
        self.settings = settings
        self._clock = clock
        self._paused: set[int] = set()
        self._stopping = False
        self._sleepers: set[defer.Deferred[None]] = set()
        self._running: dict[int, defer.Deferred[Any]] = {}
        # One ordered queue for submit results and receipts: a part's result is written before
        # (or with) its receipt, so a fast SMSC's receipts find their parts at once. Submit
        # results go in without a Deferred each: their credits come back a batch at a time.
        self._writes = BatchWriter(database, clock, self._write_batch,
                                   interval=settings.flush_interval, size=settings.flush_size,
                                   on_written=_give_back_credits)

    # -- public ------------------------------------------------------------------------

    def store_receipt(self, receipt: DeliveryReceipt) -> defer.Deferred[None]:
        """Store a receipt (with the results queued before it); fires once committed."""
        return self._writes.add(receipt)

    def store_submitted(self, submitted: SubmittedMessage) -> defer.Deferred[None]:
        """Store a reply's submit results in the same ordered queue as the digest's, so the
        receipts that follow find its segments; fires once committed."""
        return self._writes.add(submitted)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def stop(self) -> defer.Deferred[None]:
        """Stop claiming: every loop gives back what it claimed or marked but did not submit,
        waits for what the links have in flight to be answered and stored, and ends. Fires
        when they all have (the caller bounds the wait)."""
        self._stopping = True
        for sleeper in list(self._sleepers):
            if not sleeper.called:
                sleeper.callback(None)
        for link in self._links.values():
            # Digest submits queued in a link but not written are taken back (NOT_SENT, so
            # pending again); only what is really in flight is waited for.
            abandon = getattr(link, "abandon_queued", None)
            if abandon is not None:
                abandon()
        for sender in self._mms_senders.values():
            sender.abandon_queued()
        running = list(self._running.values())
        done = defer.DeferredList(running, consumeErrors=True) if running else defer.succeed(None)
        return done.addCallback(lambda _: None)

    async def dispatch(self, edition_id: int, *, cutoff: datetime | None = None) -> list[int]:
        """Start (or resume) sending ``edition_id`` on every carrier that has a link."""
        now = self.now()
        dispatch_ids = await self._database.transaction(
            lambda session: prepare_dispatches(
                session, edition_id, list(self._links), cutoff=cutoff or now,
                deadline=now + self.settings.deadline, now=now))
        for dispatch_id in dispatch_ids:
            total = await self._database.transaction(
                lambda session, d=dispatch_id: store.materialise(session, d, now=now))
            log.info("dispatch #%d of edition #%d: %d deliveries", dispatch_id, edition_id,
                     total, extra=fields("dispatch_prepared", dispatch_id=dispatch_id,
                                         edition_id=edition_id, total=total))
        await defer.gatherResults([self.run(d) for d in dispatch_ids], consumeErrors=True)
        return dispatch_ids

    def run(self, dispatch_id: int) -> defer.Deferred[Any]:
        """Run one dispatch's loop in this process (once at a time per dispatch)."""
        if self._stopping:
            return defer.succeed(None)
        if dispatch_id not in self._running:
            running = defer.ensureDeferred(self._run(dispatch_id))

            def forget(result: object) -> object:
                self._running.pop(dispatch_id, None)
                return result

            self._running[dispatch_id] = running.addBoth(forget)
        return self._running[dispatch_id]

    def resume_all(self) -> defer.Deferred[list[int]]:
        """Run every open dispatch of a carrier this process has a link for and no loop here
        runs yet: those left by a restart or a dead process, or handed over by ``sdgw
        dispatch`` (created ``preparing``)."""

        def open_dispatches(session: Session) -> list[int]:
            return list(session.scalars(select(Dispatch.id).where(
                Dispatch.status.in_((DispatchStatus.PREPARING, DispatchStatus.RUNNING)),
                Dispatch.carrier.in_(list(self._links)))))

        def start(ids: list[int]) -> list[int]:
            started = [d for d in ids if d not in self._running and not self._stopping]
            for dispatch_id in started:
                log.info("resuming dispatch #%d", dispatch_id)
                self.run(dispatch_id).addErrback(lambda f, d=dispatch_id: log.error(
                    "dispatch #%d failed: %s", d, f.getErrorMessage()))
            return started

        return self._database.transaction(open_dispatches).addCallback(start)

    def set_paused(self, dispatch_id: int, paused: bool) -> defer.Deferred[None]:
        """Pause or resume a dispatch. Resuming one that no loop here is running (it was
        paused before a restart) starts its loop, if this process has its carrier's link."""

        def write(session: Session) -> str | None:
            dispatch = session.get(Dispatch, dispatch_id)
            if dispatch is not None and dispatch.status in (DispatchStatus.RUNNING,
                                                            DispatchStatus.PAUSED):
                dispatch.status = DispatchStatus.PAUSED if paused else DispatchStatus.RUNNING
                return dispatch.carrier
            return None

        def resume(carrier: str | None) -> None:
            if paused or carrier not in self._links or dispatch_id in self._running:
                return
            log.info("resuming dispatch #%d", dispatch_id)
            self.run(dispatch_id).addErrback(
                lambda f: log.error("dispatch #%d failed: %s", dispatch_id, f.getErrorMessage()))

        (self._paused.add if paused else self._paused.discard)(dispatch_id)
        return self._database.transaction(write).addCallback(resume)

    # -- the loop ----------------------------------------------------------------------

    async def _run(self, dispatch_id: int) -> None:
        settings = self.settings

        def load(session: Session) -> tuple[Dispatch, dict[tuple[str, str], Any],
                                            mms_notifications.Announcer | None]:
            dispatch = session.get(Dispatch, dispatch_id)
            assert dispatch is not None
            store.materialise(session, dispatch_id, now=self.now())
            # A carrier whose MMS goes to its MMSC (MM7) sends no WAP Push notifications.
            announcer = None if dispatch.carrier in self._mms_senders else (
                mms_notifications.load_announcer(
                    session, dispatch_id=dispatch_id, edition_id=dispatch.edition_id,
                    carrier=dispatch.carrier, settings=settings.mms, now=self.now()))
            return dispatch, load_parts(session, dispatch.edition_id), announcer

        dispatch, parts, announcer = await self._database.transaction(load)
        carrier = dispatch.carrier
        mms_sender = self._mms_senders.get(carrier)
        if mms_sender is not None and await mms_sender.prepare(dispatch.edition_id):
            parts[(carrier, "mms")] = mm7_sender.MM7_PART  # one submit: the whole MMS
        elif mms_sender is not None:
            # No MMS to submit (logged): its MMS subscribers get the SMS digest rather than
            # the stored notification, which is only a specimen of a subscriber's own.
            parts.pop((carrier, "mms"), None)
            mms_sender = None
        formats = {fmt for (c, fmt) in parts if c == carrier} | {"sms", "mms"}
        parts_total = {fmt: len(parts.get((carrier, fmt)) or parts.get((carrier, "sms")) or ())
                       for fmt in formats}
        # MMS deliveries each send their own notification (all of one length), made as they
        # are marked "sending": delivery id → its parts, until submitted.
        own_parts: dict[int, tuple[MessagePart, ...]] = {}
        if announcer is not None:
            parts_total["mms"] = announcer.parts_count
        link = self._links[carrier]
        deadline = as_utc(dispatch.deadline_at).timestamp()
        quiet = settings.quiet.get(carrier)
        credits = _Credits(settings.max_ahead_by_carrier.get(carrier, settings.max_ahead),
                           self._clock)
        # A run of messages handed over in one go is written to the connection once.
        coalesced: Callable[[], AbstractContextManager[object]] = getattr(
            link, "coalesced", nullcontext)
        results = self._writes
        claimed: deque[store.Claimed] = deque()
        # Chunks whose "sending" mark is being committed: marking the next chunks while this
        # one goes out keeps the link fed (the marks wait in the same database queue as the
        # result and receipt batches).
        marked: deque[tuple[list[store.Claimed], defer.Deferred[set[int]]]] = deque()
        claiming: defer.Deferred[list[store.Claimed]] | None = None
        exhausted = False
        started = self._clock.seconds()
        sent = 0

        def start_claim() -> defer.Deferred[list[store.Claimed]]:
            return self._database.transaction(
                lambda session: store.claim(session, dispatch_id=dispatch_id,
                                            node=settings.node, limit=settings.batch_size,
                                            now=self._clock.seconds()))

        def start_mark() -> None:
            chunk = [claimed.popleft() for _ in range(min(settings.chunk, len(claimed)))]
            ids = [c.id for c in chunk]
            mms_ids = {c.id for c in chunk if c.message_format == "mms"} if announcer else set()

            def mark(session: Session) -> tuple[set[int], dict[int, tuple[MessagePart, ...]]]:
                sending = store.mark_sending(session, ids, node=settings.node,
                                             now=self._clock.seconds(), parts_total=parts_total)
                if announcer is None or not mms_ids & sending:
                    return sending, {}
                return sending, mms_notifications.prepare(
                    session, announcer, sorted(mms_ids & sending), now=self.now())

            def keep(marking: tuple[set[int], dict[int, tuple[MessagePart, ...]]]) -> set[int]:
                own_parts.update(marking[1])
                return marking[0]

            marked.append((chunk, self._database.transaction(mark).addCallback(keep)))

        async def give_back() -> None:
            """Return what is claimed or marked but not submitted (pause, quiet hours)."""
            nonlocal claiming
            if claiming is not None:
                claimed.extend(await claiming)
                claiming = None
            unsent: list[int] = []
            while marked:
                chunk, marking = marked.popleft()
                ok = await marking
                unsent.extend(c.id for c in chunk if c.id in ok)
            ids = [c.id for c in claimed]
            claimed.clear()
            own_parts.clear()
            await self._database.transaction(lambda session: (
                store.unmark_sending(session, unsent, node=settings.node),
                store.release(session, ids, node=settings.node)))

        def stored(outcome: list[SubmitResult], row: store.Claimed, numbers: tuple[int, ...]
                   ) -> None:
            # The credit is held until the result is stored (see _give_back_credits), so
            # what is "sending" in the database is at most max_ahead plus the marked chunk.
            # A batch that cannot be written is logged by the writer; its rows stay
            # "sending" and are settled as uncertain when the dispatch drains.
            results.add_nowait(_Outcome(carrier, deadline, store.SendResult(
                row.id, tuple(outcome), row.attempts, numbers), credits))

        def lost(failure: Failure) -> None:
            log.error("dispatch: a submit result was lost: %s", failure.getErrorMessage())
            credits.give_back()

        part_reference = store.part_reference

        def submit_run(rows: list[store.Claimed], position: int) -> tuple[int, bool]:
            """Submit ``rows`` from ``position`` on while credits last; return where it
            stopped and whether a hold (stop, pause, quiet hours) stopped it."""
            nonlocal sent
            while position < len(rows) and credits.free:
                row = rows[position]
                message_parts = own_parts.pop(row.id, None) or parts.get(
                    (carrier, row.message_format)) or parts.get((carrier, "sms")) or ()
                numbers = row.part_numbers(len(message_parts))
                if not numbers:
                    results.add_nowait(_Outcome(carrier, deadline,
                                                store.SendResult(row.id, (), row.attempts)))
                    position += 1
                    continue
                if self._hold(dispatch_id, quiet) is not None:
                    return position, True
                references = tuple([part_reference(row.id, n) for n in numbers])
                outbound = OutboundMessage(
                    source=row.source_addr, destination=row.msisdn,
                    parts=tuple(message_parts) if len(numbers) == len(message_parts)
                    else tuple(message_parts[n - 1] for n in numbers), lane=Lane.BULK,
                    references=None if None in references else references)  # type: ignore[arg-type]
                credits.take()
                submitted = (mms_sender.submit(dispatch.edition_id, outbound)
                             if mms_sender is not None and row.message_format == "mms"
                             else link.submit(outbound))
                submitted.addCallback(stored, row, numbers).addErrback(lost)
                sent += 1
                position += 1
            return position, False

        log.info("dispatch #%d of edition #%d (%s): sending, %d deliveries", dispatch_id,
                 dispatch.edition_id, carrier, dispatch.total,
                 extra=fields("dispatch_start", carrier=carrier, dispatch_id=dispatch_id,
                              edition_id=dispatch.edition_id, total=dispatch.total,
                              node=settings.node))
        while True:
            hold = self._hold(dispatch_id, quiet)
            if hold is not None:
                await give_back()
                exhausted = False
                await self._wait_for_everything(credits, results)
                if self._stopping:
                    log.info("dispatch #%d of edition #%d (%s): stopping; %d sent by this "
                             "process in %.1fs", dispatch_id, dispatch.edition_id, carrier,
                             sent, self._clock.seconds() - started,
                             extra=fields("dispatch_stop", carrier=carrier,
                                          dispatch_id=dispatch_id,
                                          edition_id=dispatch.edition_id, sent=sent,
                                          elapsed=round(self._clock.seconds() - started, 3)))
                    return
                log.info("dispatch #%d (%s): %s; holding", dispatch_id, carrier, hold[0])
                wait = max(hold[1] - self._clock.seconds(), 0.0)
                await self._sleep(wait)
                if await self._finished(dispatch_id):
                    break
                continue
            if claiming is None and not exhausted and len(claimed) < 2 * settings.chunk:
                claiming = start_claim()
            if claiming is not None and (not claimed or claiming.called):
                batch = await claiming
                claiming = None
                claimed.extend(batch)
                exhausted = not batch
            while claimed and len(marked) < _MARKS_AHEAD:
                start_mark()
            if not marked:
                # Nothing claimable right now: wait for what is out, then see what is left.
                await self._wait_for_everything(credits, results)
                orphans = await self._database.transaction(
                    lambda session: store.settle_orphans(session, dispatch_id,
                                                         node=settings.node,
                                                         now=self._clock.seconds()))
                if orphans:
                    log.error("dispatch #%d (%s): %d result(s) could not be recorded; "
                              "marked uncertain", dispatch_id, carrier, orphans)
                await self._resolve_uncertain(dispatch_id, carrier)
                open_count, next_retry = await self._database.transaction(
                    lambda session: store.remaining(session, dispatch_id,
                                                    uncertain_wait=settings.uncertain_wait))
                if open_count == 0:
                    break
                delay = 1.0
                if next_retry is not None:
                    delay = min(max(next_retry - self._clock.seconds(), 0.05), 5.0)
                await self._sleep(delay)
                exhausted = False
                continue
            chunk, marking = marked.popleft()
            sending = await marking
            # Those cancelled (unsubscribed) since they were claimed are left out.
            rows = [row for row in chunk if row.id in sending]
            position = 0
            while position < len(rows):
                if not credits.free:
                    await credits.wait(min(len(rows) - position, credits.limit), partial=True)
                with coalesced():
                    position, held = submit_run(rows, position)
                if held:
                    # A stop, a pause or quiet hours came mid-chunk (perhaps while this
                    # waited for credits): the rest of the chunk was never submitted.
                    await self._database.transaction(
                        lambda session, ids=[r.id for r in rows[position:]]:
                        store.unmark_sending(session, ids, node=settings.node))
                    break
        await self._wait_for_everything(credits, results)
        elapsed = self._clock.seconds() - started

        def finish(session: Session) -> None:
            row = session.get(Dispatch, dispatch_id)
            if row is not None and row.status != DispatchStatus.DONE:
                row.status = DispatchStatus.DONE
                row.finished_at = self.now()

        await self._database.transaction(finish)
        log.info("dispatch #%d of edition #%d (%s): done; %d sent by this process in %.1fs",
                 dispatch_id, dispatch.edition_id, carrier, sent, elapsed,
                 extra=fields("dispatch_finish", carrier=carrier, dispatch_id=dispatch_id,
                              edition_id=dispatch.edition_id, sent=sent,
                              elapsed=round(elapsed, 3)))

    def _sleep(self, seconds: float) -> defer.Deferred[None]:
        """Wait ``seconds`` on the clock, or until :meth:`stop` (quiet hours can be long)."""
        sleeper = defer.Deferred[None]()
        timer = self._clock.callLater(seconds, lambda: None if sleeper.called
                                      else sleeper.callback(None))
        self._sleepers.add(sleeper)

        def done(result: object) -> object:
            self._sleepers.discard(sleeper)
            if timer.active():
                timer.cancel()
            return result

        return sleeper.addBoth(done)

    def _hold(self, dispatch_id: int, quiet: QuietHours | None) -> tuple[str, float] | None:
        """Why to wait before sending more and until when (epoch seconds), or None to go on."""
        now = self._clock.seconds()
        if self._stopping:
            return "stopping", now
        if dispatch_id in self._paused:
            return "paused", now + 1.0
        if quiet is not None:
            current = self.now()
            if quiet.is_quiet(current):
                return "quiet hours", quiet.ends_after(current).timestamp()
        return None

    async def _finished(self, dispatch_id: int) -> bool:
        open_count, _ = await self._database.transaction(
            lambda session: store.remaining(session, dispatch_id))
        return open_count == 0

    async def _resolve_uncertain(self, dispatch_id: int, carrier: str) -> None:
        """Apply stored evidence to this dispatch's uncertain deliveries, then resend or skip
        those whose wait for evidence is over."""
        settings = self.settings

        def resolve(session: Session) -> tuple[int, dict[str, int]]:
            matched = store.reconcile_stored(session, dispatch_id,
                                             flag_after=settings.flag_after, now=self.now())
            done = store.resolve_uncertain(
                session, dispatch_id, policy=settings.uncertain_policy, now=self.now(),
                before=self._clock.seconds() - settings.uncertain_wait)
            return matched, done

        matched, done = await self._database.transaction(resolve)
        if matched:
            log.info("dispatch #%d (%s): %d stored receipt(s) reconciled uncertain parts",
                     dispatch_id, carrier, matched)
        for what, count in done.items():
            log.warning("dispatch #%d (%s): %d uncertain delivery(ies) without evidence after "
                        "%.0fs: %s", dispatch_id, carrier, count, settings.uncertain_wait, what)

    async def _wait_for_everything(self, credits: _Credits, results: BatchWriter) -> None:
        """Until every message handed to the link is answered and its result written."""
        await credits.wait(credits.limit, partial=False)
        await results.flush()

    # -- batched writes (thread pool) --------------------------------------------------------

    def _write_batch(
        self, session: Session, items: list[_Outcome | SubmittedMessage | DeliveryReceipt]
    ) -> None:
        """Submit results (digest parts per carrier and deadline, then replies) first, then
        the receipts: those for parts submitted in this batch are applied as the parts are
        stored."""
        receipts = {(item.carrier, item.message_id): item for item in items
                    if isinstance(item, DeliveryReceipt)}
        results: dict[tuple[str, float], list[store.SendResult]] = {}
        for item in items:
            if isinstance(item, _Outcome):
                results.setdefault((item.carrier, item.deadline), []).append(item.result)
        for (carrier, deadline), outcomes in results.items():
            self._write_results(session, outcomes, carrier, deadline, receipts)
        replies = [item for item in items if isinstance(item, SubmittedMessage)]
        if replies:
            record_submitted(session, replies, self.now(), receipts)
        if receipts:
            self._write_receipts(session, list(receipts.values()))

    def _write_results(
        self, session: Session, items: list[store.SendResult], carrier: str, deadline: float,
        receipts: dict[tuple[str, str], DeliveryReceipt],
    ) -> None:
        attempts = max((item.attempts for item in items), default=0)
        delay = min(self.settings.retry_initial * (2 ** attempts), self.settings.retry_max)
        if self._stopping:
            delay = 0.0  # taken back at a stop, not refused: the next process sends them
        store.record_results(session, items, carrier=carrier, now=self.now(),
                             retry_at=self._clock.seconds() + delay, deadline=deadline,
                             flag_after=self.settings.flag_after, receipts=receipts)
        message_ids = [r.message_id for item in items for r in item.results if r.message_id]
        early = store.take_unmatched(session, carrier, message_ids)
        if early:
            store.apply_receipts(session, early, flag_after=self.settings.flag_after,
                                 now=self.now())

    def _write_receipts(self, session: Session, receipts: list[DeliveryReceipt]) -> None:
        """Receipts for digest parts by message id, then for replies, then as evidence for
        uncertain parts; what matches nothing is kept (and purged after a while)."""
        flag_after = self.settings.flag_after
        leftover = store.apply_receipts(session, receipts, flag_after=flag_after, now=self.now())
        leftover = apply_reply_receipts(session, leftover)
        leftover = store.reconcile(session, leftover, flag_after=flag_after, now=self.now())
        # An intermediate receipt (ENROUTE, ACCEPTED) is kept only as evidence of a part.
        store.keep_unmatched(session, [r for r in leftover if r.state in store.PART_FINAL
                                       or r.reference is not None])


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A submit's result on its way to the database."""

    carrier: str
    deadline: float
    result: store.SendResult
    credits: _Credits | None = None
    """The loop's credits, one of which the submit holds until this is written."""


def _give_back_credits(items: list[Any], failure: Failure | None) -> None:
    """A batch of the runner's writes was committed (or could not be): the submits whose
    results it held give their credits back, a loop's all at once."""
    returned: dict[_Credits, int] = {}
    for item in items:
        if isinstance(item, _Outcome) and item.credits is not None:
            returned[item.credits] = returned.get(item.credits, 0) + 1
    if failure is not None and returned:
        log.error("dispatch: %d submit result(s) lost: %s", sum(returned.values()),
                  failure.getErrorMessage())
    for credits, count in returned.items():
        credits.give_back(count)


_MARKS_AHEAD = 1
"""Chunks marked "sending" ahead of the one being submitted (what a crash leaves uncertain
is at most this many chunks plus ``max_ahead``)."""


class _Credits:
    """How many more messages a loop may hand to its link: at most ``limit`` between their
    submit and their stored result.

    Credits come back as results are stored, a committed batch's all at once. A loop waiting
    with ``partial`` is woken once, in the reactor turn after the first credit came back,
    with all that came back by then, rather than once per credit: it submits a run of
    messages in one go. A wait fires at once when all it asked for is free."""

    __slots__ = ("_clock", "_partial", "_waiter", "_wake", "_wanted", "free", "limit")

    def __init__(self, limit: int, clock: IReactorTime) -> None:
        if limit < 1:
            raise ValueError("max_ahead must be at least 1")
        self.limit = limit
        self.free = limit
        self._clock = clock
        self._waiter: defer.Deferred[None] | None = None
        self._wanted = 0
        self._partial = False
        self._wake: Any = None

    def take(self) -> None:
        self.free -= 1

    def give_back(self, count: int = 1) -> None:
        self.free += count
        if self._waiter is None:
            return
        if self.free >= self._wanted:
            self._fire()
        elif self._partial and self._wake is None:
            self._wake = self._clock.callLater(0, self._fire)

    def wait(self, wanted: int, *, partial: bool) -> defer.Deferred[None]:
        """Fires once ``wanted`` credits are free, or (``partial``) soon after one is."""
        if self._waiter is not None:
            raise RuntimeError("credits are awaited already")
        waiter = defer.Deferred[None]()
        self._waiter, self._wanted, self._partial = waiter, wanted, partial
        if self.free >= wanted:
            self._fire()
        elif partial and self.free and self._wake is None:
            self._wake = self._clock.callLater(0, self._fire)
        return waiter

    def _fire(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None and wake.active():
            wake.cancel()
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.callback(None)
