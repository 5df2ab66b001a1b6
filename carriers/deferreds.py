"""Small Deferred helpers shared by the links and the gateway's services."""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime


def fire_within(
    deferred: defer.Deferred[None], seconds: float, clock: IReactorTime
) -> defer.Deferred[None]:
    """Fire when ``deferred`` does or after ``seconds``, whichever is first; never errback."""
    result = defer.Deferred[None]()

    def done(_: object) -> None:
        if not result.called:
            result.callback(None)

    timer = clock.callLater(seconds, done, None)

    def cancel_timer(_: object) -> None:
        if timer.active():
            timer.cancel()
        done(None)

    deferred.addBoth(cancel_timer)
    return result
