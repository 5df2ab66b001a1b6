"""The operator console's defences over plain HTTP, against a real `sdgw run`: every route
refuses a caller without a session, POSTs need the CSRF token, cookies and headers are
strict, logins are throttled, viewers cannot act as admins and never see whole numbers."""

from __future__ import annotations

import csv
import functools
import http.client
import io
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.console.web import Console
from gateway.db.console_models import AuditEntry, OperatorSession
from gateway.db.dispatch_models import Dispatch
from gateway.db.models import Subscriber
from tests.e2e.console_gateway import (
    ADMIN,
    HTML_NUMBER,
    MASKED_HTML_NUMBER,
    SUBSCRIBED,
    TO_UNSUBSCRIBE,
    VIEWER,
    RunningGateway,
    populated_gateway,
    running_gateway,
)

MASKED = re.compile(r"\d{3}\*{4}\d{4}")
PUBLIC = {"/health", "/login", "/static/console.css"}
"""Paths that answer a GET without a session."""
TABLES = ("carriers", "daily", "period", "editions", "edition_list", "subscriber", "audit",
          "messages", "deliveries")
"""The names /api/<name> and /export/<name>.csv know (each is refused without a session)."""
SAMPLES = {
    # (converter, argument) → the value filled into a rule; a rule with any other
    # placeholder fails the enumeration test until it is added here.
    ("IntegerConverter", "edition_id"): "1",
    ("IntegerConverter", "dispatch_id"): "1",
    ("AnyConverter", "action"): "pause",
    ("PathConverter", "__rest__"): "console.css",
    ("UnicodeConverter", "name"): "carriers",
}
PLACEHOLDER = re.compile(r"<(?:(?P<converter>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def cookies(self) -> list[str]:
        return self.headers.get_all("set-cookie") or []


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _FromAddress(urllib.request.HTTPHandler):
    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def http_open(self, req: Any) -> Any:
        return self.do_open(functools.partial(http.client.HTTPConnection,
                                              source_address=(self.source, 0)), req)


@dataclass
class Browserless:
    """A urllib client that keeps its own cookies and never follows redirects."""

    base: str
    cookies: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    """The local address to connect from (another 127.x.y.z: another client address)."""

    def __post_init__(self) -> None:
        handlers: list[Any] = [_NoRedirects()]
        if self.source is not None:
            handlers.append(_FromAddress(self.source))
        self._opener = urllib.request.build_opener(*handlers)

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                cookies: dict[str, str] | None = None) -> Answer:
        data = urlencode(form).encode() if form is not None else (b"" if method == "POST"
                                                                    else None)
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if form is not None:
            request.add_header("content-type", "application/x-www-form-urlencoded")
        jar = {**self.cookies, **(cookies or {})}
        if jar:
            request.add_header("cookie", "; ".join(f"{k}={v}" for k, v in jar.items()))
        try:
            with self._opener.open(request, timeout=20) as response:
                answer = Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            answer = Answer(error.code, error.headers, error.read())
        for header in answer.cookies():
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return answer

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str] | None = None) -> Answer:
        return self.request("POST", path, form)

    def login(self, name: str, password: str) -> Answer:
        form = self.get("/login")
        assert form.status == 200
        token = _hidden(form.text, "csrf")
        return self.post("/login", {"csrf": token, "name": name, "password": password,
                                    "next": "/"})

    def csrf(self) -> str:
        """The session's CSRF token, as the pages' forms carry it."""
        page = self.get("/")
        assert page.status == 200, page.status
        return _hidden(page.text, "csrf")


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', html)
    assert found, f"no hidden {name} field"
    return found.group(1)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with populated_gateway(tmp_path_factory.mktemp("console-security")) as running:
        yield running


def _logged_in(gateway: RunningGateway, name: str, password: str) -> Browserless:
    client = Browserless(gateway.url)
    answer = client.login(name, password)
    assert answer.status == 303, answer.text
    assert "sdgw_session" in client.cookies
    return client


@pytest.fixture(scope="module")
def admin(gateway: RunningGateway) -> Browserless:
    return _logged_in(gateway, *ADMIN)


@pytest.fixture(scope="module")
def viewer(gateway: RunningGateway) -> Browserless:
    return _logged_in(gateway, *VIEWER)


def _routes() -> list[tuple[str, str, str]]:
    """(rule, method, path with sample values) for every route of the console."""
    routes = []
    for rule in Console.app.url_map.iter_rules():
        converters = {name: type(converter).__name__
                      for name, converter in rule._converters.items()}

        def fill(match: re.Match[str], converters: dict[str, str] = converters,
                 rule: Any = rule) -> str:
            key = (converters[match["name"]], match["name"])
            if key not in SAMPLES:
                pytest.fail(f"route {rule.rule}: no sample value for {key}; add one to SAMPLES "
                            "so that the new route is checked too")
            return SAMPLES[key]

        path = PLACEHOLDER.sub(fill, rule.rule)
        assert "<" not in path, rule.rule
        paths = [path]
        if ("UnicodeConverter", "name") in {(c, n) for n, c in converters.items()}:
            paths += [path.replace(SAMPLES[("UnicodeConverter", "name")], table)
                      for table in TABLES]
        routes.extend((rule.rule, method, p) for p in dict.fromkeys(paths)
                      for method in sorted(rule.methods or ()))
    return routes


