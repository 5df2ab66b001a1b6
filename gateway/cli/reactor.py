"""Running the service tree on the real reactor: ``sdgw run``, ``sdgw dispatch`` and
``sdgw sim serve``. One way to run: start the tree when the reactor runs, and on SIGTERM,
SIGINT or the work's end stop it in order (dispatch loops give back and drain, links
unbind, database threads last) before the process exits."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.app import Gateway, OrderedServices, build_gateway, build_simulator
from gateway.config import GatewayConfig
from gateway.db.engine import ensure_schema_current, make_engine
from gateway.db.file_lock import DatabaseInUse, hold_database
from gateway.errors import GatewayError

log = logging.getLogger(__name__)


def run_gateway(config: GatewayConfig, *, with_simulators: bool = True) -> int:
    """Start everything, run until SIGTERM/SIGINT, stop gracefully (links unbind)."""

    gateway, lost = _build(config, "run", with_simulators=with_simulators)
    code = _run_until_stopped(gateway.root, f"gateway for {config.newspaper.name}")
    return 1 if lost else code


def run_dispatch(config: GatewayConfig, edition_id: int, *, ignore_quiet_hours: bool) -> int:
    """``sdgw dispatch --edition N``: send (or finish sending) one edition from this process,
    then stop; SIGTERM or Ctrl-C stops it cleanly first. 0 when done or stopped, 2 when the
    edition cannot be sent (the reason is printed).

    On a SQLite database that a running gateway holds (one writer per file), the edition is
    handed to that gateway instead, which sends it, and this waits until it is done."""
    from twisted.internet import defer

    _check_edition_sendable(config, edition_id)
    try:
        gateway, lost = _build(config, "dispatch", with_simulators=False, with_console=False,
                               schedule=False, with_content=False,
                               quiet_hours=not ignore_quiet_hours)
    except DatabaseInUse as held:
        return _hand_over(config, edition_id, held, ignore_quiet_hours=ignore_quiet_hours)
    assert gateway.dispatch is not None
    runner = gateway.dispatch.runner
    problems: list[str] = []

    def send() -> None:
        def failed(failure: Any) -> None:
            failure.trap(GatewayError)
            problems.append(str(failure.value))

        sending = defer.ensureDeferred(runner.dispatch(edition_id))
        sending.addErrback(failed)
        sending.addErrback(lambda f: problems.append(f.getErrorMessage()) or log.error(
            "dispatch of edition #%d failed: %s", edition_id, f.getTraceback()))
        sending.addBoth(lambda _: _stop_reactor())

    code = _run_until_stopped(gateway.root, f"dispatch of edition #{edition_id}", then=send)
    for problem in problems:
        print(f"sdgw: {problem}", flush=True)
    if problems:
        return 2
    return 1 if lost else code


def _check_edition_sendable(config: GatewayConfig, edition_id: int) -> None:
    """Refuse, before any link is opened, an edition that does not exist or is not built:
    the :class:`EditionError` that ``freeze_edition`` would raise once every SMSC is bound."""
    from gateway.db.edition_models import EDITION_BUILT, EDITION_FROZEN, Edition
    from gateway.db.engine import make_session_factory
    from gateway.editions.build import EditionError

    engine = make_engine(config.database_url, pool_size=1, read_only=True)
    try:
        ensure_schema_current(engine, config.path)
        with make_session_factory(engine)() as session:
            edition = session.get(Edition, edition_id)
            if edition is None:
                raise EditionError(f"there is no edition #{edition_id}")
            if edition.status not in (EDITION_BUILT, EDITION_FROZEN):
                raise EditionError(
                    f"edition {edition.newspaper_date.isoformat()}/{edition.slot} "
                    f"(#{edition.id}) is not built (status {edition.status}); "
                    "build it before dispatch")
    finally:
        engine.dispose()


def _hand_over(config: GatewayConfig, edition_id: int, held: DatabaseInUse, *,
               ignore_quiet_hours: bool, poll: float = 1.0) -> int:
    """Create the edition's dispatches for the gateway that holds the SQLite file (its next
    heartbeat starts them) and wait until they are done, or until the holder has gone (then
    send it here). SIGTERM or Ctrl-C ends the wait (exit 0); the dispatch goes on there."""
    from sqlalchemy import select

    from gateway.db.dispatch_models import Dispatch
    from gateway.db.engine import make_session_factory
    from gateway.dispatch.runner import prepare_dispatches

    engine = make_engine(config.database_url)
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        ids = prepare_dispatches(
            session, edition_id, list(config.carriers), cutoff=now,
            deadline=now + timedelta(hours=config.dispatch.deadline_hours), now=now)
    print(f"sdgw: the database is held by {held.holder}; edition #{edition_id} is handed to "
          "it (its quiet hours apply) and sent there; waiting until it is done (Ctrl-C stops "
          "waiting, not the dispatch)", flush=True)
    def stop_waiting(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_waiting)
    try:
        while True:
            with sessions() as session:
                statuses = set(session.scalars(select(Dispatch.status)
                                               .where(Dispatch.id.in_(ids))))
            if statuses <= {"done"}:
                return 0
            try:
                hold_database(engine, "dispatch")
            except DatabaseInUse:
                time.sleep(poll)
                continue
            print("sdgw: the gateway holding the database stopped; sending here", flush=True)
            break
    except KeyboardInterrupt:
        print("sdgw: stopped waiting; the gateway holding the database goes on sending",
              flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        engine.dispose()
    return run_dispatch(config, edition_id, ignore_quiet_hours=ignore_quiet_hours)


def _build(config: GatewayConfig, command: str, **options: Any) -> tuple[Gateway, list[bool]]:
    """The gateway of this process: schema checked, the SQLite file ours alone, the dispatch
    lease taken (a second process is refused with one line), the reactor stopped when the
    lease is lost."""
    from twisted.internet import reactor

    engine = make_engine(config.database_url)
    ensure_schema_current(engine, config.path)
    exclusive = hold_database(engine, command)
    lost: list[bool] = []

    def lease_lost() -> None:
        lost.append(True)
        _stop_reactor()

    gateway = build_gateway(config, engine, reactor=reactor, command=command,
                            exclusive=exclusive, on_lease_lost=lease_lost, **options)
    return gateway, lost


def _stop_reactor() -> None:
    from twisted.internet import reactor
    from twisted.internet.error import ReactorNotRunning

    with contextlib.suppress(ReactorNotRunning):  # already stopping (a signal came first)
        reactor.stop()


def serve_simulator(
    config: GatewayConfig, carrier: str, *, port: int | None, control_port: int | None
) -> int:
    from twisted.internet import reactor

    carrier_config = config.carrier(carrier)
    if carrier_config.simulator is None:
        raise GatewayError(f"{config.path}: carriers.{carrier}.simulator: not configured")
    root = OrderedServices()
    build_simulator(carrier, carrier_config, reactor=reactor, parent=root, port=port,
                    control_port=control_port)
    return _run_until_stopped(root, f"{carrier} simulator")


def _run_until_stopped(root: OrderedServices, what: str,
                       then: Callable[[], None] | None = None) -> int:
    from twisted.internet import reactor

    failures: list[str] = []

    def start() -> None:
        try:
            root.startService()
        except Exception as exc:  # e.g. a port already in use
            failures.append(str(exc))
            log.debug("could not start the %s", what, exc_info=True)
            reactor.stop()
            return
        log.info("%s running; stop with Ctrl-C or SIGTERM", what)
        if then is not None:
            then()

    def stop() -> object:
        log.info("stopping the %s", what)
        return root.stopService() if root.running else None

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    reactor.run()
    log.info("%s stopped", what)
    for failure in failures:  # one line a user can act on, e.g. which port is taken
        print(f"sdgw: cannot start the {what}: {failure}", file=sys.stderr, flush=True)
    return 2 if failures else 0
