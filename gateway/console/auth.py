"""Operator accounts, console logins and sessions, login throttling and the audit log.

Every function takes the caller's SQLAlchemy ``Session`` (the caller owns the transaction; nothing
here commits) and an explicit, timezone-aware ``now``; nothing reads the clock. Works on SQLite and
PostgreSQL: times are stored in UTC, and the naive values SQLite hands back are read as UTC.

The browser's cookie holds a random token; only its SHA-256 is stored, so a copy of the database
does not let anyone take over a session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from gateway.config import ConsoleConfig
from gateway.console.passwords import (
    DEFAULT_HASHER,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)
from gateway.db.console_models import AuditEntry, LoginAttempt, Operator, OperatorSession
from gateway.db.times import as_utc
from gateway.errors import GatewayError

ROLES = ("viewer", "admin")
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MIN_PASSWORD_LENGTH = 8
TOUCH_INTERVAL = timedelta(seconds=60)
"""``last_seen_at`` is written at most this often per session (not on every request)."""
ADDRESS_DELAY_CAP = timedelta(seconds=60)
"""The longest an address is made to wait between attempts once it is over its budget."""
ATTEMPT_RETENTION = timedelta(days=1)
"""Login attempts older than this (and older than the lockout) are purged."""

# Column widths of gateway.db.console_models.
_NAME_WIDTH = 64
_IP_WIDTH = 64
_ACTION_WIDTH = 32
_TARGET_WIDTH = 200


class OperatorError(GatewayError):
    """An operator account cannot be created or changed as asked (bad name, role, password…)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthSettings:
    session_lifetime: timedelta
    """A login lasts at most this long."""
    idle_timeout: timedelta
    """A session unused for this long ends."""
    max_failures: int
    """Failed logins for one name from one address within ``lockout`` before that pair is
    locked; also each address's budget of failures before its attempts are slowed."""
    lockout: timedelta
    """How long a locked (name, address) pair stays locked; failures older than this are
    forgotten."""
    max_delay: timedelta = ADDRESS_DELAY_CAP
    """The cap of the growing wait imposed on an address over its budget."""


def auth_settings(config: ConsoleConfig) -> AuthSettings:
    return AuthSettings(
        session_lifetime=timedelta(hours=config.session_hours),
        idle_timeout=timedelta(minutes=config.idle_minutes),
        max_failures=config.login_max_failures,
        lockout=timedelta(minutes=config.login_lockout_minutes),
    )


@dataclass(frozen=True, slots=True)
class OperatorInfo:
    id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: int
    operator: OperatorInfo
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginOutcome:
    ok: bool
    reason: str
    """``""`` on success; ``"locked"`` when this name is locked for this address, ``"throttled"``
    when the address must wait before its next attempt; ``"invalid"`` otherwise (unknown name,
    wrong password, disabled operator: show the user one message for all three)."""
    token: str | None = None
    """The cookie value; never stored."""
    csrf_token: str | None = None
    operator: OperatorInfo | None = None
    retry_after: timedelta | None = None
    """When locked or throttled: how long until a login may be tried again."""


# -- operator accounts ---------------------------------------------------------------------------


def add_operator(
    session: Session,
    name: str,
    role: str,
    password: str,
    now: datetime,
    *,
    actor: str = "cli",
    hasher: PasswordHasher = DEFAULT_HASHER,
) -> Operator:
    """Create an operator; ``actor`` (who did it) goes to the audit log."""
    now = _checked_now(now)
    _check_name(name)
    if role not in ROLES:
        raise OperatorError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    _check_password(password)
    if _operator_named(session, name) is not None:
        raise OperatorError(f"operator {name!r} already exists")
    operator = Operator(name=name, role=role, password_hash=hash_password(password, hasher),
                        created_at=now, disabled_at=None)
    session.add(operator)
    session.flush()
    record_audit(session, operator=actor, action="operator_add", target=name, reason=role,
                 now=now)
    return operator


