"""Enqueue statuswatch requests from a Python service: validate first, then send by name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from statuswatch_client.contract import (
    MAX_ITEMS,
    TRACK_MANY_TASK,
    TRACK_QUEUE,
    TRACK_TASK,
    UNTRACK_TASK,
    item_kwargs,
    masked_query,
    parse_track,
    parse_untrack,
    safe_url,
)


def tracker_id(provider: str, account: str, msg_id: str) -> str:
    """The id statuswatch gives the tracker of one message (``statuswatch status`` takes its parts)."""
    return f"{provider}:{account}:{msg_id}"


class Client:
    """Sends ``statuswatch.track``, ``track_many`` and ``untrack`` to the statuswatch queue.

    Give it your service's Celery app, or the broker URL and it makes a small app of its own.
    Every request is validated before anything is sent; bad input raises ``ValueError``
    naming the field, and nothing of that call is enqueued.
    """

    def __init__(
        self, app: Any = None, *, broker_url: str | None = None, transport_options: Mapping[str, Any] | None = None
    ) -> None:
        if app is None:
            if not broker_url:
                raise ValueError("broker_url: give the broker's URL or a Celery app")
            from celery import Celery  # only here: validating needs no Celery

            app = Celery("statuswatch-client", broker=broker_url, set_as_current=False)
            app.conf.broker_transport_options = dict(transport_options or {})
        self.app = app

    def track(self, provider: str, account: str, msg_id: str | int, **options: Any) -> str:
        """Track one message; returns its tracker id. Options: ``until``, ``expires_in``,
        ``chat_id``, ``kind``, ``callback_url``, ``callback_task``, ``callback_queue``, ``meta``
        (docs/contract.md)."""
        request = parse_track({"provider": provider, "account": account, "msg_id": msg_id, **options})
        self._send(TRACK_TASK, request.as_kwargs())
        return tracker_id(request.provider, request.account, request.msg_id)

    def track_many(self, items: Iterable[Mapping[str, Any]]) -> list[str]:
        """Track many messages, MAX_ITEMS per broker message; returns their tracker ids.

        Raises:
            ValueError: ``items[i]: field: ...`` for the first bad item; nothing was sent.
        """
        requests = []
        for i, item in enumerate(items):
            try:
                requests.append(parse_track(item_kwargs(item)))
            except ValueError as exc:
                raise ValueError(f"items[{i}]: {exc}") from None
        for start in range(0, len(requests), MAX_ITEMS):
            chunk = requests[start : start + MAX_ITEMS]
            self._send(TRACK_MANY_TASK, {"items": [r.as_kwargs() for r in chunk]})
        return [tracker_id(r.provider, r.account, r.msg_id) for r in requests]

    def untrack(self, provider: str, account: str, msg_id: str | int) -> str:
        """Stop tracking one message (its tracker ends ``cancelled``); returns its tracker id."""
        ref = parse_untrack({"provider": provider, "account": account, "msg_id": msg_id})
        self._send(UNTRACK_TASK, {"provider": ref.provider, "account": ref.account, "msg_id": ref.msg_id})
        return tracker_id(ref.provider, ref.account, ref.msg_id)

    def _send(self, name: str, kwargs: dict[str, Any]) -> None:
        # JSON whatever the app's default: statuswatch workers accept nothing else. Task events
        # (Flower) show ``kwargsrepr``, not the arguments: a callback URL's secrets masked there.
        self.app.send_task(name, kwargs=kwargs, queue=TRACK_QUEUE, serializer="json", kwargsrepr=shown(kwargs))


def shown(kwargs: Mapping[str, Any]) -> str:
    """The request as task events and Flower show it: every callback URL's userinfo and
    query values masked (``contract.safe_url``), and track_many's items counted, not listed."""
    if "items" in kwargs:
        return repr({"items": f"<{len(kwargs['items'])} requests>"})
    return repr({k: _shown_url(v) if k == "callback_url" and isinstance(v, str) else v for k, v in kwargs.items()})


def _shown_url(url: str) -> str:
    """A callback URL split as HTTP splits it (the authority ends at the first ``/``, ``?``
    or ``#``), its userinfo and query values masked as ``safe_url`` masks them."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = safe_url("x://" + netloc).removeprefix("x://")
    query = masked_query(parts.query) if parts.query else ""
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment="***" if parts.fragment else ""))
