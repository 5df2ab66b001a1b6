"""Operating the gateway: Prometheus metrics, health and readiness, the console's Links page.

* :mod:`~gateway.operations.link_board` — each link's state and figures as people read them
  (state and since when, in flight, TPS cap and current rate, last error, the simulator);
* :mod:`~gateway.operations.inbound_figures` — MOs by keyword outcome, replies sent;
* :mod:`~gateway.operations.database_figures` — what is read from the database (dispatch
  progress, the schema's revision), as plain functions of a session;
* :mod:`~gateway.operations.refresher` — reads those off the reactor on a timer and keeps the
  latest, so a scrape never queries the database;
* :mod:`~gateway.operations.readiness` — whether the gateway is ready, and what is wrong (pure);
* :mod:`~gateway.operations.collectors` — ``prometheus_client`` collectors over all of these;
* :mod:`~gateway.operations.resources` — ``/metrics``, ``/health``, ``/ready`` over HTTP;
* :mod:`~gateway.operations.service` — the services ``sdgw run`` starts for them.
"""
