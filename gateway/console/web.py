"""The operator console over HTTP (Klein on twisted.web): routing, sessions, forms.

This module only turns requests into calls and results into responses. What is shown comes
from :mod:`gateway.console.queries` (read in the read-only pool), what is changed from
:mod:`gateway.console.auth` and the operator actions (in the writer's pool); every page is a
Jinja2 template under ``templates/console/`` with autoescaping. Nothing here touches the
database on the reactor thread.

Only ``/login``, ``/health`` and the stylesheet answer without a session; pages redirect to
the login page, ``/api/…`` and ``/export/…`` answer 401. Every POST needs the session's CSRF
token from the form body (never from the query string; the login form a double-submit cookie
whose token the server signed), and admin actions need the admin role.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from klein import Klein
from sqlalchemy import literal, select
from sqlalchemy.orm import Session
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.web.http import parse_qs as parse_form
from twisted.web.iweb import IRequest
from twisted.web.pages import notFound
from twisted.web.static import File
from werkzeug.exceptions import HTTPException

from carriers.numbers import InvalidNumber, normalise_msisdn
from gateway.config import CARRIER_NAMES, GatewayConfig
from gateway.console import auth, queries
from gateway.console.charts import Series, line_chart
from gateway.console.stats import StatsRefresher
from gateway.console.tables import columns_of, csv_text
from gateway.db.threads import DatabaseThreads
from gateway.db.times import local_text
from gateway.editions.stored import load_edition
from gateway.operations.link_board import LinkBoard
from gateway.subscriptions.operator_requests import unsubscribe_on_request
from gateway.subscriptions.service import QueuedReply, ReplyRenderer, SubscriptionSettings

log = logging.getLogger(__name__)

SESSION_COOKIE = b"sdgw_session"
LOGIN_COOKIE = b"sdgw_login"
STATIC_DIR = Path(__file__).with_name("static")
PERIODS = (30, 90)
_STATUS_TEXT = re.compile(r"[a-z_]{1,32}")
MAX_ID = 2**63 - 1
"""The largest id a signed 64-bit database integer (SQLite's, PostgreSQL's bigint) holds."""
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EARLIEST = datetime(1, 1, 3, tzinfo=UTC)
_LATEST = datetime(9999, 12, 29, tzinfo=UTC)
"""The moments a ``since``/``until``/cursor may name: a day or more inside the calendar, so that
moving them by a day or to another zone cannot overflow."""
_SECURITY_HEADERS = {
    b"content-security-policy": b"default-src 'none'; style-src 'self'; img-src 'self' data:; "
                                b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"same-origin",
    b"cache-control": b"no-store",
}


@dataclass(frozen=True, slots=True)
class ConsoleDependencies:
    """What the console is given by the composition root."""

    config: GatewayConfig
    zone: ZoneInfo
    """The newspaper's time zone: days and times are shown in it."""
    writer: DatabaseThreads
    reader: DatabaseThreads
    clock: IReactorTime
    templates: jinja2.Environment
    stats: StatsRefresher
    subscription_settings: SubscriptionSettings
    render_reply: ReplyRenderer
    send_reply: Callable[[QueuedReply], defer.Deferred[Any]] | None
    set_paused: Callable[[int, bool], defer.Deferred[None]] | None
    link_board: LinkBoard | None = None
    """The links' state and figures (the Links page); None: no links in this process."""


