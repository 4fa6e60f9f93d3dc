"""The simulator behind one async request handler: the gateways, admission and the control API.

This is the one place that reads the clock; everything below it takes `now`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from . import gateways
from .gateways import Call
from .model import Clock, Registry, Traffic
from .policy import Policy
from .push import Pusher
from .wire import Request, Response, json_response

CONTROL_PREFIX = "/_sim/"

#: `admit` decides to hold the request and close the connection without answering
HOLD = None


class Simulator:
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or Clock()
        self.registry = Registry()
        self.traffic = Traffic()
        self.policy = Policy()
        #: the gateways' pushes (webhooks, GREEN-API's notification queue); run by the server
        self.pusher = Pusher(self.clock, lambda: self.policy, lambda: self.registry)

    # -- control ---------------------------------------------------------------------------

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge `changes` into the config (all or nothing); return the resulting config."""
        if not isinstance(changes, dict):
            raise ValueError("config must be an object")
        settings = {k: v for k, v in changes.items() if k != "credentials"}
        change = self.policy.prepare(settings, self.clock())
        self.registry.add_credentials(changes.get("credentials", []))
        self.policy.apply(change)
        return self.policy.config.to_json()

    def add_messages(self, messages: Any) -> int:
        """Add a list of message objects (all or nothing); return how many. Each one's life is
        pushed as it goes where pushes are configured."""
        added = self.registry.add_messages(messages, self.clock())
        for provider, credential, msg in added:
            self.pusher.schedule(provider, credential, msg)
        return len(added)

    def reset(self) -> None:
        """Forget messages, accounts, stats and config (the clock keeps running)."""
        self.registry = Registry()
        self.traffic = Traffic()
        self.policy = Policy()
        self.pusher.reset()

    def advance_clock(self, seconds: float) -> float:
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise ValueError("this simulator's clock cannot be advanced")
        return float(advance(seconds))

    # -- requests --------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response | None:
        """The answer to `request`, or None to close the connection without one."""
        if request.path.startswith(CONTROL_PREFIX):
            return control(self, request)
        traffic = self.traffic
        traffic.enter()
        outcome = "timeout"
        try:
            response = await self._gateway(request)
            if response is not None:
                outcome = str(response.status)
            return response
        finally:
            traffic.leave(outcome)

    async def _gateway(self, request: Request) -> Response | None:
        await self._long_poll(request)
        now = self.clock()
        routed = gateways.route(request, self.registry, self.policy.config)
        response = self.admit(routed, now) if isinstance(routed, Call) else routed
        if response is HOLD:
            await asyncio.sleep(self.policy.config.timeout_hold_s)
            return None
        delay_s = self.policy.latency_s()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        return response

    async def _long_poll(self, request: Request) -> None:
        """GREEN-API's receiveNotification waits (its receiveTimeout, 5 to 60 s, at most
        `notification_wait_max_s`) while the instance's queue is empty."""
        parts = request.path.strip("/").split("/")
        if len(parts) != 3 or parts[1] != "receiveNotification" or not parts[0].startswith("waInstance"):
            return
        timeout = request.query.get("receiveTimeout", "5")
        wait_s = min(float(timeout) if timeout.isdigit() else 5.0, self.policy.config.notification_wait_max_s)
        await self.pusher.wait_for(parts[0][len("waInstance") :], wait_s)

    def admit(self, call: Call, now: float) -> Response | None:
        """Throttle, rate limit, then fault draw, then the gateway's own answer."""
        policy = self.policy
        if call.credential is not None:
            self.traffic.count(call.credential, call.method, call.msg_id)
            wait_s = policy.throttle_left(call.credential, now)
            if wait_s is None:
                limits = policy.limits_for(call.provider, call.credential)
                wait_s = self.traffic.admit(call.credential, call.method, limits, now)
            if wait_s is not None:
                return gateways.too_many(call.provider, wait_s if policy.config.retry_after else None)
        fault = policy.draw_fault()
        if fault is not None:
            self.traffic.faults[fault] += 1
        if fault == "timeout":
            return HOLD
        if fault == "5xx":
            return gateways.server_error(policy.rng)
        response = call.answer(now)
        if fault == "malformed":
            return gateways.malformed(response, policy.rng)
        return response


def control(sim: Simulator, request: Request) -> Response:
    """`/_sim/...`: JSON in, JSON out; a bad payload is a 400 with `{"error": ...}`."""
    handler = CONTROL_ROUTES.get((request.method, request.path.rstrip("/")))
    if handler is None:
        return json_response(404, {"error": f"no control endpoint {request.method} {request.path}"})
    try:
        payload = request.json() if request.body else {}
        return json_response(200, handler(sim, payload))
    except (ValueError, TypeError) as exc:  # bad JSON, or a value of the wrong shape
        return json_response(400, {"error": str(exc)})


def _messages(sim: Simulator, payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValueError('expected {"messages": [...]}')
    return {"added": sim.add_messages(payload.get("messages"))}


def _reset(sim: Simulator, payload: Any) -> dict[str, Any]:
    sim.reset()
    return {"reset": True}


def _clock(sim: Simulator, payload: Any) -> dict[str, Any]:
    advance_s = payload.get("advance_s", 0) if isinstance(payload, dict) else None
    if isinstance(advance_s, bool) or not isinstance(advance_s, int | float) or advance_s < 0:
        raise ValueError('expected {"advance_s": seconds >= 0}')
    return {"now": sim.advance_clock(advance_s)}


CONTROL_ROUTES: dict[tuple[str, str], Callable[[Simulator, Any], dict[str, Any] | Any]] = {
    ("POST", "/_sim/messages"): _messages,
    ("POST", "/_sim/config"): lambda sim, payload: {"config": sim.configure(payload)},
    ("GET", "/_sim/config"): lambda sim, payload: {"config": sim.policy.config.to_json()},
    ("GET", "/_sim/stats"): lambda sim, payload: sim.traffic.snapshot(),
    ("GET", "/_sim/requests"): lambda sim, payload: {"by_message": sim.traffic.per_message()},
    ("GET", "/_sim/push"): lambda sim, payload: sim.pusher.snapshot(),
    ("POST", "/_sim/reset"): _reset,
    ("POST", "/_sim/clock"): _clock,
    ("GET", "/_sim/health"): lambda sim, payload: {"ok": True, "now": sim.clock()},
}
