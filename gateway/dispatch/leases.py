"""Who is alive: one lease row per dispatching process, and recovery of the dead's claims.

A process that dispatches holds a lease (``dispatch_leases``): its configured node name
(unique among live processes), a claim name new for every process (what it writes into
``deliveries.claimed_by``), its host and pid, and a heartbeat it renews every few seconds.
A lease is dead when its heartbeat is older than the lease time, or at once when it names a
pid on this host that no longer runs (a process killed and started again takes over without
waiting), or always when the caller holds the database alone (SQLite's file lock).

Claimed and sending rows whose ``claimed_by`` names no live lease belong to nobody: claimed
rows go back to pending, sending rows become uncertain (their submit may have left). Every
live process does this on every heartbeat, so a dead process's work is taken up while the
others run, not only when one of them starts.

Functions take a session and never commit.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.db.dispatch_models import Delivery, DispatchLease
from gateway.dispatch.store import in_status
from gateway.errors import GatewayError
from gateway.states import DeliveryStatus

PidAlive = Callable[[int], bool]


class NodeTaken(GatewayError):
    """Another live process holds the node name this one asked for."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseRequest:
    node: str
    host: str
    pid: int
    command: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeasePolicy:
    ttl: float
    """Seconds without a heartbeat after which a lease is dead."""
    exclusive: bool = False
    """The caller holds the database alone (SQLite file lock): every other lease is dead."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (signal 0 checks, sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_dead(lease: DispatchLease, *, host: str, pid: int, now: float, policy: LeasePolicy,
            alive: PidAlive) -> bool:
    """Whether ``lease`` belongs to a process that no longer runs, seen from (host, pid)."""
    if policy.exclusive:
        return True
    if lease.host == host:
        # Our own pid: a gateway built again in this same process (tests), not a rival.
        return lease.pid == pid or not alive(lease.pid)
    return lease.heartbeat_at < now - policy.ttl


def acquire(session: Session, request: LeaseRequest, *, now: float, policy: LeasePolicy,
            alive: PidAlive = pid_alive) -> str:
    """Take the lease of ``request.node``; return this process's claim name.

    A dead holder's lease is replaced (its rows are recovered by :func:`recover_orphans`);
    a live one is refused with :class:`NodeTaken`, naming it.
    """
    held = session.scalar(select(DispatchLease).where(DispatchLease.node == request.node))
    if held is not None:
        if not is_dead(held, host=request.host, pid=request.pid, now=now, policy=policy,
                       alive=alive):
            age = max(now - held.heartbeat_at, 0.0)
            raise NodeTaken(
                f"dispatch node {request.node!r} is held by a live process (`sdgw "
                f"{held.command}`, pid {held.pid} on {held.host}, heartbeat {age:.0f}s ago): "
                "stop that process, or give this one another name (SDGW_NODE or "
                "dispatch.node); a dead holder's lease expires after "
                f"{policy.ttl:.0f}s")
        session.delete(held)
        session.flush()
    claim = f"{uuid.uuid4().hex[:12]}:{request.node}"[:64]
    try:
        with session.begin_nested():
            session.add(DispatchLease(node=request.node, claim=claim, host=request.host,
                                      pid=request.pid, command=request.command, started_at=now,
                                      heartbeat_at=now))
    except IntegrityError:
        raise NodeTaken(f"dispatch node {request.node!r} was taken by another process starting "
                        "at the same moment: give each process its own name (SDGW_NODE or "
                        "dispatch.node)") from None
    return claim


def heartbeat(session: Session, claim: str, *, now: float) -> bool:
    """Renew this process's lease; False when it is gone (another process declared us dead)."""
    result = session.execute(update(DispatchLease).where(DispatchLease.claim == claim)
                             .values(heartbeat_at=now))
    return bool(result.rowcount)


def reap(session: Session, *, own_claim: str, host: str, pid: int, now: float,
         policy: LeasePolicy, alive: PidAlive = pid_alive) -> list[str]:
    """Delete the leases of dead processes; return their node names."""
    dead = [lease for lease in session.scalars(
        select(DispatchLease).where(DispatchLease.claim != own_claim))
        if is_dead(lease, host=host, pid=pid, now=now, policy=policy, alive=alive)]
    for lease in dead:
        session.delete(lease)
    session.flush()
    return [lease.node for lease in dead]


def release(session: Session, claim: str) -> None:
    """A clean stop: this process's lease goes (its rows were given back first)."""
    session.execute(delete(DispatchLease).where(DispatchLease.claim == claim))


def recover_orphans(session: Session, *, now: float) -> dict[str, int]:
    """Rows claimed by no live lease: claimed → pending, sending → uncertain."""
    live = select(DispatchLease.claim).scalar_subquery()
    orphaned = Delivery.claimed_by.is_(None) | Delivery.claimed_by.not_in(live)
    back = session.execute(update(Delivery).where(in_status(DeliveryStatus.CLAIMED), orphaned)
                           .values(status=DeliveryStatus.PENDING, claimed_by=None)).rowcount or 0
    unsure = session.execute(
        update(Delivery).where(in_status(DeliveryStatus.SENDING), orphaned).values(
            status=DeliveryStatus.UNCERTAIN, uncertain_at=now, claimed_by=None,
            error="the sending process died: waiting for evidence of its submit",
        )).rowcount or 0
    return {"released": int(back), "uncertain": int(unsure)}
