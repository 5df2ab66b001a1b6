"""The simulator's small local control endpoint (HTTP + JSON, loopback only).

Protocol-neutral: it works the same whatever the simulated carrier speaks (SMPP, CMPP, …).

``POST /mo``       {"from", "to", "text", "wait"?} → injects an MO as if a handset
                   sent it, then returns what the carrier received back for that
                   number within ``wait`` seconds (multi-part SMS reassembled).
``GET  /status``   protocol, counters and bound clients.
``GET  /received`` every submit the carrier accepted (destination, source, UDH, message id,
                   coding name or null), oldest first, as far as it remembers
                   (``keep_received``).
``GET  /parts``    every submit ever accepted, counted per number and UDH:
                   {"parts": {"<to>": {"<udh hex or ''>": count}}, "accepted": total}.
``POST /faults``   {"refuse_binds"?, "response_delay"?, "withhold_responses"?}.
``POST /drop``     cuts every client connection.
``POST /stop``     stops accepting: closes the port and cuts every client (the carrier is
                   gone; the control endpoint stays up).
``POST /start``    accepts again on the same port.
``POST /garbage``  {"hex"}: writes raw bytes to every client.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.web import resource, server

from carriers.simulator.carrier_service import ReceivedSubmit, SimulatedCarrier

MAX_BODY = 64 * 1024
MAX_WAIT = 30.0
QUIET_AFTER_REPLY = 0.5
"""Once a reply came, stop collecting after this long without another part."""


class BadRequest(ValueError):
    pass


def reassemble(parts: list[ReceivedSubmit]) -> list[dict[str, Any]]:
    """Group concatenated parts (UDH IE 0x00/0x08) into whole messages, in arrival order."""
    messages: list[dict[str, Any]] = []
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    for part in parts:
        concat = _concat_info(part.udh)
        if concat is None:
            messages.append({"from": part.source, "to": part.destination, "text": part.text,
                             "parts": 1, "message_ids": [part.message_id],
                             **({"link_id": part.link_id} if part.link_id else {})})
            continue
        reference, total, seq = concat
        key = (part.destination, reference)
        group = groups.get(key)
        if group is None:
            group = {"from": part.source, "to": part.destination, "texts": {}, "total": total,
                     "message_ids": [], **({"link_id": part.link_id} if part.link_id else {})}
            groups[key] = group
            messages.append(group)
        group["texts"][seq] = part.text
        group["message_ids"].append(part.message_id)
    result = []
    for message in messages:
        if "texts" in message:
            texts = message.pop("texts")
            total = message.pop("total")
            message["text"] = "".join(texts[i] for i in sorted(texts))
            message["parts"] = len(texts)
            message["complete"] = len(texts) == total
        result.append(message)
    return result


def parts_report(simulator: SimulatedCarrier) -> dict[str, Any]:
    """Accepted submits grouped by number, then by UDH hex ('' when none), with the total."""
    parts: dict[str, dict[str, int]] = {}
    for (destination, udh), count in simulator.parts.items():
        parts.setdefault(destination, {})[udh] = count
    return {"parts": parts, "accepted": simulator.counters["submits"]}


def _concat_info(udh: bytes) -> tuple[int, int, int] | None:
    position = 1
    while position + 1 < len(udh):
        iei, length = udh[position], udh[position + 1]
        value = udh[position + 2 : position + 2 + length]
        if iei == 0x00 and length == 3 and len(value) == 3:
            return value[0], value[1], value[2]
        if iei == 0x08 and length == 4 and len(value) == 4:
            return (value[0] << 8) | value[1], value[2], value[3]
        position += 2 + length
    return None


class _JsonResource(resource.Resource):
    isLeaf = True

    def __init__(self, simulator: SimulatedCarrier, clock: IReactorTime) -> None:
        super().__init__()
        self.simulator = simulator
        self.clock = clock

    def render_GET(self, request: server.Request) -> bytes:
        if request.path == b"/received":
            return _reply(request, 200, {"received": [
                {"to": r.destination, "from": r.source, "udh": r.udh.hex(),
                 "id": r.message_id, "coding": r.coding, "text": r.text}
                for r in self.simulator.received
            ]})
        if request.path == b"/parts":
            return _reply(request, 200, parts_report(self.simulator))
        if request.path != b"/status":
            return _reply(request, 404, {"error": "not found"})
        sim = self.simulator
        return _reply(request, 200, {
            "carrier": sim.settings.carrier,
            "protocol": sim.protocol,
            "port": sim.port,
            "bound_clients": sim.bound_clients,
            "accepting": sim.accepting,
            "counters": sim.counters,
        })

    def render_POST(self, request: server.Request) -> bytes | int:
        try:
            body = _read_json(request)
            if request.path == b"/mo":
                return self._mo(request, body)
            if request.path == b"/faults":
                return self._faults(request, body)
            if request.path == b"/drop":
                return _reply(request, 200, {"dropped": self.simulator.drop_connections()})
            if request.path == b"/stop":
                self.simulator.stop_accepting()
                return _reply(request, 200, {"accepting": self.simulator.accepting})
            if request.path == b"/start":
                try:
                    self.simulator.start_accepting()
                except OSError as exc:  # the port was taken meanwhile
                    return _reply(request, 409, {"error": str(exc)})
                return _reply(request, 200, {"accepting": self.simulator.accepting})
            if request.path == b"/garbage":
                data = bytes.fromhex(_field(body, "hex", str))
                return _reply(request, 200, {"sent_to": self.simulator.send_garbage(data)})
        except (BadRequest, ValueError) as exc:
            return _reply(request, 400, {"error": str(exc)})
        return _reply(request, 404, {"error": "not found"})

    def _faults(self, request: server.Request, body: dict[str, Any]) -> bytes:
        faults = self.simulator.faults
        for key, kind in (("refuse_binds", bool), ("withhold_responses", bool),
                          ("response_delay", float)):
            if key in body:
                value = body[key]
                if kind is float and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                if not isinstance(value, kind):
                    raise BadRequest(f"{key}: expected {kind.__name__}")
                setattr(faults, key, value)
        return _reply(request, 200, {"refuse_binds": faults.refuse_binds,
                                     "withhold_responses": faults.withhold_responses,
                                     "response_delay": faults.response_delay})

    def _mo(self, request: server.Request, body: dict[str, Any]) -> int:
        source = _field(body, "from", str)
        destination = _field(body, "to", str)
        text = _field(body, "text", str)
        wait = body.get("wait", 5.0)
        if not isinstance(wait, int | float) or isinstance(wait, bool) or not 0 <= wait <= MAX_WAIT:
            raise BadRequest(f"wait: expected seconds from 0 to {MAX_WAIT}")
        if not source or not destination:
            raise BadRequest("from and to must not be empty")
        collected: list[ReceivedSubmit] = []
        done = defer.Deferred[None]()
        timers: dict[str, Any] = {}
        wanted = {source, source.lstrip("+"), _national(source)}

        def finish() -> None:
            if not done.called:
                done.callback(None)

        def on_submit(submit: ReceivedSubmit) -> None:
            if submit.destination in wanted or _national(submit.destination) in wanted:
                collected.append(submit)
                quiet = timers.get("quiet")
                if quiet is not None and quiet.active():
                    quiet.cancel()
                timers["quiet"] = self.clock.callLater(QUIET_AFTER_REPLY, finish)

        stop_watching = self.simulator.watch(on_submit)
        timers["limit"] = self.clock.callLater(float(wait), finish)
        try:
            self.simulator.inject_mo(source, destination, text)
        except ValueError as exc:  # the protocol cannot carry it (a number or text too long)
            stop_watching()
            timers["limit"].cancel()
            raise BadRequest(str(exc)) from None

        def respond(_: object) -> None:
            stop_watching()
            for timer in timers.values():
                if timer.active():
                    timer.cancel()
            if request.finished or getattr(request, "_disconnected", False):
                return
            request.write(_reply(request, 200, {
                "injected": {"from": source, "to": destination, "text": text},
                "replies": reassemble(collected),
            }))
            request.finish()

        done.addCallback(respond)
        return server.NOT_DONE_YET


def _national(number: str) -> str:
    digits = number.lstrip("+")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            return digits[len(prefix):]
    return digits


def _field(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if not isinstance(value, kind):
        raise BadRequest(f"{key}: expected {kind.__name__}")
    return value


def _read_json(request: server.Request) -> dict[str, Any]:
    raw = request.content.read(MAX_BODY + 1) if request.content is not None else b""
    if len(raw) > MAX_BODY:
        raise BadRequest("body too large")
    if not raw:
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _reply(request: server.Request, code: int, payload: dict[str, Any]) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def control_site(simulator: SimulatedCarrier, clock: IReactorTime) -> server.Site:
    site = server.Site(_JsonResource(simulator, clock))
    site.displayTracebacks = False
    site.noisy = False
    return site
