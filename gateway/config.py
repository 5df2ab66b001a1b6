"""Configuration: one TOML file turned into frozen dataclasses.

The schema *is* the dataclasses below: every field's type hint says what the
key must hold, a field without a default is required, and a key that no field
names is an error.  Validation problems raise :class:`ConfigError` whose text
is one line naming the file, the dotted key and what was expected.

Nothing here reads the environment at import time; :func:`load_config` is the
only entry point and it is called by the composition root.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from carriers.link.config import LinkConfig, MissingSecret
from carriers.mm7.soap import RELEASES as MM7_RELEASES
from carriers.protocols import PROTOCOLS
from gateway.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("config/gateway.toml")
CONFIG_ENV_VAR = "SDGW_CONFIG"
CARRIER_NAMES = ("china_mobile", "china_unicom", "china_telecom")
LOG_FORMATS = ("text", "json")
RECEIPT_STATS = ("DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "DELETED", "UNKNOWN")


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseConfig:
    url: str = "sqlite:///../var/sdgw.db"
    """SQLAlchemy URL. A relative SQLite path is taken relative to the config file."""
    pool_threads: int = 4
    """Threads that run blocking database work off the reactor (PostgreSQL; SQLite uses one,
    as it has a single writer)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewspaperConfig:
    name: str
    """Shown in every message, e.g. 山东手机报."""
    price: str
    """Monthly price as shown to subscribers, e.g. 3元/月."""
    signature: str
    """Put in 【】 at the front of every pushed message."""
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorConfig:
    enabled: bool = True
    """Start an embedded simulated SMSC for this carrier inside ``sdgw run``."""
    host: str = "127.0.0.1"
    port: int
    control_port: int
    """Loopback HTTP endpoint used by ``sdgw sim mo`` and by tests."""
    tps: float = 0.0
    """The SMSC's own submit cap (ESME_RTHROTTLED above it); 0 = unlimited."""
    window: int = 0
    """Unanswered requests the SMSC accepts before ESME_RMSGQFUL; 0 = unlimited."""
    receipt_delay: float = 1.0
    receipt_mix: dict[str, float] = field(
        default_factory=lambda: {"DELIVRD": 0.95, "UNDELIV": 0.03, "EXPIRED": 0.02}
    )
    seed: int | None = None
    """Seed for the receipt mix; unset = random."""
    echo_reference: bool = True
    """Receipts echo the submit's ``user_message_reference`` (as some real SMSCs do), which
    lets the gateway reconcile parts whose submit result was lost."""


MM7_REPORT_STATUSES = ("Retrieved", "Expired", "Rejected", "Indeterminate", "Forwarded",
                       "Deferred", "Unrecognised", "Unreachable")
MMS_MODES = ("wap_push", "mm7")