def test_every_route_refuses_a_caller_without_a_session(gateway: RunningGateway) -> None:
    routes = _routes()
    assert {path for _, _, path in routes} >= {"/", "/audit", "/api/carriers",
                                               "/dispatches/1/pause", "/subscribers/unsubscribe"}
    client = Browserless(gateway.url)
    for rule, method, path in routes:
        answer = client.request(method, path, {} if method == "POST" else None, cookies={})
        where = f"{method} {path} (rule {rule})"
        if method in ("GET", "HEAD") and path in PUBLIC:
            assert answer.status == 200, where
            continue
        if path == "/static/":
            assert answer.status == 404, where  # no listing of the folder
            continue
        if path == "/login" and method == "POST":
            assert answer.status == 403, where  # no login-form token
            continue
        if path.startswith(("/api/", "/export/")):
            assert answer.status == 401, where
            assert method == "HEAD" or json.loads(answer.body) == {"error": "log in first"}
        else:
            assert answer.status == 303, where
            target = urlsplit(answer.headers["location"])
            assert target.path == "/login", where
            assert answer.body in (b"", b"log in first\n"), where
        assert "content-security-policy" in answer.headers, where
        assert answer.headers["x-frame-options"] == "DENY", where
    assert not client.cookies.get("sdgw_session")


