"""Dispatch leases (``gateway/dispatch/leases.py``) against a real database (SQLite, and
PostgreSQL when configured): who holds a node name, when a holder is dead, and what happens
to the rows of processes that no longer hold a lease. Also the node name's precedence."""

from __future__ import annotations

import dataclasses
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.app import node_name
from gateway.config import GatewayConfig, load_config
from gateway.db.dispatch_models import Delivery, DispatchLease
from gateway.db.engine import make_session_factory
from gateway.dispatch import leases, store
from gateway.dispatch.leases import LeasePolicy, LeaseRequest, NodeTaken
from tests.service.dispatch_fixtures import seed_edition, seed_subscribers

TTL = LeasePolicy(ttl=30.0)
HERE = "host-a"
THERE = "host-b"


def request(node: str = "node-1", *, host: str = HERE, pid: int = 4242,
            command: str = "dispatch") -> LeaseRequest:
    return LeaseRequest(node=node, host=host, pid=pid, command=command)


def lease_rows(session: Session) -> dict[str, tuple[str, str, int]]:
    """node → (claim, host, pid) of every lease."""
    return {row.node: (row.claim, row.host, row.pid)
            for row in session.scalars(select(DispatchLease))}


def never_alive(pid: int) -> bool:
    return False


def always_alive(pid: int) -> bool:
    return True