def set_password(
    session: Session,
    name: str,
    password: str,
    now: datetime,
    *,
    actor: str = "cli",
    hasher: PasswordHasher = DEFAULT_HASHER,
) -> None:
    """Replace an operator's password; their open sessions end."""
    now = _checked_now(now)
    _check_password(password)
    operator = _existing_operator(session, name)
    operator.password_hash = hash_password(password, hasher)
    _end_sessions_of(session, operator.id)
    record_audit(session, operator=actor, action="operator_passwd", target=name, now=now)


def disable_operator(session: Session, name: str, now: datetime, *, actor: str = "cli") -> None:
    """Stop an operator from logging in and end their sessions (already disabled: no change)."""
    now = _checked_now(now)
    operator = _existing_operator(session, name)
    _end_sessions_of(session, operator.id)
    if operator.disabled_at is not None:
        return
    operator.disabled_at = now
    record_audit(session, operator=actor, action="operator_disable", target=name, now=now)


def list_operators(session: Session) -> list[Operator]:
    """Every operator, disabled ones included, by name."""
    return list(session.scalars(select(Operator).order_by(Operator.name)))


# -- logins and sessions -------------------------------------------------------------------------


def login(
    session: Session,
    *,
    name: str,
    password: str,
    ip: str,
    now: datetime,
    settings: AuthSettings,
    hasher: PasswordHasher = DEFAULT_HASHER,
) -> LoginOutcome:
    """Check a login; on success open a session. Every attempt is audited.

    Throttling, per address (never for a name as such), answered without looking at the
    password and without counting as a failure:

    * a (name, address) pair with ``max_failures`` failures within ``lockout`` is ``"locked"``
      until the oldest of those ages out; the same name from another address is unaffected;
    * an address with ``n >= max_failures`` failures (any names) within ``lockout`` is
      ``"throttled"`` until ``min(2 ** (n - max_failures + 1) s, max_delay)`` after its latest
      failure; other addresses are unaffected.

    An address without recent failures is never refused.
    """
    now = _checked_now(now)
    typed_name = name[:_NAME_WIDTH]
    ip = ip[:_IP_WIDTH]
    locked = _pair_lock_remaining(session, typed_name, ip, now, settings)
    throttled = _address_delay_remaining(session, ip, now, settings)
    if locked is not None or throttled is not None:
        reason = "locked" if locked is not None else "throttled"
        record_audit(session, operator=typed_name, action="login_failed", reason=reason,
                     ip=ip, now=now)
        return LoginOutcome(ok=False, reason=reason,
                            retry_after=max(t for t in (locked, throttled) if t is not None))

    operator = _operator_named(session, name) if len(name) <= _NAME_WIDTH else None
    if operator is None:
        verify_password(dummy_hash(hasher), password, hasher)  # same cost as a real check
        failure = "unknown operator"
    elif not verify_password(operator.password_hash, password, hasher):
        failure = "wrong password"
    elif operator.disabled_at is not None:
        failure = "operator disabled"
    else:
        failure = ""
    if failure or operator is None:
        _record_attempt(session, typed_name, ip, now, succeeded=False)
        record_audit(session, operator=typed_name, action="login_failed", reason=failure, ip=ip,
                     now=now)
        return LoginOutcome(ok=False, reason="invalid")

    if needs_rehash(operator.password_hash, hasher):
        operator.password_hash = hash_password(password, hasher)
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    session.add(OperatorSession(token_hash=_token_hash(token), operator_id=operator.id,
                                csrf_token=csrf_token, ip=ip, created_at=now, last_seen_at=now,
                                expires_at=now + settings.session_lifetime))
    _record_attempt(session, typed_name, ip, now, succeeded=True)
    record_audit(session, operator=operator.name, action="login", ip=ip, now=now)
    return LoginOutcome(ok=True, reason="", token=token, csrf_token=csrf_token,
                        operator=_info(operator))


@dataclass(frozen=True, slots=True)
class SessionCheck:
    """What :func:`peek_session` found, without writing anything."""

    info: SessionInfo | None
    """The live session, else None."""
    ended: int | None = None
    """Id of the session row that has expired or gone idle (to delete), if any."""
    touch: bool = False
    """``last_seen_at`` is older than :data:`TOUCH_INTERVAL` and should be refreshed."""


