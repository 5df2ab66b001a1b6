"""A carrier link in a worker process of its own, so its socket and codec use a second core.

With ``link.own_process = true`` the gateway keeps a
:class:`~gateway.link_process.proxy.LinkProcess` where it would keep the link: the same
:class:`~carriers.link.api.CarrierLink` face to dispatch, replies, metrics and the console.
The real link (the protocol's session, codec and backpressure, unchanged) runs in a child
Python process (:mod:`gateway.link_process.worker`), and the two talk over a pair of pipes
in length-prefixed frames of batched operations
(:mod:`gateway.link_process.frames`):

* down: submits (one frame per run of messages), answers to MOs and receipts once the parent
  has stored them, requests (bind now, give back queued submits, stop);
* up: submit results, MOs and receipts read, log records, and a status snapshot a few times a
  second (for ``/metrics`` and the Links page).

The child acknowledges an MO or receipt to the carrier only when the parent's answer comes
down, exactly as an in-process link acknowledges after the commit.  If the child dies, every
submit it had not answered resolves UNANSWERED (the dispatch's uncertain path decides about
those parts, as after a lost connection), the carrier re-delivers what was not acknowledged,
and a new child is started after a pause.  A child whose parent goes away (end of its input)
logs out and exits.
"""
