"""Operator accounts, logins, throttling, sessions and the audit log on a real database."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.config import ConsoleConfig
from gateway.console.auth import (
    AuthSettings,
    LoginOutcome,
    OperatorError,
    add_operator,
    auth_settings,
    check_csrf,
    check_login_csrf,
    disable_operator,
    find_session,
    issue_login_token,
    list_operators,
    login,
    login_token_valid,
    logout,
    purge_expired,
    record_audit,
    set_password,
)
from gateway.console.passwords import hash_password, make_hasher, needs_rehash, verify_password
from gateway.db.console_models import AuditEntry, LoginAttempt, Operator, OperatorSession
from gateway.db.engine import make_session_factory

HASHER = make_hasher(time_cost=1, memory_cost=8)
T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
SETTINGS = AuthSettings(session_lifetime=timedelta(hours=8), idle_timeout=timedelta(minutes=30),
                        max_failures=3, lockout=timedelta(minutes=15))
PASSWORD = "correct horse"


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_session_factory(engine).begin() as session:
        yield session


@pytest.fixture
def alice(session: Session) -> Operator:
    return add_operator(session, "alice", "admin", PASSWORD, T0, hasher=HASHER)


def _login(session: Session, name: str = "alice", password: str = PASSWORD, *,
           ip: str = "10.0.0.1", now: datetime = T0) -> LoginOutcome:
    return login(session, name=name, password=password, ip=ip, now=now, settings=SETTINGS,
                 hasher=HASHER)


def _audit(session: Session) -> list[tuple[str, str, str]]:
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [(row.action, row.operator, row.reason) for row in rows]


# -- settings and accounts -----------------------------------------------------------------------


def test_settings_come_from_the_console_config() -> None:
    config = ConsoleConfig(session_hours=2, idle_minutes=10, login_max_failures=4,
                           login_lockout_minutes=5)
    assert auth_settings(config) == AuthSettings(
        session_lifetime=timedelta(hours=2), idle_timeout=timedelta(minutes=10),
        max_failures=4, lockout=timedelta(minutes=5))


def test_add_operator_stores_an_argon2id_hash_only(session: Session, alice: Operator) -> None:
    assert alice.password_hash.startswith("$argon2id$")
    assert PASSWORD not in alice.password_hash
    assert verify_password(alice.password_hash, PASSWORD, HASHER)
    assert [(o.name, o.role, o.disabled_at) for o in list_operators(session)] == [
        ("alice", "admin", None)]
    assert _audit(session) == [("operator_add", "cli", "admin")]


def test_adding_an_existing_name_fails(session: Session, alice: Operator) -> None:
    with pytest.raises(OperatorError, match=r"^operator 'alice' already exists$"):
        add_operator(session, "alice", "viewer", "another password", T0, hasher=HASHER)


@pytest.mark.parametrize("name", ["", "a b", "bob!", "名字", "x" * 65, "alice\n"])
def test_bad_names_are_refused(session: Session, name: str) -> None:
    with pytest.raises(OperatorError, match="operator name"):
        add_operator(session, name, "viewer", PASSWORD, T0, hasher=HASHER)


def test_a_name_may_be_64_characters_of_the_allowed_set(session: Session) -> None:
    name = "A-z_0.9" + "x" * 57
    add_operator(session, name, "viewer", PASSWORD, T0, hasher=HASHER)
    assert [o.name for o in list_operators(session)] == [name]


def test_bad_role_is_refused(session: Session) -> None:
    with pytest.raises(OperatorError, match="role 'root': expected one of viewer, admin"):
        add_operator(session, "bob", "root", PASSWORD, T0, hasher=HASHER)


@pytest.mark.parametrize("password", ["", "short", "1234567", " " * 12, "\t \n    "])
def test_short_or_blank_passwords_are_refused(session: Session, password: str) -> None:
    with pytest.raises(OperatorError, match="at least 8 characters"):
        add_operator(session, "bob", "viewer", password, T0, hasher=HASHER)
    assert list_operators(session) == []


def test_set_password_replaces_the_hash_and_ends_sessions(
    session: Session, alice: Operator
) -> None:
    token = _login(session).token
    set_password(session, "alice", "a new password", T0, hasher=HASHER)
    assert find_session(session, token, now=T0, settings=SETTINGS) is None
    assert not _login(session).ok
    assert _login(session, password="a new password").ok
    with pytest.raises(OperatorError, match="no operator named 'bob'"):
        set_password(session, "bob", "a new password", T0, hasher=HASHER)
    with pytest.raises(OperatorError, match="at least 8"):
        set_password(session, "alice", "short", T0, hasher=HASHER)


# -- logins ----------------------------------------------------------------------------------------


def test_login_opens_a_session_storing_only_the_token_hash(
    session: Session, alice: Operator
) -> None:
    outcome = _login(session)
    assert outcome.ok and outcome.reason == "" and outcome.retry_after is None
    assert outcome.token and outcome.csrf_token
    assert outcome.operator is not None
    assert (outcome.operator.name, outcome.operator.is_admin) == ("alice", True)
    stored = session.scalars(select(OperatorSession)).one()
    assert stored.token_hash == hashlib.sha256(outcome.token.encode()).hexdigest()
    assert stored.token_hash != outcome.token
    assert stored.csrf_token == outcome.csrf_token
    assert stored.ip == "10.0.0.1"
    attempt = session.scalars(select(LoginAttempt)).one()
    assert (attempt.name, attempt.ip, attempt.succeeded) == ("alice", "10.0.0.1", True)
    assert _audit(session)[-1] == ("login", "alice", "")


def test_each_login_gets_its_own_random_tokens(session: Session, alice: Operator) -> None:
    first, second = _login(session), _login(session)
    assert first.token != second.token and first.csrf_token != second.csrf_token


def test_viewer_is_not_admin(session: Session) -> None:
    add_operator(session, "vera", "viewer", PASSWORD, T0, hasher=HASHER)
    outcome = _login(session, "vera")
    assert outcome.operator is not None and not outcome.operator.is_admin


@pytest.mark.parametrize(("name", "password", "why"), [
    ("alice", "wrong password", "wrong password"),
    ("mallory", PASSWORD, "unknown operator"),
    ("Alice", PASSWORD, "unknown operator"),
    ("a" * 100, PASSWORD, "unknown operator"),
])
def test_failed_logins_all_say_invalid(
    session: Session, alice: Operator, name: str, password: str, why: str
) -> None:
    outcome = _login(session, name, password)
    assert outcome == LoginOutcome(ok=False, reason="invalid")
    assert session.scalar(select(func.count()).select_from(OperatorSession)) == 0
    attempt = session.scalars(select(LoginAttempt)).one()
    assert (attempt.name, attempt.succeeded) == (name[:64], False)
    assert _audit(session)[-1] == ("login_failed", name[:64], why)


def test_disabled_operator_cannot_log_in_and_loses_sessions(
    session: Session, alice: Operator
) -> None:
    token = _login(session).token
    assert find_session(session, token, now=T0, settings=SETTINGS) is not None
    disable_operator(session, "alice", T0 + timedelta(minutes=1))
    assert find_session(session, token, now=T0 + timedelta(minutes=2), settings=SETTINGS) is None
    assert _login(session, now=T0 + timedelta(minutes=3)).reason == "invalid"
    assert _audit(session)[-1] == ("login_failed", "alice", "operator disabled")
    disable_operator(session, "alice", T0 + timedelta(minutes=4))  # again: no change
    assert list_operators(session)[0].disabled_at is not None
    with pytest.raises(OperatorError, match="no operator named 'bob'"):
        disable_operator(session, "bob", T0)


def test_login_rehashes_a_hash_made_with_other_parameters(
    session: Session, alice: Operator
) -> None:
    stronger = make_hasher(time_cost=2, memory_cost=16)
    assert needs_rehash(alice.password_hash, stronger)
    assert login(session, name="alice", password=PASSWORD, ip="10.0.0.1", now=T0,
                 settings=SETTINGS, hasher=stronger).ok
    assert not needs_rehash(alice.password_hash, stronger)
    assert verify_password(alice.password_hash, PASSWORD, stronger)


# -- throttling ------------------------------------------------------------------------------------


def test_failures_for_a_name_from_an_address_lock_that_pair_only(
    session: Session, alice: Operator
) -> None:
    ip = "203.0.113.66"
    for second in range(3):
        assert _login(session, password="nope nope", ip=ip,
                      now=T0 + timedelta(seconds=second)).reason == "invalid"
    # The right password from the attacker's address is refused without being checked…
    locked = _login(session, ip=ip, now=T0 + timedelta(minutes=5))
    assert (locked.ok, locked.reason, locked.token) == (False, "locked", None)
    # …until the oldest of the three failures (at 0 s) is 15 minutes old; refused attempts
    # are audited but do not count, so trying again does not extend the lock.
    assert locked.retry_after == timedelta(minutes=10)
    assert _audit(session)[-1] == ("login_failed", "alice", "locked")
    assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 3
    # The real alice, from her own address, is not affected at all.
    assert _login(session, ip="10.0.0.1", now=T0 + timedelta(seconds=3)).ok
    assert _login(session, ip=ip, now=T0 + timedelta(minutes=15, seconds=1)).ok


def test_an_address_over_its_budget_is_slowed_with_growing_delays(
    session: Session, alice: Operator
) -> None:
    ip = "192.0.2.7"
    for second, name in enumerate(("x", "y", "z")):
        assert _login(session, name, "guess guess", ip=ip,
                      now=T0 + timedelta(seconds=second)).reason == "invalid"
    # Three failures (the budget): the next attempt waits 2 s after the latest, at 2 s.
    slowed = _login(session, ip=ip, now=T0 + timedelta(seconds=3))
    assert (slowed.ok, slowed.reason, slowed.retry_after) == (
        False, "throttled", timedelta(seconds=1))
    assert _audit(session)[-1] == ("login_failed", "alice", "throttled")
    # Another address is not slowed; the real operator at this one is, only briefly.
    assert _login(session, ip="192.0.2.8", now=T0 + timedelta(seconds=3)).ok
    assert _login(session, ip=ip, now=T0 + timedelta(seconds=4)).ok
    # Each further failure doubles the wait (4 s, 8 s, …) up to the cap.
    now = T0 + timedelta(seconds=10)
    waits = []
    for attempt in range(8):
        name = f"made-up-{attempt}"
        assert _login(session, name, "guess guess", ip=ip, now=now).reason == "invalid"
        refused = _login(session, name, "guess guess", ip=ip, now=now)
        assert refused.reason == "throttled" and refused.retry_after is not None
        waits.append(refused.retry_after.total_seconds())
        now += refused.retry_after
    assert waits == [4, 8, 16, 32, 60, 60, 60, 60]


def test_failures_older_than_the_lockout_are_forgotten(session: Session, alice: Operator) -> None:
    _login(session, password="nope nope", now=T0)
    _login(session, password="nope nope", now=T0 + timedelta(minutes=1))
    _login(session, password="nope nope", now=T0 + timedelta(minutes=16))
    assert _login(session, now=T0 + timedelta(minutes=16, seconds=1)).ok


def test_successes_do_not_count_towards_the_lockout(session: Session, alice: Operator) -> None:
    for second in range(5):
        assert _login(session, now=T0 + timedelta(seconds=second)).ok


# -- sessions ------------------------------------------------------------------------------------


def test_find_session_returns_the_operator_and_csrf_token(
    session: Session, alice: Operator
) -> None:
    outcome = _login(session)
    found = find_session(session, outcome.token, now=T0 + timedelta(minutes=1), settings=SETTINGS)
    assert found is not None
    assert found.operator == outcome.operator
    assert found.csrf_token == outcome.csrf_token
    assert found.expires_at == T0 + SETTINGS.session_lifetime
    for token in (None, "", "not-a-token", outcome.csrf_token):
        assert find_session(session, token, now=T0, settings=SETTINGS) is None


def test_sessions_end_absolutely_after_their_lifetime(session: Session, alice: Operator) -> None:
    token = _login(session).token
    now = T0
    while now < T0 + SETTINGS.session_lifetime - timedelta(minutes=20):
        now += timedelta(minutes=20)
        assert find_session(session, token, now=now, settings=SETTINGS) is not None
    end = T0 + SETTINGS.session_lifetime
    assert find_session(session, token, now=end - timedelta(seconds=1), settings=SETTINGS)
    assert find_session(session, token, now=end, settings=SETTINGS) is None
    assert session.scalar(select(func.count()).select_from(OperatorSession)) == 0


def test_sessions_end_when_idle(session: Session, alice: Operator) -> None:
    token = _login(session).token
    idle = SETTINGS.idle_timeout
    assert find_session(session, token, now=T0 + idle - timedelta(seconds=1), settings=SETTINGS)
    later = T0 + idle - timedelta(seconds=1) + idle
    assert find_session(session, token, now=later, settings=SETTINGS) is None
    assert session.scalar(select(func.count()).select_from(OperatorSession)) == 0


def test_last_seen_is_touched_only_after_a_minute(session: Session, alice: Operator) -> None:
    token = _login(session).token
    stored = session.scalars(select(OperatorSession)).one()

    def last_seen() -> datetime:
        session.flush()
        session.expire(stored)
        value = stored.last_seen_at
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    find_session(session, token, now=T0 + timedelta(seconds=60), settings=SETTINGS)
    assert last_seen() == T0
    find_session(session, token, now=T0 + timedelta(seconds=61), settings=SETTINGS)
    assert last_seen() == T0 + timedelta(seconds=61)
    find_session(session, token, now=T0 + timedelta(seconds=100), settings=SETTINGS)
    assert last_seen() == T0 + timedelta(seconds=61)


def test_logout_ends_the_session_and_is_audited(session: Session, alice: Operator) -> None:
    token = _login(session).token
    logout(session, token, ip="10.0.0.1", now=T0 + timedelta(minutes=1))
    assert find_session(session, token, now=T0 + timedelta(minutes=1), settings=SETTINGS) is None
    logout(session, token, ip="10.0.0.1", now=T0 + timedelta(minutes=2))  # unknown: nothing
    logout(session, None, ip="10.0.0.1", now=T0 + timedelta(minutes=2))
    assert [row[:2] for row in _audit(session)] == [
        ("operator_add", "cli"), ("login", "alice"), ("logout", "alice")]


def test_purge_removes_ended_sessions_and_day_old_attempts(
    session: Session, alice: Operator
) -> None:
    _login(session, password="nope nope", now=T0)
    ended = _login(session, now=T0 + timedelta(minutes=1)).token
    live = _login(session, now=T0 + timedelta(days=1, minutes=1)).token
    now = T0 + timedelta(days=1, minutes=2)
    assert purge_expired(session, now, SETTINGS) == 3  # one session, two attempts
    assert find_session(session, live, now=now, settings=SETTINGS) is not None
    assert find_session(session, ended, now=now, settings=SETTINGS) is None
    assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 1


def test_naive_now_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        find_session(session, "x", now=datetime(2024, 1, 1), settings=SETTINGS)


# -- csrf and audit ------------------------------------------------------------------------------


def test_login_tokens_are_only_those_the_server_signed() -> None:
    key, other = b"k" * 32, b"o" * 32
    token = issue_login_token(key)
    assert token != issue_login_token(key)
    assert login_token_valid(key, token) and not login_token_valid(other, token)
    assert check_login_csrf(key, token, token)
    assert not check_login_csrf(key, token, issue_login_token(key))
    assert not check_login_csrf(other, token, token)
    for chosen in ("attacker-picked", "a.b", "", ".", token + "x", "x" + token):
        assert not check_login_csrf(key, chosen, chosen), chosen
    assert not check_login_csrf(key, None, None)


def test_check_csrf() -> None:
    assert check_csrf("abc", "abc")
    assert not check_csrf("abc", "abd")
    assert not check_csrf("abc", None)
    assert not check_csrf("abc", "")
    assert not check_csrf("", "")
    assert not check_csrf("abc", "日本")


def test_record_audit_keeps_fields_and_cuts_long_ones(session: Session) -> None:
    record_audit(session, operator="o" * 80, action="pause", target="t" * 300,
                 reason="subscriber asked by phone", ip="203.0.113.5", now=T0)
    entry = session.scalars(select(AuditEntry)).one()
    assert (len(entry.operator), entry.action, len(entry.target), entry.reason, entry.ip) == (
        64, "pause", 200, "subscriber asked by phone", "203.0.113.5")
    with pytest.raises(ValueError, match="audit action"):
        record_audit(session, operator="o", action="a" * 33, now=T0)


# -- passwords -----------------------------------------------------------------------------------


def test_verify_password_never_raises() -> None:
    stored = hash_password(PASSWORD, HASHER)
    assert verify_password(stored, PASSWORD, HASHER)
    assert not verify_password(stored, "wrong password", HASHER)
    assert not verify_password(stored, "\ud800 surrogate", HASHER)
    for malformed in ("", "garbage", "$argon2id$v=19$m=8,t=1,p=1$bad", "$2b$12$bcrypt"):
        assert not verify_password(malformed, PASSWORD, HASHER)
        assert needs_rehash(malformed, HASHER)
    assert not needs_rehash(stored, HASHER)


def test_production_hashes_use_the_library_defaults() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(stored, PASSWORD) and not needs_rehash(stored)
