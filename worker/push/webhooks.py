"""``statuswatch webhooks``: the webhook receiver, aiohttp's own server in one asyncio process,
its store calls through ``redis.asyncio`` (one observe.lua call per status pushed).

One URL per account: ``POST /webhooks/greenapi/<account>`` (the account's ``webhook_token``
as ``Authorization: Bearer <token>``, GREEN-API's webhookUrlToken) and ``POST
/webhooks/wamm/<account>/<secret>`` (WAMM.chat documents no authentication: the account's
``webhook_secret`` is the URL's last segment). Secrets are compared in constant time.

Answers: 200 for every push taken in (a status applied or kept for its track request, a
duplicate, a kind of push that says no status: counted); a clear 4xx, its reason in
``{"error": ...}``, for what cannot be attributed or read (404 no such webhook, 401 a wrong
secret, 403 a body naming another instance, 400 a body that is not the gateway's, 413 too
large); 503 with Retry-After only while the push cannot be stored (the store does not answer,
answers with an error, or a bug), so the gateway resends (GREEN-API after 60 s, WAMM.chat up
to 5 times) and nothing is lost. Never another 5xx.
The access log masks the WAMM secret segment; the log is redacted of every account secret.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio
import redis.exceptions
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from config import Account, Accounts, Settings
from worker.push.ingest import AsyncIngest
from worker.push.parse import BadPush, Parsed, greenapi_body, same_instance, wamm_body
from worker.store import Store

log = logging.getLogger("statuswatch.webhooks")

#: the store's failures that make a push worth resending (503): it did not answer
STORE_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.BusyLoadingError)
#: the longest one push's store calls may take before the answer is a 503
STORE_TIMEOUT_S = 5.0
RETRY_AFTER_S = 10
MASK = "***"


class Refused(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


def masked_path(path: str) -> str:
    """A request path fit for a log line: the WAMM secret segment (and anything after it) masked."""
    parts = path.split("/")
    if len(parts) > 4 and parts[1:3] == ["webhooks", "wamm"]:
        parts[4:] = [MASK]
    return "/".join(parts)[:200]


class AccessLog(AbstractAccessLogger):
    """One line per request: peer, method, masked path (no query), status, answer time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %d %.1f ms", request.remote, request.method, masked_path(request.path), response.status,
            time * 1000,
        )  # fmt: skip


def same_secret(given: str, ours: str | None) -> bool:
    return ours is not None and hmac.compare_digest(given.encode("utf-8", "replace"), ours.encode("utf-8"))


class Receiver:
    """The receiver's routes over one store (``ingest``) and this process's accounts."""

    def __init__(self, settings: Settings, accounts: Accounts | None, ingest: AsyncIngest) -> None:
        self.settings, self.accounts, self.ingest = settings, accounts, ingest

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.push.max_body_bytes)
        app.add_routes([
            web.post("/webhooks/greenapi/{account}", self._handler(self.greenapi)),
            web.post("/webhooks/wamm/{account}/{secret}", self._handler(self.wamm)),
            web.get("/health", self.health),
        ])  # fmt: skip
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    def _handler(self, route: Callable[[web.Request], Awaitable[dict[str, Any]]]) -> Any:
        async def handle(request: web.Request) -> web.Response:
            try:
                return web.json_response({"ok": True, **await route(request)})
            except Refused as refused:
                await self._count({f"push:refused:{refused.status}": 1})
                return web.json_response({"error": refused.reason}, status=refused.status, headers=refused.headers)
            except Exception:  # the store answered with an error, or a bug: keep the push, have it resent
                log.exception("webhooks: a push could not be taken in: 503, the gateway resends it")
                await self._count({"push:refused:503": 1})
                later = {"Retry-After": str(RETRY_AFTER_S)}
                return web.json_response({"error": "the push could not be stored; send it again later"}, status=503,
                                         headers=later)  # fmt: skip

        return handle

    async def greenapi(self, request: web.Request) -> dict[str, Any]:
        account = self._account("greenapi", request.match_info["account"])
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not same_secret(token.strip(), account.webhook_secret):
            challenge = {"WWW-Authenticate": "Bearer"}
            raise Refused(401, "missing or wrong bearer token (the account's webhook_token)", challenge)
        parsed = self._parse(greenapi_body, await self._body(request))
        if not same_instance(parsed.instance, account.credentials["id_instance"]):
            raise Refused(403, "the body names another instance than this account's id_instance")
        return await self._apply(account, parsed)

    async def wamm(self, request: web.Request) -> dict[str, Any]:
        account = self._account("wamm", request.match_info["account"])
        if not same_secret(request.match_info["secret"], account.webhook_secret):
            raise Refused(401, "wrong secret in the webhook URL (the account's webhook_secret)")
        return await self._apply(account, self._parse(wamm_body, await self._body(request)))

    def _account(self, provider: str, alias: str) -> Account:
        account = self.accounts.get(alias) if self.accounts else None
        if account is None or account.provider != provider or account.webhook_secret is None:
            secret = "webhook_token" if provider == "greenapi" else "webhook_secret"
            raise Refused(404, f"no {provider} account {alias[:64]!r} with a {secret} here")
        return account

    async def _body(self, request: web.Request) -> Any:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise Refused(413, f"body over {self.settings.push.max_body_bytes} bytes") from None
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            raise Refused(400, f"the body is not JSON ({type(exc).__name__})") from None

    @staticmethod
    def _parse(parse: Callable[[Any], Parsed], body: Any) -> Parsed:
        try:
            return parse(body)
        except BadPush as exc:
            raise Refused(400, str(exc)[:200]) from None

    async def _apply(self, account: Account, parsed: Parsed) -> dict[str, Any]:
        try:
            async with asyncio.timeout(STORE_TIMEOUT_S):
                if parsed.ignored:
                    await self.ingest.count({f"push:{account.provider}:ignored:{parsed.ignored}": 1})
                results = [await self.ingest.apply(account, push) for push in parsed.pushes]
        except (*STORE_DOWN, TimeoutError) as exc:
            log.warning("webhooks: the store did not answer (%s): 503, the gateway resends", type(exc).__name__)
            later = {"Retry-After": str(RETRY_AFTER_S)}
            raise Refused(503, "the store is unreachable; send it again later", later) from None
        return {"statuses": len(results), "ignored": parsed.ignored or None,
                "results": [r.status for r in results]}  # fmt: skip

    async def _count(self, counts: dict[str, int]) -> None:
        try:
            async with asyncio.timeout(1.0):
                await self.ingest.count(counts)
        except (*STORE_DOWN, TimeoutError):
            pass  # a refusal's counter is not worth waiting for


def async_client(url: str) -> Any:
    """The receiver's store client: bounded timeouts, so a store outage is a prompt 503."""
    return redis.asyncio.Redis.from_url(url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2)


def build(settings: Settings, accounts: Accounts | None, store: Store) -> web.Application:
    return Receiver(settings, accounts, AsyncIngest(store, async_client(settings.redis_url))).app()


def serve(settings: Settings, accounts: Accounts | None, store: Store, *, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM (blocking). What start-up made is frozen out of the garbage
    collector's passes, so a collection under load walks only what requests make."""
    app = build(settings, accounts, store)
    gc.collect()
    gc.freeze()
    web.run_app(
        app, host=host, port=port,
        access_log_class=AccessLog, access_log=logging.getLogger("statuswatch.webhooks.access"), print=None,
        shutdown_timeout=5.0,
    )  # fmt: skip
