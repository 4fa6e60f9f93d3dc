"""The producer contract (``statuswatch_client.contract``): what is accepted, what is refused
and how the refusal reads, for the values a service we do not control may send."""

from __future__ import annotations

import re

import pytest
from statuswatch_client.contract import ECHO_CHARS, MAX_ITEMS, PROVIDERS, echo, items_of, parse_track, parse_untrack

from config import PROVIDERS as CONFIGURED

BASE = {"provider": "wamm", "account": "shop", "msg_id": "1"}
GREEN = {"provider": "greenapi", "account": "support", "msg_id": "BAE5F4886F6F2D05"}


def refused(kwargs: dict[str, object], field: str) -> str:
    with pytest.raises(ValueError, match="^" + re.escape(field)) as caught:
        parse_track(kwargs)
    return str(caught.value)


def test_the_client_knows_every_configured_gateway() -> None:
    assert set(PROVIDERS) == set(CONFIGURED)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"msg_id": "١٢٣"}, "msg_id"),  # Arabic-Indic digits: `\d` let them through
        ({"msg_id": "123\n"}, "msg_id"),  # `$` matched before a final newline
        ({"msg_id": " 123"}, "msg_id"),
        ({"msg_id": -5}, "msg_id"),
        ({"msg_id": 10**400}, "msg_id"),
        ({"account": "shop\n"}, "account"),
        ({"account": "\uff53hop"}, "account"),  # a full-width letter s
        ({"until": 0}, "until"),  # 0 and False were read as "not given"
        ({"until": False}, "until"),
        ({"until": ""}, "until"),
        ({"kind": False}, "kind"),
        ({"kind": 0}, "kind"),
        ({"expires_in": 10**400}, "expires_in"),  # OverflowError before
        ({"expires_in": float("inf")}, "expires_in"),
        ({"expires_in": True}, "expires_in"),
        ({"callback_url": "https://x.test/\udc80"}, "callback_url"),  # lone surrogate: broke the store
        ({"callback_url": "https://x.test:99999/"}, "callback_url"),
        ({"callback_url": "https://[::1/"}, "callback_url"),
        ({"callback_url": "https://x.test/a b"}, "callback_url"),
        ({"callback_url": "https://x.test/\x1b[31m"}, "callback_url"),
        ({"callback_task": "täsk"}, "callback_task"),
        ({"callback_queue": "a queue"}, "callback_queue"),
        ({"callback_queue": 7}, "callback_queue"),
        ({"callback_queue": "q" * 201}, "callback_queue"),
        ({"meta": {"a": float("nan")}}, "meta"),
        ({"meta": {"a": "\udc80"}}, "meta"),
        ({"meta": {1: "non-string key"}}, "meta"),
        ({"meta": {"t": (1, 2)}}, "meta"),
        ({"provider": "wamm\x00"}, "provider"),
        ({"provider": ["wamm"]}, "provider"),
        ({"provider": {"a": 1}}, "provider"),
        ({"token": "secret", "pass": 1}, "unexpected field"),
    ],
)
def test_hostile_values_are_refused_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    refused({**BASE, **kwargs}, field)


def test_deeply_nested_meta_is_refused_without_recursion() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(100_000):  # json.dumps or repr of this raises RecursionError
        node["a"] = node = {}
    assert "nested deeper" in refused({**BASE, "meta": deep}, "meta")


def test_wide_meta_stops_at_the_byte_limit() -> None:
    assert "bytes" in refused({**BASE, "meta": {"a": list(range(1_000_000))}}, "meta")


def test_callback_queue_is_kept_and_sent_only_when_given() -> None:
    given = parse_track({**BASE, "callback_task": "billing.on_status", "callback_queue": "billing.events"})
    assert given.callback_queue == "billing.events"
    assert given.as_kwargs()["callback_queue"] == "billing.events"
    assert given.stored_fields()["callback_queue"] == "billing.events"
    default = parse_track({**BASE, "callback_queue": ""})
    assert default.callback_queue is None and "callback_queue" not in default.as_kwargs()


@pytest.mark.parametrize(
    "field", ["provider", "account", "until", "kind", "chat_id", "callback_task", "callback_queue"]
)
def test_a_huge_value_is_quoted_short(field: str) -> None:
    kwargs = {**GREEN, "chat_id": "1@c.us", field: "x" * 1_000_000}
    message = refused(kwargs, field)
    assert len(message) < 2 * ECHO_CHARS + 200


def test_huge_unknown_field_names_are_quoted_short() -> None:
    kwargs = {**BASE, **{"k" * 100_000 + str(i): 1 for i in range(50)}}
    assert len(refused(kwargs, "unexpected field")) < 6 * ECHO_CHARS + 300


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("abc", "'abc'"),
        ("a" * 1000, "1000 characters"),
        (10**400, "more than 200 digits"),
        ([[[]]], "JSON array of 1 items"),
        ({"a": 1}, "JSON object of 1 items"),
        (None, "None"),
        (object(), "type object"),
    ],
)
def test_echo_is_short_and_never_walks_a_value(value: object, shown: str) -> None:
    assert shown in echo(value) and len(echo(value)) < ECHO_CHARS + 40


@pytest.mark.parametrize(
    "chat_id",
    [
        "11001234567@c.us",  # WhatsApp person (green-api.com/en/docs/api/chat-id)
        "11001234567-1581234048@g.us",  # WhatsApp group, old form (same page)
        "120363043968066561@g.us",  # WhatsApp group (same page)
        "120650379300963@lid",  # WhatsApp linked id, in journals and webhooks (same page)
        "10000000",  # Telegram and MAX person (green-api.com/en/telegram/docs/api/chat-id)
        "-10000000000000",  # Telegram and MAX group, always negative (same; green-api.com/v3/docs/api/chat-id)
    ],
)
def test_every_chat_id_form_greenapi_documents_is_accepted(chat_id: str) -> None:
    assert parse_track({**GREEN, "chat_id": chat_id}).chat_id == chat_id


@pytest.mark.parametrize("chat_id", ["79001234567@s.whatsapp.net", "123@c.us\n", "--5", "12 34", "١٢٣", "@lid"])
def test_other_chat_ids_are_refused(chat_id: str) -> None:
    refused({**GREEN, "chat_id": chat_id}, "chat_id")


def test_absent_optional_values_take_their_defaults() -> None:
    request = parse_track({**BASE, "until": None, "kind": None, "chat_id": "", "meta": None, "expires_in": None})
    assert (request.until, request.kind, request.chat_id, request.expires_in_s, dict(request.meta)) == (
        "read", "message", None, None, {}
    )  # fmt: skip
    assert parse_track({**BASE, "msg_id": 1234567}).msg_id == "1234567"


def test_items_are_a_bounded_list() -> None:
    assert len(items_of([{}] * MAX_ITEMS)) == MAX_ITEMS
    with pytest.raises(ValueError, match=r"^items: at most"):
        items_of([{}] * (MAX_ITEMS + 1))
    with pytest.raises(ValueError, match=r"^items: expected a list"):
        items_of({"a": 1})


def test_untrack_takes_the_message_only() -> None:
    assert parse_untrack(BASE).msg_id == "1"
    with pytest.raises(ValueError, match=r"^unexpected field"):
        parse_untrack({**BASE, "until": "read"})
    with pytest.raises(ValueError, match=r"^msg_id"):
        parse_untrack({**BASE, "msg_id": "x"})