class Refused(Exception):
    """Ends a request early with ``code`` and a short message (no traceback, no data)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NeedsLogin(Exception):
    """No valid session: pages go to the login form, the API and exports answer 401."""


class Console:
    app = Klein()

    def __init__(self, deps: ConsoleDependencies) -> None:
        self.deps = deps
        self.auth = auth.auth_settings(deps.config.console)
        self.carriers = tuple(deps.config.carriers)
        self.zone = deps.zone
        self.login_key = secrets.token_bytes(32)
        """Signs the login form's double-submit tokens (per process: a restart only means
        reloading the login form)."""

    # -- plumbing ------------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.deps.clock.seconds(), UTC)

    def today(self) -> date:
        return self.now().astimezone(self.zone).date()

    def read(self, work: Callable[[Session], Any]) -> defer.Deferred[Any]:
        return self.deps.reader.transaction(work)

    def write(self, work: Callable[[Session], Any]) -> defer.Deferred[Any]:
        return self.deps.writer.transaction(work)

    async def session_of(self, request: IRequest) -> auth.SessionInfo | None:
        token = _cookie(request, SESSION_COOKIE)
        if not token:
            return None
        now = self.now()
        # Read-only (on SQLite it does not queue behind the dispatch's writes); the rare write
        # (a touch at most once a minute, or deleting an ended session) goes to the writer.
        check = await self.read(
            lambda s: auth.peek_session(s, token, now=now, settings=self.auth))
        if check.ended is not None or check.touch:
            await self.write(lambda s: auth.settle_session(s, check, now=now))
        return check.info

    async def require(self, request: IRequest, *, admin: bool = False) -> auth.SessionInfo:
        found = await self.session_of(request)
        if found is None:
            raise NeedsLogin()
        if admin and not found.operator.is_admin:
            raise Refused(403, "This needs the admin role.")
        return found

    async def require_post(self, request: IRequest, *, admin: bool = False
                           ) -> auth.SessionInfo:
        found = await self.require(request, admin=admin)
        if not auth.check_csrf(found.csrf_token, _form_arg(request, "csrf")):
            raise Refused(403, "The form has expired or did not come from this console; "
                               "reload the page and try again.")
        return found

    def page(self, request: IRequest, template: str, session: auth.SessionInfo | None,
             **context: Any) -> bytes:
        _headers(request, b"text/html; charset=utf-8")
        body = self.deps.templates.get_template(f"console/{template}").render(
            me=session.operator if session else None,
            csrf=session.csrf_token if session else "",
            newspaper=self.deps.config.newspaper.name,
            path=request.path.decode("utf-8", "replace"),
            fmt=_Formatters(self.zone),
            **context)
        return body.encode("utf-8")

    # -- errors --------------------------------------------------------------------------------

    @app.handle_errors(NeedsLogin)
    def needs_login(self, request: IRequest, failure: Any) -> bytes:
        path = request.path.decode("utf-8", "replace")
        if path.startswith(("/api/", "/export/")):
            request.setResponseCode(401)
            _headers(request, b"application/json")
            return b'{"error": "log in first"}\n'
        request.setResponseCode(303)
        target = request.uri.decode("utf-8", "replace") if request.method == b"GET" else "/"
        request.setHeader(b"location", ("/login?" + urlencode({"next": target})).encode())
        _headers(request, b"text/plain; charset=utf-8")
        return b"log in first\n"

    @app.handle_errors(Refused)
    def refused(self, request: IRequest, failure: Any) -> bytes:
        error: Refused = failure.value
        request.setResponseCode(error.code)
        if request.path.startswith((b"/api/", b"/export/")):
            _headers(request, b"application/json")
            return json.dumps({"error": error.message}).encode() + b"\n"
        return self.page(request, "error.html", None, code=error.code, message=error.message)

    @app.handle_errors(Exception)
    def failed(self, request: IRequest, failure: Any) -> bytes:
        if failure.check(HTTPException):  # routing: no such page (404), wrong method (405)
            error = failure.value
            request.setResponseCode(error.code or 500)
            _headers(request, b"text/plain; charset=utf-8")
            return f"{error.code} {error.name}\n".encode()
        log.error("console %s %s failed: %s", request.method.decode(), request.path.decode(
            "utf-8", "replace"), failure.getTraceback())
        request.setResponseCode(500)
        _headers(request, b"text/plain; charset=utf-8")
        return b"internal error (logged)\n"

    # -- public routes ---------------------------------------------------------------------------

    @app.route("/health", methods=["GET"])
    async def health(self, request: IRequest) -> bytes:
        _headers(request, b"application/json")
        try:
            await self.read(lambda s: s.execute(select(literal(1))).scalar())
        except Exception as exc:
            request.setResponseCode(503)
            return json.dumps({"status": "database unavailable", "error": str(exc)[:200]}).encode()
        return b'{"status": "ok"}\n'

    @app.route("/static/", branch=True, methods=["GET"])
    def static(self, request: IRequest) -> File:
        for name, value in _SECURITY_HEADERS.items():  # on the file and on its 404 alike
            request.setHeader(name, value)
        return _StaticFiles(str(STATIC_DIR))

    @app.route("/login", methods=["GET"])
    def login_form(self, request: IRequest) -> bytes:
        return self._login_page(request, "", 200)

    def _login_page(self, request: IRequest, message: str, code: int) -> bytes:
        token = _cookie(request, LOGIN_COOKIE)
        if not auth.login_token_valid(self.login_key, token):
            token = auth.issue_login_token(self.login_key)
        request.addCookie(LOGIN_COOKIE, token.encode(), path=b"/login", httpOnly=True,
                          sameSite=b"strict", secure=self.deps.config.console.secure_cookie)
        request.setResponseCode(code)
        return self.page(request, "login.html", None, login_csrf=token, message=message,
                         next=_safe_next(_arg(request, "next")))

    @app.route("/login", methods=["POST"])
    async def login(self, request: IRequest) -> bytes:
        # Every field from the body only: never a token (or a password) from the URL.
        given = _form_arg(request, "csrf")
        expected = _cookie(request, LOGIN_COOKIE)
        if not auth.check_login_csrf(self.login_key, expected, given):
            raise Refused(403, "The login form has expired; reload the page and try again.")
        name = (_form_arg(request, "name") or "").strip()
        password = _form_arg(request, "password") or ""
        ip = _client_ip(request)
        now = self.now()
        outcome = await self.write(lambda s: auth.login(
            s, name=name, password=password, ip=ip, now=now, settings=self.auth))
        if outcome.reason in ("locked", "throttled"):
            seconds = max(1, math.ceil(outcome.retry_after.total_seconds())
                          if outcome.retry_after else 1)
            request.setHeader(b"retry-after", str(seconds).encode())
            wait = (f"{seconds} second(s)" if seconds < 120
                    else f"{math.ceil(seconds / 60)} minute(s)")
            return self._login_page(
                request, f"Too many failed logins. Try again in {wait}.", 429)
        if not outcome.ok or outcome.token is None:
            return self._login_page(request, "Wrong name or password.", 401)
        request.addCookie(SESSION_COOKIE, outcome.token.encode(), path=b"/", httpOnly=True,
                          sameSite=b"strict", secure=self.deps.config.console.secure_cookie,
                          max_age=str(int(self.auth.session_lifetime.total_seconds())))
        request.setResponseCode(303)
        request.setHeader(b"location", _safe_next(_form_arg(request, "next")).encode())
        _headers(request, b"text/plain; charset=utf-8")
        return b"logged in\n"

    @app.route("/logout", methods=["POST"])
    async def logout(self, request: IRequest) -> bytes:
        await self.require_post(request)
        token = _cookie(request, SESSION_COOKIE)
        ip = _client_ip(request)
        now = self.now()
        await self.write(lambda s: auth.logout(s, token, ip=ip, now=now))
        request.addCookie(SESSION_COOKIE, b"", path=b"/", httpOnly=True, sameSite=b"strict",
                          max_age="0")
        request.setResponseCode(303)
        request.setHeader(b"location", b"/login")
        return b"logged out\n"

    # -- dashboard -----------------------------------------------------------------------------

    def _days(self, request: IRequest) -> int:
        days = parse_id(_param(request, "days") or "30")
        if days not in PERIODS:
            raise Refused(400, f"days must be one of {', '.join(map(str, PERIODS))}.")
        return days

    async def _summary(self, request: IRequest) -> queries.Summary:
        days = self._days(request)
        today = self.today()
        return await self.read(lambda s: queries.summary(
            s, today=today, days=days, carriers=self.carriers))

    async def _dispatches(self, edition_ids: list[int] | None = None
                          ) -> tuple[queries.DispatchFigures, ...]:
        now = self.now()
        return await self.read(lambda s: queries.dispatch_figures(
            s, now=now, edition_ids=edition_ids))

    @app.route("/", methods=["GET"])
    async def dashboard(self, request: IRequest) -> bytes:
        me = await self.require(request)
        summary = await self._summary(request)
        dispatches = await self._dispatches()
        labels = [d.day for d in summary.daily]
        chart = line_chart(labels, [
            Series("requests (SD)", [d.requests for d in summary.daily], "series-requests"),
            Series("confirmations (Y)", [d.confirmations for d in summary.daily],
                   "series-confirmations"),
            Series("unsubscriptions", [d.unsubscriptions for d in summary.daily],
                   "series-unsubscriptions"),
        ], title=f"Subscriptions per day, last {summary.period.days} days")
        return self.page(request, "dashboard.html", me, summary=summary, chart=chart,
                         dispatches=dispatches[:12], periods=PERIODS)

    # -- links ---------------------------------------------------------------------------------

    @app.route("/links", methods=["GET"])
    async def links(self, request: IRequest) -> bytes:
        me = await self.require(request)
        board = self.deps.link_board
        now = self.deps.clock.seconds()
        rows = board.rows(now) if board is not None else []
        return self.page(request, "links.html", me, rows=rows, now=now,
                         as_of=datetime.fromtimestamp(now, UTC))

    # -- editions ------------------------------------------------------------------------------

    @app.route("/editions", methods=["GET"])
    async def editions(self, request: IRequest) -> bytes:
        me = await self.require(request)
        dispatches = await self._dispatches()
        editions = await self.read(lambda s: queries.latest_editions(s))
        return self.page(request, "editions.html", me, editions=editions,
                         dispatches=dispatches)

    @app.route(f"/editions/<int(max={MAX_ID}):edition_id>", methods=["GET"])
    async def edition(self, request: IRequest, edition_id: int) -> bytes:
        me = await self.require(request)
        header = await self.read(lambda s: queries.edition_header(s, edition_id))
        if header is None:
            raise Refused(404, f"There is no edition #{edition_id}.")
        stored = await self.read(lambda s: load_edition(s, header.newspaper_date, header.slot))
        dispatches = await self._dispatches([edition_id])
        return self.page(request, "edition.html", me, edition=header, stored=stored,
                         dispatches=dispatches, previews=_previews(stored))

    async def _delivery_filter(self, request: IRequest, edition_id: int
                               ) -> tuple[str, str, int, int | None]:
        """``?carrier=&status=&after=`` for one edition: (carrier, outcome group, the
        dispatch's id, the id to continue below)."""
        carrier = _param(request, "carrier") or self.carriers[0]
        if carrier not in CARRIER_NAMES:
            raise Refused(400, f"carrier must be one of {', '.join(CARRIER_NAMES)}.")
        group = _param(request, "status") or ""
        if group and group not in queries.DELIVERY_GROUPS:
            raise Refused(400, "status must be one of "
                               f"{', '.join(queries.DELIVERY_GROUPS)}.")
        text = _param(request, "after")
        after = parse_id(text) if text is not None else None
        if text is not None and after is None:
            raise Refused(400, "That page link is not valid; start from the first page.")
        dispatch_id = await self.read(lambda s: queries.dispatch_of(s, edition_id, carrier))
        if dispatch_id is None:
            raise Refused(404, f"Edition #{edition_id} has not been sent on {carrier}.")
        return carrier, group, dispatch_id, after

    def _deliveries_after(self, me: auth.SessionInfo, dispatch_id: int, group: str, *,
                          limit: int, after: int | None) -> defer.Deferred[Any]:
        reveal = me.operator.is_admin
        return self.read(lambda s: queries.delivery_list(
            s, dispatch_id, group=group or None, reveal=reveal, limit=limit, after=after))

    @app.route(f"/editions/<int(max={MAX_ID}):edition_id>/deliveries", methods=["GET"])
    async def deliveries(self, request: IRequest, edition_id: int) -> bytes:
        me = await self.require(request)
        header = await self.read(lambda s: queries.edition_header(s, edition_id))
        if header is None:
            raise Refused(404, f"There is no edition #{edition_id}.")
        carrier, group, dispatch_id, after = await self._delivery_filter(request, edition_id)
        page = await self._deliveries_after(me, dispatch_id, group, after=after,
                                            limit=self.deps.config.console.page_size)
        query = {"carrier": carrier, "status": group}
        next_link = None
        if page.next_after is not None:
            next_link = (f"/editions/{edition_id}/deliveries?"
                         + urlencode({**query, "after": page.next_after}))
        return self.page(request, "deliveries.html", me, edition=header, page=page,
                         carrier=carrier, group=group, carriers=self.carriers,
                         groups=queries.DELIVERY_GROUPS, next_link=next_link,
                         export_link="/export/deliveries.csv?"
                         + urlencode({**query, "edition": edition_id}))

    @app.route(f"/dispatches/<int(max={MAX_ID}):dispatch_id>/<any(pause,resume):action>",
               methods=["POST"])
    async def pause_or_resume(self, request: IRequest, dispatch_id: int, action: str
                              ) -> bytes:
        me = await self.require_post(request, admin=True)
        if self.deps.set_paused is None:
            raise Refused(409, "This process does not run dispatches.")
        edition_id = await self.read(lambda s: queries.dispatch_edition(s, dispatch_id))
        if edition_id is None:
            raise Refused(404, f"There is no dispatch #{dispatch_id}.")
        await self.deps.set_paused(dispatch_id, action == "pause")
        await self._audit(request, me, action, f"dispatch {dispatch_id}", "")
        request.setResponseCode(303)
        request.setHeader(b"location", f"/editions/{edition_id}".encode())
        return b""

    async def _audit(self, request: IRequest, me: auth.SessionInfo, action: str, target: str,
                     reason: str) -> None:
        ip = _client_ip(request)
        now = self.now()
        await self.write(lambda s: auth.record_audit(
            s, operator=me.operator.name, action=action, target=target, reason=reason, ip=ip,
            now=now))

    # -- subscribers ---------------------------------------------------------------------------

    @app.route("/subscribers", methods=["GET"])
    async def subscribers(self, request: IRequest) -> bytes:
        me = await self.require(request)
        typed = (_arg(request, "number") or "").strip()
        record, error, msisdn = None, "", ""
        if typed:
            try:
                msisdn = normalise_msisdn(typed)
            except InvalidNumber as exc:
                error = f"Not a mobile number: {exc.reason}"
            else:
                reveal = me.operator.is_admin
                record = await self.read(
                    lambda s: queries.subscriber_record(s, msisdn, reveal=reveal))
        flash = _arg(request, "done") or ""
        # A viewer's page shows the number masked only, even the one typed in.
        if not me.operator.is_admin and record is not None:
            typed = queries.mask_number(msisdn, False)
        return self.page(request, "subscriber.html", me, typed=typed, error=error,
                         record=record, msisdn=msisdn if me.operator.is_admin else "",
                         flash=flash)

    @app.route("/subscribers/unsubscribe", methods=["POST"])
    async def unsubscribe(self, request: IRequest) -> bytes:
        me = await self.require_post(request, admin=True)
        reason = (_arg(request, "reason") or "").strip()
        if "\x00" in reason:
            raise Refused(400, "The reason must not contain a NUL character.")
        if not reason:
            raise Refused(400, "Give the reason for the unsubscription (e.g. the hotline "
                               "call's reference).")
        try:
            msisdn = normalise_msisdn(_arg(request, "number") or "")
        except InvalidNumber as exc:
            raise Refused(400, f"Not a mobile number: {exc.reason}") from None
        now = self.now()
        ip = _client_ip(request)
        deps = self.deps

        def act(session: Session) -> Any:
            result = unsubscribe_on_request(
                session, msisdn, operator=me.operator.name, reason=reason,
                settings=deps.subscription_settings, render=deps.render_reply, now=now)
            if result is not None and result.changed:
                auth.record_audit(session, operator=me.operator.name, action="unsubscribe",
                                  target=f"subscriber {msisdn}",
                                  reason=reason, ip=ip, now=now)
            return result

        result = await self.write(act)
        if result is None:
            raise Refused(404, "No subscriber has that number.")
        if result.reply is not None and deps.send_reply is not None:
            deps.send_reply(result.reply)
        if result.changed:
            deps.stats.refresh_logged()  # the dashboard's counts follow soon, not awaited
        done = (f"{result.old_status} → {result.new_status}; {result.cancelled_deliveries} "
                "unsent digest(s) cancelled" if result.changed else
                f"nothing to cancel (status {result.old_status})")
        request.setResponseCode(303)
        request.setHeader(b"location", ("/subscribers?" + urlencode(
            {"number": msisdn, "done": done})).encode())
        return b""

    # -- message log ---------------------------------------------------------------------------

    def _message_filter(self, request: IRequest) -> queries.MessageFilter:
        carrier = _param(request, "carrier") or None
        if carrier is not None and carrier not in CARRIER_NAMES:
            raise Refused(400, f"carrier must be one of {', '.join(CARRIER_NAMES)}.")
        direction = _param(request, "direction") or None
        if direction is not None and direction not in queries.DIRECTIONS:
            raise Refused(400, "direction must be mo or mt.")
        status = _param(request, "status") or None
        if status is not None and not _STATUS_TEXT.fullmatch(status):
            raise Refused(400, "status must be a status name such as delivered.")
        return queries.MessageFilter(
            carrier=carrier, direction=direction, status=status,
            since=self._local_time(request, "since", end=False),
            until=self._local_time(request, "until", end=True))

    def _local_time(self, request: IRequest, name: str, *, end: bool) -> datetime | None:
        """``YYYY-MM-DD`` (a whole day; ``until`` includes it) or ``YYYY-MM-DDTHH:MM``,
        newspaper-local."""
        text = (_param(request, name) or "").strip()
        if not text:
            return None
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                moment = datetime.combine(day + timedelta(days=1 if end else 0), time(0))
            else:
                moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=self.zone)
            return _within_calendar(moment.astimezone(UTC))
        except (ValueError, OverflowError):
            raise Refused(400, f"{name} must be a date (2026-11-29) or a time "
                               "(2026-11-29T08:30).") from None

    def _cursor(self, request: IRequest) -> queries.MessageCursor | None:
        text = _param(request, "after")
        if not text:
            return None
        try:
            cursor = queries.MessageCursor.parse(text)
            _within_calendar(cursor.at)
            if not 0 <= cursor.ident <= MAX_ID:
                raise ValueError("id out of range")
        except (ValueError, OverflowError):
            raise Refused(400, "That page link is not valid; start from the first page.") from None
        return cursor

    async def _message_page(self, request: IRequest, me: auth.SessionInfo
                            ) -> queries.MessagePage:
        wanted = self._message_filter(request)
        cursor = self._cursor(request)
        reveal = me.operator.is_admin
        limit = self.deps.config.console.page_size
        return await self.read(lambda s: queries.message_log(
            s, wanted, reveal=reveal, limit=limit, cursor=cursor))

    @app.route("/messages", methods=["GET"])
    async def messages(self, request: IRequest) -> bytes:
        me = await self.require(request)
        page = await self._message_page(request, me)
        query = {k: v for k, v in _args(request).items() if k != "after" and v}
        next_link = None
        if page.next_cursor is not None:
            next_link = "/messages?" + urlencode({**query, "after": page.next_cursor.text()})
        return self.page(request, "messages.html", me, page=page, wanted=query,
                         carriers=CARRIER_NAMES, next_link=next_link,
                         export_link="/export/messages.csv?" + urlencode(query))

    # -- audit ---------------------------------------------------------------------------------

    @app.route("/audit", methods=["GET"])
    async def audit(self, request: IRequest) -> bytes:
        me = await self.require(request, admin=True)
        rows = await self.read(lambda s: queries.audit_log(s, reveal=True))
        return self.page(request, "audit.html", me, rows=rows)

    # -- the same figures as JSON and CSV ------------------------------------------------------

    async def _table(self, request: IRequest, name: str, me: auth.SessionInfo
                     ) -> tuple[tuple[str, ...], list[Any], Any]:
        """(columns, rows, extra JSON fields) of a named table."""
        reveal = me.operator.is_admin
        if name == "carriers":
            summary = await self._summary(request)
            return columns_of(queries.CarrierFigures), list(summary.carriers), {
                "as_of": summary.as_of.isoformat() if summary.as_of else None,
                "total_active": summary.total_active, "total_pending": summary.total_pending}
        if name == "daily":
            summary = await self._summary(request)
            return columns_of(queries.DayFigures), list(summary.daily), {
                "period": queries.as_dict(summary.period)}
        if name == "period":
            summary = await self._summary(request)
            return columns_of(queries.PeriodFigures), [summary.period], {}
        if name == "editions":
            text = _param(request, "edition")
            edition = parse_id(text) if text else None
            if text and edition is None:
                raise Refused(400, "edition must be an edition's number.")
            ids = [edition] if edition is not None else None
            return columns_of(queries.DispatchFigures), list(await self._dispatches(ids)), {}
        if name == "edition_list":
            editions = await self.read(lambda s: queries.latest_editions(s, limit=1000))
            return columns_of(queries.EditionHeader), list(editions), {}
        if name == "subscriber":
            msisdn = await self._subscriber_number(request)
            record = await self.read(
                lambda s: queries.subscriber_record(s, msisdn, reveal=reveal))
            extra = {"subscriber": queries.as_dict(record.subscriber)
                     if record.subscriber else None}
            return columns_of(queries.HistoryEntry), list(record.history), extra
        if name == "audit":
            if not me.operator.is_admin:
                raise Refused(403, "This needs the admin role.")
            rows = await self.read(lambda s: queries.audit_log(s, reveal=True, limit=10_000))
            return columns_of(queries.AuditRow), list(rows), {}
        raise Refused(404, f"There is no table {name!r}.")

    async def _subscriber_number(self, request: IRequest) -> str:
        """``?number=`` (any common form), or ``?id=`` (the subscriber's id: what a viewer's
        page links with, so that it never holds the whole number)."""
        text = _param(request, "id")
        if text is not None:
            ident = parse_id(text)
            if ident is None:
                raise Refused(400, "id must be a subscriber id.")
            msisdn = await self.read(lambda s: queries.msisdn_of(s, ident))
            if msisdn is None:
                raise Refused(404, "No subscriber has that id.")
            return str(msisdn)
        try:
            return normalise_msisdn(_param(request, "number") or "")
        except InvalidNumber as exc:
            raise Refused(400, f"Not a mobile number: {exc.reason}") from None

    @app.route("/api/<name>", methods=["GET"])
    async def api(self, request: IRequest, name: str) -> bytes:
        me = await self.require(request)
        if name == "deliveries":
            _, group, dispatch_id, after = await self._delivery_filter(
                request, self._edition_arg(request))
            deliveries = await self._deliveries_after(
                me, dispatch_id, group, after=after, limit=self.deps.config.console.page_size)
            body: dict[str, Any] = {
                "rows": [queries.as_dict(row) for row in deliveries.rows],
                "next": deliveries.next_after}
        elif name == "messages":
            page = await self._message_page(request, me)
            body = {
                "rows": [queries.as_dict(e) for e in page.entries],
                "next": page.next_cursor.text() if page.next_cursor else None}
        else:
            columns, rows, extra = await self._table(request, name, me)
            body = {**extra, "columns": list(columns),
                    "rows": [queries.as_dict(r) for r in rows]}
        _headers(request, b"application/json")
        return json.dumps(body, ensure_ascii=False).encode("utf-8")

    @app.route("/export/<name>.csv", methods=["GET"])
    async def export(self, request: IRequest, name: str) -> bytes | None:
        me = await self.require(request)
        _headers(request, b"text/csv; charset=utf-8")
        request.setHeader(b"content-disposition",
                          f'attachment; filename="sdgw-{quote(name)}.csv"'.encode())
        if name == "messages":
            await self._stream_messages(request, me)
            return None
        if name == "deliveries":
            await self._stream_deliveries(request, me)
            return None
        columns, rows, _ = await self._table(request, name, me)
        # A byte-order mark, so that spreadsheet programs read the UTF-8 (Chinese) text.
        return ("\ufeff" + csv_text(columns, rows)).encode("utf-8")

    def _edition_arg(self, request: IRequest) -> int:
        edition = parse_id(_param(request, "edition"))
        if edition is None:
            raise Refused(400, "edition must be an edition's number.")
        return edition

    async def _stream_deliveries(self, request: IRequest, me: auth.SessionInfo) -> None:
        """One edition's deliveries on one carrier (optionally one outcome), a page at a time."""
        edition_id = self._edition_arg(request)
        columns = columns_of(queries.DeliveryRow)
        gone: list[bool] = []
        request.notifyFinish().addBoth(lambda _: gone.append(True))
        _, group, dispatch_id, after = await self._delivery_filter(request, edition_id)
        request.write(("\ufeff" + csv_text(columns, [])).encode("utf-8"))
        while not gone:
            page = await self._deliveries_after(me, dispatch_id, group, after=after, limit=5000)
            if gone:
                return
            request.write(csv_text(columns, page.rows, header=False).encode("utf-8"))
            if page.next_after is None:
                break
            after = page.next_after
        if not gone:
            request.finish()

    async def _stream_messages(self, request: IRequest, me: auth.SessionInfo) -> None:
        """The whole filtered message log, a page of rows at a time (never all in memory)."""
        wanted = self._message_filter(request)
        columns = columns_of(queries.HistoryEntry)
        cursor: queries.MessageCursor | None = None
        reveal = me.operator.is_admin
        gone: list[bool] = []
        request.notifyFinish().addBoth(lambda _: gone.append(True))
        request.write(("\ufeff" + csv_text(columns, [])).encode("utf-8"))
        while not gone:
            page = await self.read(lambda s, c=cursor: queries.message_log(
                s, wanted, reveal=reveal, limit=2000, cursor=c))
            if gone:
                return
            request.write(csv_text(columns, page.entries, header=False).encode("utf-8"))
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        if not gone:
            request.finish()


