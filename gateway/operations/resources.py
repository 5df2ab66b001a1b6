"""``/metrics``, ``/health`` and ``/ready`` over HTTP (twisted.web, answered on the reactor
from what is in memory: no request ever waits for the database)."""

from __future__ import annotations

import json
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from twisted.web import resource, server
from twisted.web.iweb import IRequest

from gateway.operations.readiness import Readiness


def _json(request: IRequest, code: int, payload: dict[str, object]) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n"


class _Leaf(resource.Resource):
    isLeaf = True

    def render_HEAD(self, request: IRequest) -> bytes:
        return self.render_GET(request)  # type: ignore[attr-defined,no-any-return]


class MetricsResource(_Leaf):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self._registry = registry

    def render_GET(self, request: IRequest) -> bytes:
        body = generate_latest(self._registry)
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        return body


class HealthResource(_Leaf):
    """Alive: the process answers (the reactor turns)."""

    def render_GET(self, request: IRequest) -> bytes:
        return _json(request, 200, {"status": "alive"})


class ReadyResource(_Leaf):
    def __init__(self, assess: Callable[[], Readiness]) -> None:
        super().__init__()
        self._assess = assess

    def render_GET(self, request: IRequest) -> bytes:
        readiness = self._assess()
        return _json(request, 200 if readiness.ready else 503, readiness.as_json())


class _Root(resource.Resource):
    def getChild(self, path: bytes, request: IRequest) -> resource.Resource:
        if path == b"":
            return resource.NoResource("try /metrics, /health or /ready")
        return super().getChild(path, request)


def operations_site(registry: CollectorRegistry, assess: Callable[[], Readiness]
                    ) -> server.Site:
    root = _Root()
    root.putChild(b"metrics", MetricsResource(registry))
    root.putChild(b"health", HealthResource())
    root.putChild(b"ready", ReadyResource(assess))
    site = server.Site(root)
    site.displayTracebacks = False
    site.noisy = False
    return site
