"""The webhook receiver (``worker.push.webhooks``) on aiohttp's test server, over the real Redis:
authentication each gateway's way, attribution, bounded refusals, idempotent resends, the 503
of a store outage, a masked access log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer

from config import Account, Accounts, Settings
from tests import documented
from worker.keys import Keys
from worker.push.ingest import AsyncIngest
from worker.push.webhooks import AccessLog, Receiver, async_client, masked_path
from worker.states import State
from worker.store import Store
from worker.tracking import parse_track_request

TOKEN, SECRET = "green-webhook-token-1", "wamm-path-secret-2"
ACCOUNTS = Accounts({
    "acme": Account("acme", "greenapi", "http://127.0.0.1:1", {"id_instance": "1234", "api_token_instance": "t"},
                    webhook_secret=TOKEN),
    "shop": Account("shop", "wamm", "http://127.0.0.1:1", {"token": "tok"}, webhook_secret=SECRET),
    "plain": Account("plain", "wamm", "http://127.0.0.1:1", {"token": "tok2"}),
})  # fmt: skip
BEARER = {"Authorization": f"Bearer {TOKEN}"}

Client = TestClient[Any, Any]


@pytest.fixture
def store(real_redis: redis.Redis, namespace: str) -> Store:
    return Store(real_redis, Keys(namespace), retention_s=60, events_maxlen=1000)


def serve(store: Store, test: Callable[[Client], Awaitable[None]], url: str = "redis://127.0.0.1:6379/0",
          settings: Settings | None = None) -> None:  # fmt: skip
    async def main() -> None:
        client = async_client(url)
        app = Receiver(settings or Settings(), ACCOUNTS, AsyncIngest(store, client)).app()
        async with TestClient(TestServer(app)) as http:
            await test(http)
        await client.aclose()

    asyncio.run(main())


def track(store: Store, provider: str, account: str, msg_id: str) -> str:
    kw = {"provider": provider, "account": account, "msg_id": msg_id}
    if provider == "greenapi":
        kw["chat_id"] = "71234567890@c.us"
    tid = f"{provider}:{account}:{msg_id}"
    store.register(tid, parse_track_request(kw, None, 3600), State.READ, 60.0)
    return tid


def test_a_greenapi_failure_push_settles_its_tracker_and_a_resend_changes_nothing(store: Store) -> None:
    tid = track(store, "greenapi", "acme", "3EB0608D6A2901063D63")

    async def test(http: Client) -> None:
        for _ in range(3):
            response = await http.post("/webhooks/greenapi/acme", json=documented.GREENAPI_STATUS_PUSH, headers=BEARER)
            assert response.status == 200
            assert (await response.json())["statuses"] == 1

    serve(store, test)
    tracker = store.get(tid)
    assert tracker is not None and tracker.state is State.FAILED and tracker.outcome.value == "settled"
    assert store.redis.hget(store.keys.tracker(tid), "reason") == "noAccount: SWE004: 1000"
    assert len(store.redis.xrange(store.keys.events)) == 1
    assert store.redis.hget(store.keys.stats, "push:greenapi:statuses") == "3"


def test_a_wamm_push_by_its_secret_path(store: Store) -> None:
    tid = track(store, "wamm", "shop", "1234567")

    async def test(http: Client) -> None:
        response = await http.post(f"/webhooks/wamm/shop/{SECRET}", json=documented.WAMM_STATE_PUSH)
        assert response.status == 200
        response = await http.post(f"/webhooks/wamm/shop/{SECRET}", json=documented.WAMM_MSG_PUSH)
        assert response.status == 200 and (await response.json())["ignored"] == "msg"

    serve(store, test)
    assert store.get(tid).state is State.DELIVERED  # type: ignore[union-attr]
    assert store.redis.hget(store.keys.stats, "push:wamm:ignored:msg") == "1"


@pytest.mark.parametrize(
    ("path", "headers", "data", "status", "names"),
    [
        ("/webhooks/greenapi/acme", {}, b"{}", 401, "bearer"),
        ("/webhooks/greenapi/acme", {"Authorization": "Bearer nope"}, b"{}", 401, "bearer"),
        ("/webhooks/greenapi/acme", {"Authorization": f"Basic {TOKEN}"}, b"{}", 401, "bearer"),
        ("/webhooks/greenapi/nobody", BEARER, b"{}", 404, "no greenapi account"),
        ("/webhooks/greenapi/shop", BEARER, b"{}", 404, "no greenapi account"),
        ("/webhooks/wamm/plain/anything", {}, b"{}", 404, "webhook_secret"),
        ("/webhooks/wamm/shop/wrong", {}, b"{}", 401, "secret"),
        ("/webhooks/greenapi/acme", BEARER, b"not json", 400, "not JSON"),
        ("/webhooks/greenapi/acme", BEARER, b"\xff\xfe", 400, "not JSON"),
        ("/webhooks/greenapi/acme", BEARER, b"[]", 400, "object"),
        ("/webhooks/greenapi/acme", BEARER, b'{"typeWebhook": "outgoingMessageStatus", "status": "sent"}', 400,
         "idMessage"),
        ("/webhooks/greenapi/acme", BEARER, b'{"typeWebhook": "x", "instanceData": {"idInstance": 99}}', 403,
         "another instance"),
        (f"/webhooks/wamm/shop/{SECRET}", {}, b'{"tip": "msg_state"}', 400, "msg_data"),
        ("/webhooks/greenapi/acme", BEARER, b"{" + b" " * 70_000 + b"}", 413, "bytes"),
        ("/webhooks/greenapi/acme", BEARER, b"[" * 30_000 + b"]" * 30_000, 400, "not JSON"),
    ],
)  # fmt: skip
def test_what_cannot_be_attributed_or_read_is_a_clear_4xx(
    store: Store, path: str, headers: dict[str, str], data: bytes, status: int, names: str
) -> None:
    async def test(http: Client) -> None:
        response = await http.post(path, data=data, headers=headers)
        assert response.status == status
        error = (await response.json())["error"]
        assert names in error and len(error) <= 200
        assert TOKEN not in error and SECRET not in error

    serve(store, test)


def test_other_routes_and_verbs(store: Store) -> None:
    async def test(http: Client) -> None:
        assert (await http.get("/webhooks/greenapi/acme")).status == 405
        assert (await http.post("/elsewhere")).status == 404
        assert (await http.get("/health")).status == 200

    serve(store, test)


def test_a_push_before_its_track_request_is_kept(store: Store) -> None:
    async def test(http: Client) -> None:
        response = await http.post("/webhooks/greenapi/acme", json=documented.GREENAPI_STATUS_PUSH, headers=BEARER)
        assert (await response.json())["results"] == ["early"]

    serve(store, test)
    assert store.redis.hkeys(store.keys.push.early) == ["greenapi:acme:3EB0608D6A2901063D63"]


def test_a_store_outage_is_a_503_the_gateway_resends(store: Store) -> None:
    async def test(http: Client) -> None:
        response = await http.post("/webhooks/greenapi/acme", json=documented.GREENAPI_STATUS_PUSH, headers=BEARER)
        assert response.status == 503 and response.headers["Retry-After"]
        assert "store" in (await response.json())["error"]

    serve(store, test, url="redis://127.0.0.1:1/0")  # nothing listens there


def test_the_access_log_masks_the_wamm_secret(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    assert masked_path(f"/webhooks/wamm/shop/{SECRET}") == "/webhooks/wamm/shop/***"
    assert masked_path(f"/webhooks/wamm/shop/{SECRET}/more") == "/webhooks/wamm/shop/***"
    assert masked_path("/webhooks/greenapi/acme") == "/webhooks/greenapi/acme"

    class Request:
        remote, method, path = "127.0.0.1", "POST", f"/webhooks/wamm/shop/{SECRET}"

    class Response:
        status = 200

    with caplog.at_level(logging.INFO, logger="test.access"):
        AccessLog(logging.getLogger("test.access"), "").log(Request(), Response(), 0.001)  # type: ignore[arg-type]
    assert "/webhooks/wamm/shop/***" in caplog.text and SECRET not in caplog.text


def test_a_store_that_answers_with_an_error_is_a_503_too(store: Store) -> None:
    store.redis.set(store.keys.push.seen, "not a hash")  # observe.lua refuses the wrong type

    async def test(http: Client) -> None:
        response = await http.post("/webhooks/greenapi/acme", json=documented.GREENAPI_STATUS_PUSH, headers=BEARER)
        assert response.status == 503 and "again" in (await response.json())["error"]

    serve(store, test)