# -- helpers -----------------------------------------------------------------------------------

def _headers(request: IRequest, content_type: bytes) -> None:
    request.setHeader(b"content-type", content_type)
    for name, value in _SECURITY_HEADERS.items():
        request.setHeader(name, value)


def _arg(request: IRequest, name: str) -> str | None:
    return _first_text(request.args.get(name.encode()), name)


def _first_text(values: list[bytes] | None, name: str) -> str | None:
    """The first of a field's values as text; a 400 when it is not UTF-8."""
    if not values:
        return None
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, f"{name} is not UTF-8 text.") from None


def _form_arg(request: IRequest, name: str) -> str | None:
    """A field of a POST's ``application/x-www-form-urlencoded`` body, else None. Never from
    the query string (twisted's ``request.args`` mixes the two)."""
    if request.method != b"POST":
        return None
    ctype = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
    if ctype != b"application/x-www-form-urlencoded":
        return None
    content = request.content
    if content is None:
        return None
    content.seek(0)
    body = content.read()
    content.seek(0)
    return _first_text(parse_form(body, 1).get(name.encode()), name)


def _param(request: IRequest, name: str) -> str | None:
    """:func:`_arg` for a parameter that names something (a number, a date, a name): control
    characters (NUL included) are refused with a 400."""
    value = _arg(request, name)
    if value is not None and _CONTROL.search(value):
        raise Refused(400, f"{name} must not contain control characters.")
    return value