def peek_session(
    session: Session, token: str | None, *, now: datetime, settings: AuthSettings
) -> SessionCheck:
    """Check the cookie ``token`` reading only (a read-only connection will do)."""
    now = _checked_now(now)
    if not token:
        return SessionCheck(None)
    row = session.execute(
        select(OperatorSession, Operator)
        .join(Operator, Operator.id == OperatorSession.operator_id)
        .where(OperatorSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return SessionCheck(None)
    operator_session, operator = row
    last_seen = as_utc(operator_session.last_seen_at)
    expires_at = as_utc(operator_session.expires_at)
    if now >= expires_at or now - last_seen >= settings.idle_timeout:
        return SessionCheck(None, ended=operator_session.id)
    if operator.disabled_at is not None:
        return SessionCheck(None)
    info = SessionInfo(session_id=operator_session.id, operator=_info(operator),
                       csrf_token=operator_session.csrf_token, expires_at=expires_at)
    return SessionCheck(info, touch=now - last_seen > TOUCH_INTERVAL)


def settle_session(session: Session, check: SessionCheck, *, now: datetime) -> None:
    """Write what :func:`peek_session` found due: delete an ended session, or touch a live one."""
    now = _checked_now(now)
    if check.ended is not None:
        session.execute(delete(OperatorSession).where(OperatorSession.id == check.ended)
                        .execution_options(synchronize_session=False))
    elif check.info is not None and check.touch:
        row = session.get(OperatorSession, check.info.session_id)
        if row is not None:
            row.last_seen_at = now


def find_session(
    session: Session, token: str | None, *, now: datetime, settings: AuthSettings
) -> SessionInfo | None:
    """The live session whose cookie is ``token``, else None. Expired and idle sessions are
    deleted; ``last_seen_at`` is refreshed when it is older than :data:`TOUCH_INTERVAL`."""
    check = peek_session(session, token, now=now, settings=settings)
    settle_session(session, check, now=now)
    return check.info


def logout(session: Session, token: str | None, *, ip: str, now: datetime) -> None:
    """End the session whose cookie is ``token`` (unknown token: nothing happens)."""
    now = _checked_now(now)
    if not token:
        return
    row = session.execute(
        select(OperatorSession, Operator.name)
        .join(Operator, Operator.id == OperatorSession.operator_id)
        .where(OperatorSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return
    operator_session, operator_name = row
    session.delete(operator_session)
    record_audit(session, operator=operator_name, action="logout", ip=ip, now=now)


def check_csrf(expected: str, given: str | None) -> bool:
    """Whether a form's CSRF token is the session's, compared in constant time."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"),
                               given.encode("utf-8", "surrogatepass"))


def issue_login_token(key: bytes) -> str:
    """A fresh token for the login form's double-submit cookie: a random nonce and its HMAC
    under the server's ``key``, so that only tokens this server issued are accepted."""
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_login_mac(key, nonce)}"


def login_token_valid(key: bytes, token: str | None) -> bool:
    """Whether ``token`` is one :func:`issue_login_token` made with ``key``."""
    nonce, dot, mac = (token or "").partition(".")
    if not dot or not nonce or not mac:
        return False
    return hmac.compare_digest(mac.encode("utf-8", "surrogatepass"),
                               _login_mac(key, nonce).encode("ascii"))


def check_login_csrf(key: bytes, cookie: str | None, given: str | None) -> bool:
    """The login form's check: the field equals the cookie, and the server issued it."""
    return bool(cookie) and check_csrf(cookie or "", given) and login_token_valid(key, cookie)


def purge_expired(session: Session, now: datetime, settings: AuthSettings) -> int:
    """Delete ended sessions (expired or idle) and old login attempts; return how many rows."""
    now = _checked_now(now)
    sessions = session.execute(
        delete(OperatorSession)
        .where(or_(OperatorSession.expires_at <= now,
                   OperatorSession.last_seen_at <= now - settings.idle_timeout))
        .execution_options(synchronize_session=False)
    )
    attempts = session.execute(
        delete(LoginAttempt)
        .where(LoginAttempt.at < now - max(ATTEMPT_RETENTION, settings.lockout))
        .execution_options(synchronize_session=False)
    )
    return int(sessions.rowcount or 0) + int(attempts.rowcount or 0)


# -- audit log -----------------------------------------------------------------------------------


def record_audit(
    session: Session,
    *,
    operator: str,
    action: str,
    target: str = "",
    reason: str = "",
    ip: str = "",
    now: datetime,
) -> None:
    """Append one entry to the audit log. ``operator``, ``target`` and ``ip`` are cut to their
    column widths; ``action`` is a short fixed word (at most 32 characters)."""
    if not action or len(action) > _ACTION_WIDTH:
        raise ValueError(f"audit action must be 1 to {_ACTION_WIDTH} characters: {action!r}")
    session.add(AuditEntry(at=_checked_now(now), operator=operator[:_NAME_WIDTH], action=action,
                           target=target[:_TARGET_WIDTH], reason=reason, ip=ip[:_IP_WIDTH]))


# -- internals -----------------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise OperatorError(f"operator name {name!r}: expected 1 to 64 letters, digits, "
                            "'_', '.' or '-'")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH or not password.strip():
        raise OperatorError(f"password: expected at least {MIN_PASSWORD_LENGTH} characters, "
                            "not all spaces")
    try:
        password.encode("utf-8")
    except UnicodeError:
        raise OperatorError("password: not valid text (undecodable characters)") from None


def _operator_named(session: Session, name: str) -> Operator | None:
    return session.scalars(select(Operator).where(Operator.name == name)).first()


def _existing_operator(session: Session, name: str) -> Operator:
    operator = _operator_named(session, name)
    if operator is None:
        raise OperatorError(f"no operator named {name!r} (see `sdgw operator list`)")
    return operator


def _end_sessions_of(session: Session, operator_id: int) -> None:
    for operator_session in session.scalars(
        select(OperatorSession).where(OperatorSession.operator_id == operator_id)
    ):
        session.delete(operator_session)


def _pair_lock_remaining(
    session: Session, name: str, ip: str, now: datetime, settings: AuthSettings
) -> timedelta | None:
    """How long the (name, address) pair stays locked, or None if it is not: the lock lifts
    when the ``max_failures``-th most recent failure within the lockout period ages out."""
    failures = list(session.scalars(
        select(LoginAttempt.at)
        .where(LoginAttempt.name == name, LoginAttempt.ip == ip,
               LoginAttempt.succeeded.is_(False), LoginAttempt.at > now - settings.lockout)
        .order_by(LoginAttempt.at.desc())
        .limit(settings.max_failures)
    ))
    if len(failures) < settings.max_failures:
        return None
    remaining = as_utc(failures[-1]) + settings.lockout - now
    return remaining if remaining > timedelta(0) else None


def _address_delay_remaining(
    session: Session, ip: str, now: datetime, settings: AuthSettings
) -> timedelta | None:
    """How long the address must still wait before its next attempt, or None."""
    failures = session.execute(
        select(func.count(), func.max(LoginAttempt.at))
        .where(LoginAttempt.ip == ip, LoginAttempt.succeeded.is_(False),
               LoginAttempt.at > now - settings.lockout)
    ).one()
    count, latest = int(failures[0] or 0), failures[1]
    if count < settings.max_failures or latest is None:
        return None
    over = min(count - settings.max_failures + 1, 30)
    delay = min(timedelta(seconds=2 ** over), settings.max_delay)
    remaining = as_utc(latest) + delay - now
    return remaining if remaining > timedelta(0) else None


def _record_attempt(session: Session, name: str, ip: str, now: datetime, *,
                    succeeded: bool) -> None:
    session.add(LoginAttempt(name=name, ip=ip, at=now, succeeded=succeeded))
    session.flush()


def _login_mac(key: bytes, nonce: str) -> str:
    return hmac.new(key, b"sdgw-login:" + nonce.encode("utf-8", "surrogatepass"),
                    hashlib.sha256).hexdigest()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _info(operator: Operator) -> OperatorInfo:
    return OperatorInfo(id=operator.id, name=operator.name, role=operator.role)


def _checked_now(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now.astimezone(UTC)