def _audit_rows(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_posts_without_the_right_csrf_token_are_refused(
    gateway: RunningGateway, admin: Browserless
) -> None:
    dispatch_id, dispatch_status = gateway.read(lambda s: s.execute(
        select(Dispatch.id, Dispatch.status).order_by(Dispatch.id)).first())
    audit_before = gateway.read(_audit_rows)
    sessions_before = gateway.read(
        lambda s: s.scalar(select(func.count()).select_from(OperatorSession)))
    attempts = [
        ("/logout", {}),
        (f"/dispatches/{dispatch_id}/pause", {}),
        (f"/dispatches/{dispatch_id}/resume", {}),
        ("/subscribers/unsubscribe", {"number": TO_UNSUBSCRIBE, "reason": "forged"}),
    ]
    for path, form in attempts:
        for token in (None, "", "not-the-token", admin.csrf() + "x"):
            body = dict(form) if token is None else {**form, "csrf": token}
            answer = admin.post(path, body)
            assert answer.status == 403, (path, token, answer.status)
            assert "did not come from this console" in answer.text
    assert admin.get("/").status == 200  # still logged in
    assert gateway.read(_audit_rows) == audit_before
    assert gateway.read(
        lambda s: s.scalar(select(func.count()).select_from(OperatorSession))) == sessions_before
    assert gateway.read(lambda s: s.get(Dispatch, dispatch_id).status) == dispatch_status
    assert gateway.read(lambda s: s.scalar(
        select(Subscriber.status).where(Subscriber.msisdn == TO_UNSUBSCRIBE))) == "active"


def test_login_needs_the_login_forms_cookie_token(gateway: RunningGateway) -> None:
    client = Browserless(gateway.url)
    token = _hidden(client.get("/login").text, "csrf")
    form = {"csrf": token, "name": ADMIN[0], "password": ADMIN[1]}
    without_cookie = client.request("POST", "/login", form, cookies={"sdgw_login": ""})
    assert without_cookie.status == 403
    other = Browserless(gateway.url)
    other.get("/login")  # a login cookie of its own, not the form's token
    assert other.post("/login", form).status == 403
    assert other.post("/login", {**form, "csrf": ""}).status == 403
    assert "sdgw_session" not in client.cookies and "sdgw_session" not in other.cookies
    assert client.post("/login", form).status == 303  # the matching pair is accepted


def test_the_login_tokens_must_be_ones_the_server_issued(gateway: RunningGateway) -> None:
    client = Browserless(gateway.url)
    form = {"csrf": "attacker-chosen", "name": VIEWER[0], "password": VIEWER[1]}
    chosen = client.request("POST", "/login", form, cookies={"sdgw_login": "attacker-chosen"})
    assert chosen.status == 403
    forged = "nonce.0123456789abcdef"
    answer = client.request("POST", "/login", {**form, "csrf": forged},
                            cookies={"sdgw_login": forged})
    assert answer.status == 403
    assert "sdgw_session" not in client.cookies
    # A chosen cookie is replaced by an issued one when the form is shown.
    shown = Browserless(gateway.url, cookies={"sdgw_login": "attacker-chosen"})
    assert _hidden(shown.get("/login").text, "csrf") != "attacker-chosen"
    assert shown.cookies["sdgw_login"] != "attacker-chosen"


def test_tokens_in_the_query_string_are_not_accepted(
    gateway: RunningGateway, admin: Browserless
) -> None:
    token = admin.csrf()
    audit_before = gateway.read(_audit_rows)
    answer = admin.post("/subscribers/unsubscribe?" + urlencode({"csrf": token}),
                        {"number": TO_UNSUBSCRIBE, "reason": "forged via the URL"})
    assert answer.status == 403, answer.status
    assert "did not come from this console" in answer.text
    assert admin.post("/logout?" + urlencode({"csrf": token})).status == 403
    assert admin.get("/").status == 200  # still logged in
    assert gateway.read(_audit_rows) == audit_before
    assert gateway.read(lambda s: s.scalar(
        select(Subscriber.status).where(Subscriber.msisdn == TO_UNSUBSCRIBE))) == "active"
    # The login form's token (and every field) is taken from the body only.
    client = Browserless(gateway.url)
    login_token = _hidden(client.get("/login").text, "csrf")
    query = urlencode({"csrf": login_token, "name": VIEWER[0], "password": VIEWER[1]})
    assert client.post("/login?" + query, {"next": "/"}).status == 403
    assert "sdgw_session" not in client.cookies


UNSAFE_NEXT = ["//evil.example/x", "https://evil.example/", "http:/evil.example",
               "/\\evil.example", "\\evil.example", "javascript:alert(1)", "/\t/evil.example",
               "/%09/evil.example", "/\n/evil.example", "/%0a/evil.example", "\t//evil.example",
               "/\\/evil.example", "%2F%2Fevil.example", "/%2F/evil.example", "%5C%5Cevil.example",
               "/%5Cevil.example", "/%5C/evil.example", "/%252F/evil.example", "evil.example",
               "/a b", "/\x7f/evil.example", "/\u3000/evil.example", ""]


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_login_only_redirects_within_the_console(gateway: RunningGateway, target: str) -> None:
    client = Browserless(gateway.url)
    page = client.get("/login?" + urlencode({"next": target}))
    assert _hidden(page.text, "next") == "/"
    answer = client.post("/login", {"csrf": _hidden(page.text, "csrf"), "name": VIEWER[0],
                                    "password": VIEWER[1], "next": target})
    assert answer.status == 303
    assert answer.headers["location"] == "/"


@pytest.mark.parametrize("target", ["/messages?carrier=china_mobile", "/editions",
                                    "/subscribers?number=13800138000", "/audit"])
def test_login_redirects_to_a_path_of_the_console(gateway: RunningGateway, target: str) -> None:
    client = Browserless(gateway.url)
    token = _hidden(client.get("/login?" + urlencode({"next": target})).text, "csrf")
    answer = client.post("/login", {"csrf": token, "name": VIEWER[0], "password": VIEWER[1],
                                    "next": target})
    assert answer.status == 303
    assert answer.headers["location"] == target


def test_session_cookie_and_security_headers(gateway: RunningGateway) -> None:
    client = Browserless(gateway.url)
    form = client.get("/login")
    login_cookie = next(c for c in form.cookies() if c.startswith("sdgw_login="))
    assert "httponly" in login_cookie.lower() and "samesite=strict" in login_cookie.lower()
    answer = client.login(*VIEWER)
    assert answer.status == 303
    session_cookie = next(c for c in answer.cookies() if c.startswith("sdgw_session="))
    attributes = {part.strip().split("=")[0].lower(): part.strip().partition("=")[2]
                  for part in session_cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "strict"
    assert attributes["path"] == "/"
    pages = (answer, client.get("/"), client.get("/api/carriers"), form,
             client.get("/static/console.css"), client.get("/static/missing.css"),
             client.get("/static/"), client.get("/no-such-page"))
    assert [p.status for p in pages[4:]] == [200, 404, 404, 404]
    for response in pages:
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"


def _retry_after(answer: Answer) -> int:
    assert answer.status == 429, (answer.status, answer.text[-300:])
    assert "Too many failed logins" in answer.text
    return int(answer.headers["retry-after"])


def test_login_throttling_is_per_address(tmp_path: Path) -> None:
    # A gateway of its own: failures stay counted against the addresses used here.
    with running_gateway(tmp_path) as gateway:
        gateway.add_operator("victim", "viewer", "right-password-1")
        gateway.add_operator("bystander", "viewer", "right-password-2")

        # Five wrong passwords for "victim" from one address lock that name from that
        # address only (for console.login_lockout_minutes)…
        attacker = Browserless(gateway.url, source="127.0.0.2")
        for _ in range(5):
            wrong = attacker.login("victim", "wrong-password")
            assert wrong.status == 401 and "Wrong name or password." in wrong.text
        assert 800 < _retry_after(attacker.login("victim", "right-password-1")) <= 900
        assert "sdgw_session" not in attacker.cookies
        # …while the real victim, from another address, logs in at once.
        assert _logged_in(gateway, "victim", "right-password-1")
        assert Browserless(gateway.url, source="127.0.0.4").login(
            "victim", "right-password-1").status == 303

        # Five failures with made-up names from one address: that address is slowed (a short,
        # growing wait), not locked; a real operator there gets in after the short wait.
        guesser = Browserless(gateway.url, source="127.0.0.3")
        for attempt in range(5):
            assert guesser.login(f"made-up-{attempt}", "guess-guess").status == 401
        wait = _retry_after(guesser.login("bystander", "right-password-2"))
        assert 1 <= wait <= 2
        assert Browserless(gateway.url, source="127.0.0.5").login(
            "bystander", "right-password-2").status == 303  # other addresses: not slowed
        time.sleep(wait)
        assert guesser.login("bystander", "right-password-2").status == 303

        # The guesser keeps guessing: every failure doubles the wait, each answered 429.
        guesser = Browserless(gateway.url, source="127.0.0.3")
        assert guesser.login("made-up-5", "guess-guess").status == 401
        assert 3 <= _retry_after(guesser.login("made-up-6", "guess-guess")) <= 4
        audited = gateway.read(lambda s: list(s.scalars(
            select(AuditEntry.reason).where(AuditEntry.action == "login_failed"))))
        assert audited.count("wrong password") == 5
        assert audited.count("unknown operator") == 6
        assert {"locked", "throttled"} <= set(audited)


def test_a_viewer_cannot_do_what_needs_the_admin_role(
    gateway: RunningGateway, viewer: Browserless
) -> None:
    token = viewer.csrf()
    dispatch_id = gateway.read(lambda s: s.scalar(select(func.min(Dispatch.id))))
    audit_before = gateway.read(_audit_rows)
    for path, form in ((f"/dispatches/{dispatch_id}/pause", {}),
                       (f"/dispatches/{dispatch_id}/resume", {}),
                       ("/subscribers/unsubscribe", {"number": TO_UNSUBSCRIBE,
                                                     "reason": "viewer tries"})):
        answer = viewer.post(path, {**form, "csrf": token})
        assert answer.status == 403, path
        assert "needs the admin role" in answer.text
    for path in ("/audit", "/api/audit", "/export/audit.csv"):
        answer = viewer.get(path)
        assert answer.status == 403, path
        assert "needs the admin role" in answer.text
    assert gateway.read(_audit_rows) == audit_before
    assert gateway.read(lambda s: s.scalar(
        select(Subscriber.status).where(Subscriber.msisdn == TO_UNSUBSCRIBE))) == "active"


def test_api_and_exports_mask_numbers_for_a_viewer(
    gateway: RunningGateway, viewer: Browserless, admin: Browserless
) -> None:
    everyone = [n for numbers in SUBSCRIBED.values() for n in numbers]
    path = f"/api/subscriber?number={HTML_NUMBER}"
    shown = viewer.get(path)
    assert shown.status == 200
    body = json.loads(shown.body)
    assert body["subscriber"]["msisdn"] == MASKED_HTML_NUMBER
    assert body["rows"] and {row["number"] for row in body["rows"]} == {MASKED_HTML_NUMBER}
    assert HTML_NUMBER not in shown.text
    assert json.loads(admin.get(path).body)["subscriber"]["msisdn"] == HTML_NUMBER
    history = viewer.get(f"/export/subscriber.csv?number={HTML_NUMBER}")
    assert history.status == 200 and history.body.startswith(b"\xef\xbb\xbf")
    assert {row["number"] for row in csv.DictReader(
        io.StringIO(history.body.decode("utf-8-sig")))} == {MASKED_HTML_NUMBER}

    export = viewer.get("/export/messages.csv")
    assert export.status == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.body.decode("utf-8-sig"))))
    numbers = {row["number"] for row in rows}
    assert len(rows) > 50 and all(MASKED.fullmatch(n) for n in numbers), numbers
    assert not [n for n in everyone if n in export.text]

    whole = admin.get("/export/messages.csv")
    assert whole.status == 200
    assert set(everyone) <= {row["number"] for row in csv.DictReader(
        io.StringIO(whole.body.decode("utf-8-sig")))}

    messages = viewer.get("/api/messages")
    assert messages.status == 200
    assert all(MASKED.fullmatch(row["number"]) for row in json.loads(messages.body)["rows"])
    assert not [n for n in everyone if n in messages.text]