def test_acquire_on_an_empty_table(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        claim = leases.acquire(session, request(), now=1000.0, policy=TTL)
    assert claim.endswith(":node-1") and len(claim) <= 64
    with sessions() as session:
        row = session.scalar(select(DispatchLease))
        assert row is not None
        assert (row.node, row.claim, row.host, row.pid, row.command) == (
            "node-1", claim, HERE, 4242, "dispatch")
        assert row.started_at == row.heartbeat_at == 1000.0


def test_a_live_holder_on_another_host_is_refused_by_name(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        first = leases.acquire(session, request(host=THERE, pid=777, command="run"),
                               now=1000.0, policy=TTL)
    with sessions.begin() as session, pytest.raises(NodeTaken) as refused:
        # Another host: its pid cannot be checked, and its heartbeat (5 s ago) is fresh.
        leases.acquire(session, request(), now=1005.0, policy=TTL, alive=never_alive)
    message = str(refused.value)
    assert "'node-1'" in message
    assert "pid 777" in message and THERE in message and "`sdgw run`" in message
    assert "heartbeat 5s ago" in message
    with sessions() as session:
        assert lease_rows(session) == {"node-1": (first, THERE, 777)}


def test_a_live_pid_on_the_same_host_is_refused(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        leases.acquire(session, request(pid=100), now=1000.0, policy=TTL)
    with sessions.begin() as session, pytest.raises(NodeTaken, match="pid 100"):
        # Even with an old heartbeat: on our own host, a running pid is proof of life.
        leases.acquire(session, request(pid=200), now=5000.0, policy=TTL, alive=always_alive)


def test_a_dead_pid_on_the_same_host_is_taken_over_at_once(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        old = leases.acquire(session, request(pid=100), now=1000.0, policy=TTL)
    checked: list[int] = []

    def dead(pid: int) -> bool:
        checked.append(pid)
        return False

    with sessions.begin() as session:
        # One second later, heartbeat fresh: the pid being gone is enough.
        new = leases.acquire(session, request(pid=200), now=1001.0, policy=TTL, alive=dead)
    assert checked == [100]
    assert new != old
    with sessions() as session:
        assert lease_rows(session) == {"node-1": (new, HERE, 200)}


def test_another_hosts_lease_is_taken_over_after_ttl_without_heartbeat(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        old = leases.acquire(session, request(host=THERE, pid=100), now=1000.0, policy=TTL)
        assert leases.heartbeat(session, old, now=1020.0)
    with sessions.begin() as session, pytest.raises(NodeTaken):
        leases.acquire(session, request(), now=1049.0, policy=TTL)  # 29 s since the beat
    with sessions.begin() as session:
        new = leases.acquire(session, request(), now=1051.0, policy=TTL)  # 31 s: dead
    with sessions() as session:
        assert lease_rows(session) == {"node-1": (new, HERE, 4242)}


def test_exclusive_always_takes_over(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        leases.acquire(session, request(host=THERE, pid=100), now=1000.0, policy=TTL)
        leases.acquire(session, request("node-2", pid=101), now=1000.0, policy=TTL)
    exclusive = LeasePolicy(ttl=30.0, exclusive=True)
    with sessions.begin() as session:
        # A fresh heartbeat on another host, a live pid here: the file lock says otherwise.
        one = leases.acquire(session, request(), now=1001.0, policy=exclusive,
                             alive=always_alive)
        two = leases.acquire(session, request("node-2"), now=1001.0, policy=exclusive,
                             alive=always_alive)
    with sessions() as session:
        assert lease_rows(session) == {"node-1": (one, HERE, 4242), "node-2": (two, HERE, 4242)}


def test_our_own_pid_on_our_host_is_not_a_rival(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        old = leases.acquire(session, request(), now=1000.0, policy=TTL)
    with sessions.begin() as session:
        new = leases.acquire(session, request(), now=1001.0, policy=TTL, alive=always_alive)
    assert new != old


def test_heartbeat_renews_until_the_lease_is_reaped_by_another(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        mine = leases.acquire(session, request(host=THERE, pid=100), now=1000.0, policy=TTL)
        other = leases.acquire(session, request("node-2"), now=1000.0, policy=TTL)
    with sessions.begin() as session:
        assert leases.heartbeat(session, mine, now=1010.0) is True
    with sessions() as session:
        assert session.scalar(select(DispatchLease.heartbeat_at).where(
            DispatchLease.claim == mine)) == 1010.0
    with sessions.begin() as session:
        # We were silent (a long pause) and node-2 found us dead.
        assert leases.reap(session, own_claim=other, host=HERE, pid=4242, now=1100.0,
                           policy=TTL) == ["node-1"]
    with sessions.begin() as session:
        assert leases.heartbeat(session, mine, now=1101.0) is False
    with sessions() as session:
        assert set(lease_rows(session)) == {"node-2"}


def test_reap_returns_dead_nodes_only(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    now = 10_000.0
    rows = {
        "own": request("own", pid=1),
        "fresh-elsewhere": request("fresh-elsewhere", host=THERE, pid=2),
        "stale-elsewhere": request("stale-elsewhere", host=THERE, pid=3),
        "dead-pid-here": request("dead-pid-here", pid=4),
        "live-pid-here": request("live-pid-here", pid=5),
    }
    with sessions.begin() as session:
        claims = {name: leases.acquire(session, req, now=now - 5, policy=TTL)
                  for name, req in rows.items()}
        for name, claim in claims.items():
            if name != "stale-elsewhere":
                leases.heartbeat(session, claim, now=now - 1)
    with sessions.begin() as session:
        session.execute(DispatchLease.__table__.update()
                        .where(DispatchLease.claim == claims["stale-elsewhere"])
                        .values(heartbeat_at=now - 31))
    with sessions.begin() as session:
        dead = leases.reap(session, own_claim=claims["own"], host=HERE, pid=1, now=now,
                           policy=TTL, alive=lambda pid: pid != 4)
    assert sorted(dead) == ["dead-pid-here", "stale-elsewhere"]
    with sessions() as session:
        assert set(lease_rows(session)) == {"own", "fresh-elsewhere", "live-pid-here"}
    with sessions.begin() as session:  # nothing more to reap
        assert leases.reap(session, own_claim=claims["own"], host=HERE, pid=1, now=now,
                           policy=TTL, alive=lambda pid: pid != 4) == []


def test_release_drops_only_our_lease(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        mine = leases.acquire(session, request(), now=1.0, policy=TTL)
        leases.acquire(session, request("node-2"), now=1.0, policy=TTL)
    with sessions.begin() as session:
        leases.release(session, mine)
    with sessions() as session:
        assert set(lease_rows(session)) == {"node-2"}


def test_recover_orphans_leaves_live_claims_alone(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=2)
        seed_subscribers(session, 12)
        dispatch_id = store.create_dispatch(session, edition_id=edition_id,
                                            carrier="china_mobile", cutoff=now,
                                            deadline=now + timedelta(hours=1), now=now)
        store.materialise(session, dispatch_id)
        live = leases.acquire(session, request("alive", host=THERE), now=500.0, policy=TTL)
        # The live process: 3 claimed, 2 of them sending.
        mine = store.claim(session, dispatch_id=dispatch_id, node=live, limit=3, now=500.0)
        store.mark_sending(session, [c.id for c in mine[:2]], node=live, now=500.0)
        # A process whose lease is gone (reaped): 5 claimed, 3 of them sending.
        lost = store.claim(session, dispatch_id=dispatch_id, node="0123abcd:gone", limit=5,
                           now=400.0)
        store.mark_sending(session, [c.id for c in lost[:3]], node="0123abcd:gone",
                           now=400.0)
    with sessions.begin() as session:
        assert leases.recover_orphans(session, now=501.0) == {"released": 2, "uncertain": 3}
    with sessions() as session:
        rows = {row.id: row for row in session.scalars(select(Delivery))}
    assert {i: (rows[c.id].status, rows[c.id].claimed_by) for i, c in enumerate(mine)} == {
        0: ("sending", live), 1: ("sending", live), 2: ("claimed", live)}
    for c in lost[:3]:
        row = rows[c.id]
        assert (row.status, row.claimed_by, row.uncertain_at) == ("uncertain", None, 501.0)
        assert row.error and "died" in row.error
    for c in lost[3:]:
        assert (rows[c.id].status, rows[c.id].claimed_by) == ("pending", None)
    untouched = set(rows) - {c.id for c in mine + lost}
    assert {rows[i].status for i in untouched} == {"pending"} and len(untouched) == 4
    with sessions.begin() as session:  # a second pass finds nothing
        assert leases.recover_orphans(session, now=502.0) == {"released": 0, "uncertain": 0}
    with sessions.begin() as session:  # once the live one is gone, its rows follow
        leases.release(session, live)
    with sessions.begin() as session:
        assert leases.recover_orphans(session, now=503.0) == {"released": 1, "uncertain": 2}


# -- the node name --------------------------------------------------------------------------


def config_at(tmp_path: Path, name: str = "gw.toml", node: str | None = None) -> GatewayConfig:
    path = tmp_path / name
    dispatch = f'[dispatch]\nnode = "{node}"\n' if node is not None else ""
    path.write_text(f"""
[database]
url = "sqlite:///{tmp_path / 'gw.db'}"
[newspaper]
name = "测试手机报"
price = "3元/月"
signature = "测试手机报"
{dispatch}[carriers.china_mobile]
short_code = "10658000"
[carriers.china_mobile.link]
port = 2775
system_id = "gw"
password = "pw"
""", encoding="utf-8")
    return load_config(path)


def test_node_name_precedence(tmp_path: Path) -> None:
    configured = config_at(tmp_path, node="from-config")
    plain = config_at(tmp_path, "other.toml")
    assert node_name(configured, {"SDGW_NODE": "from-env"}) == "from-env"
    assert node_name(configured, {"SDGW_NODE": "x" * 80}) == "x" * 48
    assert node_name(configured, {}) == "from-config"
    assert node_name(configured, {"SDGW_NODE": ""}) == "from-config"  # empty = unset
    assert node_name(plain, {"SDGW_NODE": "from-env"}) == "from-env"
    default = node_name(plain, {}, "dispatch")
    host, command, digest = default.rsplit(":", 2)
    assert host == socket.gethostname()[:30] and command == "dispatch"
    assert len(digest) == 8 and int(digest, 16) >= 0
    # Stable for one config file (a restart takes over its own lease), distinct per command
    # and per config file.
    assert node_name(plain, {}, "dispatch") == default
    assert node_name(dataclasses.replace(plain), {}, "dispatch") == default
    assert node_name(plain, {}, "run") == f"{host}:run:{digest}"
    unset = dataclasses.replace(configured, dispatch=dataclasses.replace(configured.dispatch,
                                                                         node=""))
    assert node_name(unset, {}, "dispatch") != default  # gw.toml, not other.toml
    assert node_name(unset, {}, "dispatch").startswith(f"{host}:dispatch:")
