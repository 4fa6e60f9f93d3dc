"""The three gateway APIs: a request becomes a `Call` (or a direct answer such as a 404), and the
answers every gateway gives in its own shape (429) or that a broken server gives (5xx, garbage)."""

from __future__ import annotations

import math
import random
from dataclasses import replace

from ..model import Registry
from ..policy import Config
from ..wire import JSON, REASONS, Request, Response, html_page
from . import greenapi, wamm, wbiztool
from .base import NOT_FOUND, Call

__all__ = ["Call", "malformed", "route", "server_error", "too_many"]

ROUTES = (("/api2/", wamm.route), ("/api/v1/", wbiztool.route), ("/waInstance", greenapi.route))
TOO_MANY = {"wamm": wamm.TOO_MANY, "wbiztool": wbiztool.TOO_MANY, "greenapi": greenapi.TOO_MANY}
SERVER_ERRORS = (500, 502, 503)


def route(request: Request, registry: Registry, config: Config) -> Call | Response:
    for prefix, route_gateway in ROUTES:
        if request.path.startswith(prefix):
            return route_gateway(request, registry, config)
    return NOT_FOUND


def too_many(provider: str, retry_after_s: float | None) -> Response:
    """The provider's 429; with a Retry-After header (whole seconds, at least 1) when given."""
    response = TOO_MANY[provider]
    if retry_after_s is None:
        return response
    return replace(response, headers=(("Retry-After", str(max(1, math.ceil(retry_after_s)))),))


def server_error(rng: random.Random) -> Response:
    """A 500/502/503 with an HTML body, as a proxy in front of a gateway answers."""
    status = rng.choice(SERVER_ERRORS)
    return html_page(status, f"{status} {REASONS[status]}")


def malformed(response: Response, rng: random.Random) -> Response:
    """A 200 whose body does not parse: the real answer cut in half, or an HTML page."""
    if rng.random() < 0.5:
        return Response(200, response.body[: max(1, len(response.body) // 2)], JSON)
    return html_page(200, "Service temporarily unavailable")