def parse_id(text: str | None) -> int | None:
    """``text`` as a non-negative database id (ASCII digits only, within a signed 64-bit
    integer), else None: no unicode digits such as ``²``, no signs, spaces or underscores."""
    if text is None or not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def _within_calendar(moment: datetime) -> datetime:
    """``moment`` (aware) if a day's arithmetic on it cannot overflow, else ValueError."""
    if not _EARLIEST <= moment <= _LATEST:
        raise ValueError("out of range")
    return moment


def _args(request: IRequest) -> dict[str, str]:
    return {key.decode("utf-8", "replace"): _arg(request, key.decode("utf-8", "replace")) or ""
            for key in request.args}


def _cookie(request: IRequest, name: bytes) -> str | None:
    value = request.getCookie(name)
    if not value:
        return None
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        return None


def _client_ip(request: IRequest) -> str:
    peer = request.getClientAddress()
    return str(getattr(peer, "host", "") or "")[:64]


def _safe_next(target: str | None) -> str:
    """``target`` if it is a path of this site, else ``"/"``: printable ASCII, one ``/`` first
    and no ``/`` or ``\\`` right after it, no scheme or host, and no whitespace, control
    character or backslash anywhere, also once percent-decoded (repeatedly)."""
    if not target or len(target) > 2000 or not target.isascii():
        return "/"
    forms = [target]
    for _ in range(5):  # %252F%252F… decodes a layer at a time
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    else:
        return "/"
    for form in forms:
        if (not form.startswith("/") or form[1:2] in ("/", "\\") or "\\" in form
                or any(c.isspace() or not c.isprintable() for c in form)):
            return "/"
        parts = urlsplit(form)
        if parts.scheme or parts.netloc:
            return "/"
    return target


