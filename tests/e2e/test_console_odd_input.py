"""Odd input never makes the operator console or the MMS content server answer 500: unicode
digits, numbers too large for the database's integers, dates at the ends of the calendar, NUL
and other control characters are a plain 400 (bad parameter) or 404 (no such thing)."""

from __future__ import annotations

import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.console.web import Console
from tests.e2e.console_gateway import ADMIN, RunningGateway, running_gateway
from tests.e2e.test_console_security import PLACEHOLDER, Browserless

PARAMETERS = ("after", "carrier", "days", "direction", "done", "edition", "id", "next",
              "number", "since", "status", "until")
"""Every query parameter a GET route of the console reads (see gateway/console/web.py)."""
TABLES = ("carriers", "daily", "period", "editions", "edition_list", "subscriber", "audit",
          "messages", "deliveries")
HUGE = "99999999999999999999999"
ODD_REQUESTS = (
    "/?days=%C2%B2",
    "/?days=" + HUGE,
    "/api/carriers?days=%C2%B2",
    f"/api/subscriber?id={HUGE}",
    "/api/subscriber?id=%C2%B2",
    "/api/subscriber?id=9223372036854775808",
    f"/api/editions?edition={HUGE}",
    "/api/editions?edition=%C2%B2",
    f"/api/deliveries?edition={HUGE}",
    "/api/deliveries?edition=%C2%B2",
    f"/export/deliveries.csv?edition={HUGE}",
    "/messages?until=9999-12-31",
    "/messages?since=0001-01-01",
    "/messages?since=0001-01-01T00:00",
    "/messages?until=9999-12-31T23:59",
    "/messages?since=0001-01-01T00:00%2B14:00",
    "/messages?until=9999-12-31T23:59-14:00",
    "/api/messages?until=9999-12-31",
    "/export/messages.csv?since=0001-01-01",
    f"/messages?after=2020-11-18T00:00:00%2B00:00|mo|{HUGE}",
    "/messages?after=0001-01-01T00:00:00%2B14:00|mo|1",
    "/messages?after=2020-11-18T00:00:00%2B00:00|mo|%C2%B2",
    f"/editions/{HUGE}",
    f"/editions/{HUGE}/deliveries",
    "/editions/%D9%A3",
    "/static/console.css%00.txt",
    "/static/%00",
    "/static/console.css%01",
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    # An empty gateway suffices: odd input is refused before (or whatever) the data.
    with running_gateway(tmp_path_factory.mktemp("console-odd-input")) as running:
        running.add_operator(ADMIN[0], "admin", ADMIN[1])
        yield running


@pytest.fixture(scope="module")
def admin(gateway: RunningGateway) -> Browserless:
    client = Browserless(gateway.url)
    answer = client.login(*ADMIN)
    assert answer.status == 303, answer.text
    return client


def _plain_refusal(status: int, body: bytes) -> bool:
    return status in (400, 404) and len(body) < 20_000 and b"Traceback" not in body


@pytest.mark.parametrize("path", ODD_REQUESTS)
def test_odd_input_is_a_plain_400_or_404(admin: Browserless, path: str) -> None:
    answer = admin.get(path)
    assert _plain_refusal(answer.status, answer.body), (path, answer.status, answer.text[:500])


def _content_base(gateway: RunningGateway) -> str:
    settings_ = tomllib.loads(Path(gateway.config).read_text(encoding="utf-8"))
    return f"http://127.0.0.1:{settings_['content']['port']}"


@pytest.mark.parametrize("path", (
    f"/mms/{HUGE}/china_mobile", "/mms/%C2%B2/china_mobile", "/mms/%D9%A3/china_mobile",
    "/mms/9223372036854775808/china_mobile", "/mms/1/china_mobile%00", "/mms/1%00/china_mobile",
))
def test_odd_content_paths_are_a_plain_404(gateway: RunningGateway, path: str) -> None:
    try:
        with urllib.request.urlopen(_content_base(gateway) + path, timeout=20) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    assert (path, status, body) == (path, 404, b"not found\n")


# -- property: no text in any parameter or path segment is a 500 ------------------------------

def _get_rules() -> list[str]:
    return sorted({rule.rule for rule in Console.app.url_map.iter_rules()
                   if "GET" in (rule.methods or ())})


ODD_TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(categories=("Nd", "No", "Cc", "Cf", "Zs")), max_size=40),
    st.integers(min_value=-(10 ** 40), max_value=10 ** 40).map(str),
    st.sampled_from(("²", "٣", "0", "-1", "9223372036854775807", "9223372036854775808",
                     "18446744073709551616", "0001-01-01", "9999-12-31", "0001-01-01T00:00",
                     "9999-12-31T23:59", "2020-11-18T00:00:00+00:00|mo|1", "\x00", "a\x00b",
                     "1e9999", "nan", " 1", "1_0", "%00", "..", "../..")),
    st.integers(min_value=19, max_value=1500).map(lambda n: "9" * n),
    st.text(alphabet="0123456789-:T+|", min_size=1, max_size=40),
)


def _fill_rule(rule: str, segment: str) -> str:
    filled = PLACEHOLDER.sub(lambda _: quote(segment, safe=""), rule)
    if rule.endswith("/"):  # the static branch: the segment is the file's name
        filled += quote(segment, safe="")
    return filled


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_odd_input_is_a_server_error(admin: Browserless, data: st.DataObject) -> None:
    rule = data.draw(st.sampled_from(_get_rules()), label="rule")
    if "<" in rule or rule.endswith("/"):
        if rule.startswith(("/api/", "/export/")) and data.draw(st.booleans(), label="table"):
            segment = data.draw(st.sampled_from(TABLES), label="segment")
        else:
            segment = data.draw(ODD_TEXT, label="segment")
        path = _fill_rule(rule, segment)
    else:
        path = rule
    query = data.draw(st.dictionaries(st.sampled_from(PARAMETERS), ODD_TEXT, max_size=4),
                      label="query")
    target = path + ("?" + urlencode(query) if query else "")
    answer = admin.get(target)
    assert answer.status < 500, (target, answer.status, answer.text[:500])


def _post_rules() -> list[str]:
    return sorted({rule.rule for rule in Console.app.url_map.iter_rules()
                   if "POST" in (rule.methods or ()) and rule.rule != "/logout"})


POST_FIELDS = ("number", "reason", "name", "password", "next", "csrf", "action")


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_odd_form_is_a_server_error(admin: Browserless, data: st.DataObject) -> None:
    """Every POST route (but logout, which would end the session the test uses), with the
    session's real CSRF token or an odd one, and odd text in its fields and path segments."""
    rule = data.draw(st.sampled_from(_post_rules()), label="rule")
    path = _fill_rule(rule, data.draw(ODD_TEXT, label="segment")) if "<" in rule else rule
    if "<" in rule and data.draw(st.booleans(), label="valid segments"):
        path = rule.split("<", 1)[0] + "1/" + data.draw(st.sampled_from(("pause", "resume")))
    form = data.draw(st.dictionaries(st.sampled_from(POST_FIELDS), ODD_TEXT, max_size=4),
                     label="form")
    if path != "/login" and data.draw(st.booleans(), label="real token"):
        form["csrf"] = admin.csrf()
    answer = admin.post(path, form)
    assert answer.status < 500, (path, form, answer.status, answer.text[:500])