@dataclass(frozen=True, slots=True, kw_only=True)
class MmscSimulatorConfig:
    """A simulated MMSC for this carrier (MM7), started by ``sdgw run`` and the demo."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int
    """Where it takes SubmitReqs (the carrier's ``mms.mm7.url`` points here)."""
    control_port: int
    """Its loopback HTTP control endpoint (``POST /mo`` injects an MO MMS)."""
    tps: float = 0.0
    """Its own submit cap (MM7 4006 "Service unavailable" above it); 0 = none."""
    report_delay: float = 1.0
    """Seconds before it posts a DeliveryReportReq to the gateway's MM7 endpoint."""
    report_mix: dict[str, float] = field(default_factory=lambda: {
        "Retrieved": 0.9, "Expired": 0.04, "Rejected": 0.03, "Indeterminate": 0.03})
    timeout_rate: float = 0.0
    """Share of submits it never answers."""
    error_rate: float = 0.0
    """Share of submits answered HTTP 500 with a SOAP Fault (MM7 3000 Server Error)."""
    malformed_rate: float = 0.0
    """Share of submits answered with malformed XML."""
    seed: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Mm7Config:
    """How the gateway reaches the carrier's MMSC over MM7 (``mms.mode = "mm7"``)."""

    url: str
    """The MMSC's MM7 URL (HTTP POST)."""
    release: str = "REL-6-MM7-1-4"
    """The MM7 schema release whose namespace and MM7Version the requests carry."""
    vasp_id: str
    vas_id: str = ""
    service_code: str = ""
    sender_address: str = ""
    """The short code the MMS is from; empty = the carrier's short code."""
    username: str = ""
    password: str = ""
    password_env: str = ""
    """The name of an environment variable holding the password (wins)."""
    timeout: float = 30.0
    """Seconds to wait for a SubmitRsp; a submit not answered in time is retried."""
    rate: float = 50.0
    """Submissions per second at most; 0 lifts the cap."""
    window: int = 16
    """Submissions in flight without a response."""
    simulator: MmscSimulatorConfig | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MmsConfig:
    """``carriers.<carrier>.mms``: the carrier's MMS edition and how it reaches handsets."""

    enabled: bool = True
    """Subscribers of this carrier may choose the MMS edition (``CX``); false = SMS only
    (a ``CX`` gets a reply explaining it)."""
    sms_only_prefixes: list[str] = field(default_factory=list)
    """Number prefixes (national numbers, e.g. ``"1703"``) set up for SMS only on this
    carrier: a ``CX`` from one of them gets the same explanation."""
    mode: str = "wap_push"
    """``"wap_push"`` (the gateway's WAP Push notification over SMS, content from its own
    content server) or ``"mm7"`` (each MMS submitted to the carrier's MMSC over MM7)."""
    mm7: Mm7Config | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Mm7EndpointConfig:
    """The gateway's own MM7 endpoint: delivery reports and MO MMS from the MMSCs."""

    host: str = "127.0.0.1"
    port: int = 8082
    path: str = "/mm7"
    username: str = ""
    password: str = ""
    password_env: str = ""
    allowed_addresses: list[str] = field(default_factory=lambda: ["127.0.0.1", "::1"])
    """IP addresses of the MMSCs that may post here; others get HTTP 403."""
    max_body_bytes: int = 2_000_000
    """Larger requests get HTTP 413 (by Content-Length before reading, and while reading)."""

    def resolved_password(self) -> str:
        return _secret(self.password, self.password_env, "mm7_endpoint.password_env")


def _secret(value: str, variable: str, key: str) -> str:
    if variable:
        found = os.environ.get(variable)
        if found is None:
            raise ConfigError("environment", variable, f"not set (named by {key})")
        return found
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class CarrierConfig:
    short_code: str
    link: LinkConfig
    simulator: SimulatorConfig | None = None
    mms: MmsConfig = field(default_factory=MmsConfig)
    quiet_start: str | None = None
    """Override of dispatch.quiet_start for this carrier (HH:MM)."""
    quiet_end: str | None = None

    @property
    def mm7(self) -> Mm7Config | None:
        """The MM7 settings when this carrier's MMS go over MM7, else None."""
        return self.mms.mm7 if self.mms.mode == "mm7" else None

    def mm7_password(self) -> str:
        mm7 = self.mms.mm7
        assert mm7 is not None
        return _secret(mm7.password, mm7.password_env, "mms.mm7.password_env")

    def resolved_secret(self) -> str:
        """The link's password or shared secret, read from the environment variable the
        link names (``password_env``, ``shared_secret_env``) when it names one."""
        try:
            return self.link.resolved_secret()
        except MissingSecret as exc:
            raise ConfigError("environment", exc.variable, str(exc)) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionsConfig:
    confirm_window_hours: float = 24.0
    """How long a pending SD waits for its Y (second confirmation)."""
    help_period_minutes: float = 60.0
    """At most one help reply per number per this period."""
    duplicate_window_seconds: float = 120.0
    """The same text from the same number to the same code within this is a re-delivery."""
    event_retention_days: int = 183
    """Events are kept this long after a subscription ends (``sdgw events purge``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchConfig:
    node: str = ""
    """This process's name among the processes dispatching from one database. ``SDGW_NODE``
    in the environment wins over it; empty (and no ``SDGW_NODE``) = host name + command +
    config path. Two live processes with one name are refused."""
    lease_seconds: float = 30.0
    """A dispatching process renews its lease every third of this; a process silent this
    long (or, on its own host, whose pid is gone) is dead, and others take up its work."""
    cluster_size: int = 1
    """Processes sharing the dispatch; each link gets 1/cluster_size of its carrier's TPS."""
    batch_size: int = 1000
    chunk: int = 64
    """Deliveries marked "sending" per transaction."""
    max_ahead: int = 0
    """Messages handed to a link whose result is not stored yet; 0 = the carrier link's
    window. A crash leaves at most max_ahead + chunk deliveries per carrier uncertain."""
    uncertain: str = "resend"
    """What happens to an uncertain delivery's parts that no receipt proved sent after
    ``uncertain_wait_seconds``: "resend" (only those parts; a duplicate if the SMSC had them
    and never echoes references) or "skip" (the subscriber may miss the edition)."""
    uncertain_wait_seconds: float = 300.0
    """How long an uncertain delivery waits for receipts echoing its parts' references."""
    unmatched_receipt_days: float = 7.0
    """Receipts that matched nothing are kept this long, then purged."""
    deadline_hours: float = 12.0
    """Transient errors are retried until this long after the dispatch starts."""
    retry_initial_seconds: float = 30.0
    retry_max_seconds: float = 600.0
    receipt_timeout_hours: float = 48.0
    """A submitted delivery without a final receipt after this is marked unknown."""
    flag_after: int = 3
    """Consecutive undeliverable editions after which a subscriber is flagged."""
    quiet_start: str = "21:00"
    quiet_end: str = "08:00"
    """No digest is submitted from quiet_start to quiet_end (newspaper time zone)."""
    misfire_grace_minutes: float = 60.0
    """A scheduled edition missed while the gateway was down runs if it is this late at most."""
    schedule: bool = True
    """Build and dispatch the configured edition slots on schedule in ``sdgw run``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleConfig:
    enabled: bool = True
    """Serve the operator console from ``sdgw run``."""
    host: str = "127.0.0.1"
    port: int = 8080
    session_hours: float = 8.0
    """A login lasts at most this long."""
    idle_minutes: float = 30.0
    """A session unused for this long ends."""
    login_max_failures: int = 5
    """Failed logins for one name from one address before that pair is locked, and each
    address's budget of failures before its attempts must wait (2 s, doubling, at most 60 s)…"""
    login_lockout_minutes: float = 15.0
    """…the lock's length (failures older than this are forgotten)."""
    stats_interval_seconds: float = 30.0
    """How often the summary tables (counts per carrier, daily figures, delivery rates) are
    refreshed; pages show the time of the last refresh."""
    secure_cookie: bool = False
    """Mark the session cookie Secure: set it when a TLS proxy serves the console."""
    page_size: int = 50
    """Rows per page in the message log and subscriber history."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsConfig:
    enabled: bool = True
    """Serve ``/metrics``, ``/health`` and ``/ready`` from ``sdgw run``."""
    host: str = "127.0.0.1"
    port: int = 9464
    refresh_seconds: float = 15.0
    """How often the figures read from the database (dispatch progress, the schema and
    database checks, the scheduler's next runs) are read again, off the reactor."""
    link_grace_seconds: float = 60.0
    """How long an enabled link may be unbound (reconnecting) before ``/ready`` says 503."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingConfig:
    level: str = "info"
    format: str = "text"
    """``text``: one readable line per record; ``json``: one JSON object per line (time,
    level, logger, message and the record's fields: carrier, number, ids …)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestConfig:
    max_bytes: int = 5_000_000
    """Article files larger than this are refused unread (a news page is well under 1 MB;
    parsing costs memory in proportion to the file)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    newspaper: NewspaperConfig
    carriers: dict[str, CarrierConfig]
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    subscriptions: SubscriptionsConfig = field(default_factory=SubscriptionsConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    templates_dir: str = ""
    """Folder of the Jinja2 templates; empty = the ``templates/`` folder shipped with sdgw."""
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    editions: EditionsConfig = field(default_factory=lambda: EditionsConfig())
    content: ContentConfig = field(default_factory=lambda: ContentConfig())
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    mm7_endpoint: Mm7EndpointConfig = field(default_factory=Mm7EndpointConfig)
    path: Path = Path("config/gateway.toml")
    """The file this was read from (set by the loader, not a key)."""

    def carrier(self, name: str) -> CarrierConfig:
        try:
            return self.carriers[name]
        except KeyError:
            known = ", ".join(sorted(self.carriers))
            raise ConfigError(
                str(self.path), f"carriers.{name}", f"not configured; have {known}"
            ) from None

    @property
    def templates_path(self) -> Path:
        if self.templates_dir:
            return (self.path.parent / self.templates_dir).resolve()
        return Path(__file__).resolve().parent.parent / "templates"

    @property
    def database_url(self) -> str:
        return resolve_database_url(self.database.url, self.path.parent)


def resolve_database_url(url: str, base_dir: Path) -> str:
    """Make a relative SQLite file path absolute against ``base_dir``."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix) :]
        if rest and rest != ":memory:" and not rest.startswith("/"):
            return prefix + str((base_dir / rest).resolve())
    return url


def config_path_from(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """The config file to use: ``--config`` wins over ``SDGW_CONFIG`` over the default."""
    if cli_value:
        return Path(cli_value)
    if environ.get(CONFIG_ENV_VAR):
        return Path(environ[CONFIG_ENV_VAR])
    return DEFAULT_CONFIG_PATH


def load_config(path: Path) -> GatewayConfig:
    """Read and validate ``path``; raise :class:`ConfigError` on any problem."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(shown, "", f"cannot read the file ({exc.strerror or exc})") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(shown, "", "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(shown, "", f"is not valid TOML ({exc})") from None
    carriers = document.get("carriers")
    if isinstance(carriers, dict):
        for name in carriers:
            if name not in CARRIER_NAMES:
                raise ConfigError(
                    shown, f"carriers.{name}", f"unknown carrier; expected one of {CARRIER_NAMES}"
                )
    config = _build(GatewayConfig, document, shown, "", exclude=("path",))
    config = dataclasses.replace(config, path=path)
    _check_semantics(config, shown)
    return config


def _check_semantics(config: GatewayConfig, shown: str) -> None:
    for name, carrier in config.carriers.items():
        key = f"carriers.{name}"
        if not carrier.short_code.isdigit():
            raise ConfigError(shown, f"{key}.short_code", "expected digits only")
        for link_key, problem in carrier.link.problems():
            raise ConfigError(shown, f"{key}.link.{link_key}", problem)
        sim = carrier.simulator
        if sim is not None:
            _check_range(shown, f"{key}.simulator.port", sim.port, 1, 65535)
            _check_range(shown, f"{key}.simulator.control_port", sim.control_port, 1, 65535)
            for stat, weight in sim.receipt_mix.items():
                if stat not in RECEIPT_STATS:
                    raise ConfigError(
                        shown, f"{key}.simulator.receipt_mix.{stat}",
                        f"unknown receipt stat; expected one of {RECEIPT_STATS}",
                    )
                if weight < 0:
                    raise ConfigError(shown, f"{key}.simulator.receipt_mix.{stat}", "expected >= 0")
            if sim.receipt_mix and sum(sim.receipt_mix.values()) <= 0:
                raise ConfigError(shown, f"{key}.simulator.receipt_mix", "expected a positive sum")
        for index, prefix in enumerate(carrier.mms.sms_only_prefixes):
            if not (prefix.isascii() and prefix.isdigit() and 1 <= len(prefix) <= 11):
                raise ConfigError(shown, f"{key}.mms.sms_only_prefixes[{index}]",
                                  f"expected 1 to 11 digits of a national number, got {prefix!r}")
        _check_mms(carrier.mms, shown, f"{key}.mms")
    _check_dispatch(config, shown)
    _check_mm7_endpoint(config, shown)
    _check_range(shown, "ingest.max_bytes", config.ingest.max_bytes, 1, 1_000_000_000)
    subs = config.subscriptions
    for attr in ("confirm_window_hours", "help_period_minutes", "duplicate_window_seconds"):
        if getattr(subs, attr) <= 0:
            raise ConfigError(shown, f"subscriptions.{attr}", "expected a number > 0")
    if subs.event_retention_days < 1:
        raise ConfigError(shown, "subscriptions.event_retention_days", "expected days >= 1")
    codes = [c.short_code for c in config.carriers.values()]
    if len(set(codes)) != len(codes):
        raise ConfigError(shown, "carriers", "expected a different short_code for each carrier")
    _check_timezone(shown, config.newspaper.timezone)
    level = config.logging.level.lower()
    if level not in ("debug", "info", "warning", "error"):
        raise ConfigError(shown, "logging.level", "expected debug, info, warning or error")
    if config.logging.format not in LOG_FORMATS:
        raise ConfigError(shown, "logging.format",
                          f'expected "text" or "json", got {config.logging.format!r}')
    _check_editions(config, shown)


def _check_timezone(shown: str, name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(shown, "newspaper.timezone",
                          f"expected an IANA time zone such as \"Asia/Shanghai\", got {name!r}"
                          ) from None


def _check_dispatch(config: GatewayConfig, shown: str) -> None:
    dispatch = config.dispatch
    for attr, low in (("cluster_size", 1), ("batch_size", 1), ("chunk", 1), ("max_ahead", 0),
                      ("flag_after", 1)):
        _check_range(shown, f"dispatch.{attr}", getattr(dispatch, attr), low, 1_000_000)
    for attr in ("deadline_hours", "retry_initial_seconds", "retry_max_seconds",
                 "receipt_timeout_hours", "misfire_grace_minutes"):
        if getattr(dispatch, attr) <= 0:
            raise ConfigError(shown, f"dispatch.{attr}", "expected a number > 0")
    for attr in ("lease_seconds", "uncertain_wait_seconds", "unmatched_receipt_days"):
        if getattr(dispatch, attr) <= 0:
            raise ConfigError(shown, f"dispatch.{attr}", "expected a number > 0")
    if dispatch.uncertain not in ("resend", "skip"):
        raise ConfigError(shown, "dispatch.uncertain", 'expected "resend" or "skip"')
    if len(dispatch.node) > 48:
        raise ConfigError(shown, "dispatch.node", "expected at most 48 characters")
    clocks = [("dispatch.quiet_start", dispatch.quiet_start),
              ("dispatch.quiet_end", dispatch.quiet_end)]
    for name, carrier in config.carriers.items():
        clocks += [(f"carriers.{name}.quiet_start", carrier.quiet_start),
                   (f"carriers.{name}.quiet_end", carrier.quiet_end)]
    for key, value in clocks:
        if value is not None and not _CLOCK.fullmatch(value):
            raise ConfigError(shown, key, f"expected a time of day as HH:MM, got {value!r}")


_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def _check_range(shown: str, key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(shown, key, f"expected a value from {low} to {high}, got {value}")


def _check_mms(mms: MmsConfig, shown: str, key: str) -> None:
    if mms.mode not in MMS_MODES:
        raise ConfigError(shown, f"{key}.mode", 'expected "wap_push" or "mm7"')
    mm7 = mms.mm7
    if mm7 is None:
        if mms.mode == "mm7":
            raise ConfigError(shown, f"{key}.mm7", 'missing; required when mode = "mm7"')
        return
    if not mm7.url.startswith(("http://", "https://")):
        raise ConfigError(shown, f"{key}.mm7.url", 'expected a URL starting with "http://"')
    if mm7.release not in MM7_RELEASES:
        raise ConfigError(shown, f"{key}.mm7.release",
                          f"expected one of {sorted(MM7_RELEASES)}")
    if not mm7.vasp_id:
        raise ConfigError(shown, f"{key}.mm7.vasp_id", "expected a VASP id")
    if mm7.timeout <= 0:
        raise ConfigError(shown, f"{key}.mm7.timeout", "expected seconds > 0")
    if mm7.rate < 0:
        raise ConfigError(shown, f"{key}.mm7.rate", "expected >= 0")
    _check_range(shown, f"{key}.mm7.window", mm7.window, 1, 10_000)
    sim = mm7.simulator
    if sim is None:
        return
    _check_range(shown, f"{key}.mm7.simulator.port", sim.port, 1, 65535)
    _check_range(shown, f"{key}.mm7.simulator.control_port", sim.control_port, 1, 65535)
    for status, weight in sim.report_mix.items():
        if status not in MM7_REPORT_STATUSES:
            raise ConfigError(shown, f"{key}.mm7.simulator.report_mix.{status}",
                              f"unknown MMStatus; expected one of {MM7_REPORT_STATUSES}")
        if weight < 0:
            raise ConfigError(shown, f"{key}.mm7.simulator.report_mix.{status}", "expected >= 0")
    if sim.report_mix and sum(sim.report_mix.values()) <= 0:
        raise ConfigError(shown, f"{key}.mm7.simulator.report_mix", "expected a positive sum")
    for attr in ("timeout_rate", "error_rate", "malformed_rate"):
        value = getattr(sim, attr)
        if not 0 <= value <= 1:
            raise ConfigError(shown, f"{key}.mm7.simulator.{attr}", "expected 0 to 1")
    if sim.report_delay < 0 or sim.tps < 0:
        raise ConfigError(shown, f"{key}.mm7.simulator", "expected report_delay and tps >= 0")


def _check_mm7_endpoint(config: GatewayConfig, shown: str) -> None:
    endpoint = config.mm7_endpoint
    _check_range(shown, "mm7_endpoint.port", endpoint.port, 1, 65535)
    _check_range(shown, "mm7_endpoint.max_body_bytes", endpoint.max_body_bytes, 1024,
                 100_000_000)
    if not endpoint.path.startswith("/"):
        raise ConfigError(shown, "mm7_endpoint.path", 'expected a path starting with "/"')
    for index, address in enumerate(endpoint.allowed_addresses):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(shown, f"mm7_endpoint.allowed_addresses[{index}]",
                              f"expected an IP address, got {address!r}") from None
    if any(c.mm7 is not None for c in config.carriers.values()) and not endpoint.username:
        raise ConfigError(shown, "mm7_endpoint.username",
                          'missing; required when a carrier has mms.mode = "mm7"')


# -- generic dataclass builder ------------------------------------------------

_TYPE_NAMES: dict[Any, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
}


def _build(cls: type, data: object, shown: str, prefix: str, exclude: tuple[str, ...] = ()) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(shown, prefix.rstrip(".") or "(top level)", "expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in exclude}
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(shown, f"{prefix}{key}", f"unknown key; expected one of: {known}")
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        key = f"{prefix}{name}"
        if name not in data:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigError(shown, key, f"missing; expected {_describe(hints[name])}")
            continue
        values[name] = _convert(hints[name], data[name], shown, key)
    return cls(**values)


def _link_config_class(value: object, shown: str, key: str) -> type[LinkConfig]:
    """The settings table of the link's protocol (``protocol``, SMPP when left out)."""
    protocol = value.get("protocol", "smpp") if isinstance(value, dict) else "smpp"
    entry = PROTOCOLS.get(protocol) if isinstance(protocol, str) else None
    if entry is None:
        expected = " or ".join(f'"{name}"' for name in PROTOCOLS)
        raise ConfigError(shown, f"{key}.protocol", f"expected {expected}, got {protocol!r}")
    return entry.link_config


def _describe(hint: Any) -> str:
    if hint in _TYPE_NAMES:
        return _TYPE_NAMES[hint]
    if dataclasses.is_dataclass(hint):
        return "a table"
    origin = typing.get_origin(hint)
    if origin is dict:
        return "a table"
    if origin is list or origin is tuple:
        return "an array"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint) if a is not type(None))
    return str(hint)


def _convert(hint: Any, value: object, shown: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return _convert(args[0], value, shown, key)
    if hint is LinkConfig:
        return _build(_link_config_class(value, shown, key), value, shown, f"{key}.")
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, shown, f"{key}.")  # type: ignore[arg-type]
    if origin is list or origin is tuple:
        item_type = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise ConfigError(shown, key, f"expected an array, got {value!r}")
        items = [_convert(item_type, item, shown, f"{key}[{index}]")
                 for index, item in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        _, value_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(shown, key, "expected a table")
        return {k: _convert(value_type, v, shown, f"{key}.{k}") for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str and isinstance(value, str):
        return value
    shown_value = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    raise ConfigError(shown, key, f"expected {_describe(hint)}, got {shown_value}")


# -- articles, editions and the MMS content server (issue 4) -------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EditionSlotConfig:
    label: str
    """How subscribers see the slot, e.g. 早报."""
    time: str
    """Local time ("HH:MM") the slot's edition goes out."""


def _default_edition_slots() -> dict[str, EditionSlotConfig]:
    return {
        "morning": EditionSlotConfig(label="早报", time="07:00"),
        "evening": EditionSlotConfig(label="晚报", time="18:00"),
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class EditionsConfig:
    slots: dict[str, EditionSlotConfig] = field(default_factory=_default_edition_slots)
    """Slot name → label and time. A ``[editions.slots.*]`` table replaces the defaults."""
    channel_weights: dict[str, float] = field(default_factory=dict)
    """Channel path (``"教育新闻"`` or ``"教育新闻/教育热点"``) → weight; heavier first.
    The longest configured path an article's channel starts with counts; others weigh 0."""
    order: dict[str, str] = field(default_factory=dict)
    """Explicit article order per edition: ``"2020-11-18/morning" = "12,7,9"`` (article
    ids); ``sdgw edition build --order`` wins over it."""
    max_articles: int = 8
    mms_max_bytes: dict[str, int] = field(default_factory=dict)
    """Carrier → MMS size limit in octets, overriding the carrier default (100 KB)."""
    mms_expiry_hours: float = 72.0
    """How long the MMS notification says the message stays retrievable."""
    sms_reference_bits: int = 8
    """Concatenation reference of the SMS digest: 8 or 16 bits."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentConfig:
    host: str = "127.0.0.1"
    port: int = 8081
    base_url: str = "http://127.0.0.1:8081"
    """How handsets reach the content server; MMS content locations start with it."""


_SLOT_NAME = re.compile(r"[a-z0-9_-]{1,32}")
_SLOT_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_ORDER_KEY = re.compile(r"(\d{4}-\d{2}-\d{2})/(.+)")


def _check_editions(config: GatewayConfig, shown: str) -> None:
    editions = config.editions
    if not editions.slots:
        raise ConfigError(shown, "editions.slots", "expected at least one slot")
    for name, slot in editions.slots.items():
        if not _SLOT_NAME.fullmatch(name):
            raise ConfigError(shown, f"editions.slots.{name}",
                              "expected a slot name of lower-case letters, digits, _ or -")
        if not slot.label.strip():
            raise ConfigError(shown, f"editions.slots.{name}.label", "expected a label")
        if not _SLOT_TIME.fullmatch(slot.time):
            raise ConfigError(shown, f"editions.slots.{name}.time", 'expected "HH:MM"')
    for key, ids in editions.order.items():
        match = _ORDER_KEY.fullmatch(key)
        if match is None or match.group(2) not in editions.slots:
            raise ConfigError(shown, f"editions.order.{key}",
                              'expected a key "YYYY-MM-DD/slot" naming a configured slot')
        try:
            date.fromisoformat(match.group(1))
            parse_article_ids(ids)
        except ValueError as exc:
            raise ConfigError(shown, f"editions.order.{key}", str(exc)) from None
    _check_range(shown, "editions.max_articles", editions.max_articles, 1, 50)
    for carrier, limit in editions.mms_max_bytes.items():
        if carrier not in CARRIER_NAMES:
            raise ConfigError(shown, f"editions.mms_max_bytes.{carrier}",
                              f"unknown carrier; expected one of {CARRIER_NAMES}")
        _check_range(shown, f"editions.mms_max_bytes.{carrier}", limit, 1024, 5_000_000)
    if editions.mms_expiry_hours <= 0:
        raise ConfigError(shown, "editions.mms_expiry_hours", "expected hours > 0")
    if editions.sms_reference_bits not in (8, 16):
        raise ConfigError(shown, "editions.sms_reference_bits", "expected 8 or 16")
    content = config.content
    _check_range(shown, "content.port", content.port, 1, 65535)
    console = config.console
    _check_range(shown, "console.port", console.port, 1, 65535)
    _check_range(shown, "console.login_max_failures", console.login_max_failures, 1, 1000)
    _check_range(shown, "console.page_size", console.page_size, 1, 1000)
    for attr in ("session_hours", "idle_minutes", "login_lockout_minutes",
                 "stats_interval_seconds"):
        if getattr(console, attr) <= 0:
            raise ConfigError(shown, f"console.{attr}", "expected a number > 0")
    metrics = config.metrics
    _check_range(shown, "metrics.port", metrics.port, 1, 65535)
    if not metrics.host.strip():
        raise ConfigError(shown, "metrics.host", "expected an address to listen on")
    _check_range(shown, "metrics.refresh_seconds", metrics.refresh_seconds, 0.1, 3600)
    _check_range(shown, "metrics.link_grace_seconds", metrics.link_grace_seconds, 0, 86400)
    if not content.base_url.startswith(("http://", "https://")):
        raise ConfigError(shown, "content.base_url", 'expected a URL starting with "http://"')


def parse_article_ids(text: str) -> list[int]:
    """``"12, 7,9"`` → ``[12, 7, 9]``; raise ValueError for anything else or a repeated id."""
    ids: list[int] = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit() or int(item) < 1:
            raise ValueError(f"expected article ids separated by commas, got {item!r}")
        if int(item) in ids:
            raise ValueError(f"article id {item} is given twice")
        ids.append(int(item))
    return ids