def _previews(stored: Any) -> list[dict[str, Any]]:
    """What each carrier's subscribers were sent, as text to show."""
    from carriers.text_coding import decode_text

    previews = []
    for render in stored.renders if stored is not None else ():
        item: dict[str, Any] = {"carrier": render.carrier, "format": render.format,
                                "segments": len(render.segments)}
        if render.format == "sms":
            item["parts"] = [decode_text(s.payload, s.coding) for s in render.segments]
        else:
            item["size"] = render.mms_size
            item["pages"] = render.mms_pages or []
            item["content_location"] = render.content_location
        previews.append(item)
    return previews


class _StaticFiles(File):
    """The stylesheet folder, without directory listings; a name with a control character
    (a NUL, which the file system would refuse with an error) is simply not there."""

    def getChild(self, path: bytes, request: IRequest) -> Any:
        if _CONTROL.search(path.decode("latin-1")):
            return notFound()
        return super().getChild(path, request)

    def directoryListing(self) -> Any:
        return notFound()


class _Formatters:
    """Formatting helpers the templates use (local times, numbers, percentages)."""

    def __init__(self, zone: Any) -> None:
        self.zone = zone

    def time(self, value: datetime | None) -> str:
        return local_text(value, self.zone, missing="–")

    def moment(self, value: float | None) -> str:
        """A Unix time (clock seconds) as local time."""
        return self.time(None if value is None else datetime.fromtimestamp(value, UTC))

    @staticmethod
    def number(value: int | float | None) -> str:
        if value is None:
            return "–"
        return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"

    @staticmethod
    def percent(value: float | None) -> str:
        return "–" if value is None else f"{value * 100:.1f}%"

    @staticmethod
    def seconds(value: float | None) -> str:
        if value is None:
            return "–"
        minutes, seconds = divmod(int(value), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}"

    @staticmethod
    def carrier(name: str) -> str:
        return queries.carrier_label(name)
