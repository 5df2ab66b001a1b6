"""The protocol-neutral half of every carrier link.

A carrier link is a sans-IO session (SMPP's ESME, CMPP's SP client, …) driven by one Twisted
transport.  What all of them share lives here:

* :mod:`carriers.link.channel` frames, numbers and decodes PDUs for any length-prefixed
  protocol, given the protocol's codec;
* :mod:`carriers.link.flow` is the flow control every client session uses: the window of
  requests in flight, the TPS token bucket, the interactive lane before the bulk lane, the
  throttling pause with backoff, response timeouts and the keep-alive clock;
* :mod:`carriers.link.events` names what a session tells its transport;
* :mod:`carriers.link.transport` is the Twisted service that keeps a connection up and moves
  bytes, timers and acknowledgements between the socket, the session and the gateway;
* :mod:`carriers.link.api` is what the gateway sees: :class:`~carriers.link.api.CarrierLink`.
"""
