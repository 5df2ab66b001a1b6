"""The one way a command runs the reactor (``sdgw run``, ``dispatch``, ``demo``, ``sim serve``):
start the service tree when the reactor runs, hand over to the command's work, and on
SIGTERM, SIGINT or the work's end stop the tree in order (dispatch loops give back and drain,
links unbind, database threads last) before the process exits."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from twisted.internet.error import ReactorNotRunning

from gateway.app import Gateway, OrderedServices, build_gateway
from gateway.config import GatewayConfig
from gateway.db.engine import ensure_schema_current, make_engine
from gateway.db.file_lock import hold_database
from gateway.errors import GatewayError
from gateway.gc_policy import tune_for_long_run

log = logging.getLogger(__name__)


class CannotStart(GatewayError):
    """The service tree did not start, e.g. a port is taken: ``sdgw: cannot start the …``."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"cannot start the {what}: {reason}")
        self.reason = reason


def installed_reactor() -> Any:
    """Twisted's global reactor."""
    # Imported when asked for, not at the top: importing it installs the default reactor,
    # which nothing should do at import time (tests, and programs that choose another).
    from twisted.internet import reactor

    return reactor


def stop_reactor() -> None:
    """End :func:`run_until_stopped` (the tree is stopped first); nothing if already ending."""
    with contextlib.suppress(ReactorNotRunning):  # already stopping (a signal came first)
        installed_reactor().stop()


def run_until_stopped(root: OrderedServices, what: str, *,
                      then: Callable[[], object] | None = None,
                      on_stop: Callable[[], None] | None = None) -> None:
    """Run the reactor until SIGTERM, Ctrl-C or :func:`stop_reactor`: start ``root`` when it
    runs, then call ``then`` (the command's work, which calls :func:`stop_reactor` when it is
    done; without it the tree runs until a signal). When the reactor is to stop, for whatever
    reason, ``on_stop`` is called, then ``root`` is stopped, and only then does the reactor
    end. Raises :class:`CannotStart` (one line for the user, after the reactor ended) when
    the tree did not start."""
    reactor = installed_reactor()
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
        if on_stop is not None:
            on_stop()
        log.info("stopping the %s", what)
        return root.stopService() if root.running else None

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    tune_for_long_run()  # the tree is built: freeze it out of the collector's scans
    reactor.run()
    log.info("%s stopped", what)
    if failures:  # one line a user can act on, e.g. which port is taken
        raise CannotStart(what, failures[0])


def process_gateway(config: GatewayConfig, command: str, **options: Any
                    ) -> tuple[Gateway, list[bool]]:
    """The gateway of this process: schema checked, the SQLite file ours alone, the dispatch
    lease taken (a second process is refused with one line), the reactor stopped when the
    lease is lost (then the list returned holds True)."""
    engine = make_engine(config.database_url)
    ensure_schema_current(engine, config.path)
    exclusive = hold_database(engine, command)
    lost: list[bool] = []

    def lease_lost() -> None:
        lost.append(True)
        stop_reactor()

    gateway = build_gateway(config, engine, reactor=installed_reactor(), command=command,
                            exclusive=exclusive, on_lease_lost=lease_lost, **options)
    return gateway, lost
