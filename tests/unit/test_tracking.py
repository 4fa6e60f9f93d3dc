import re

import pytest

from config import Account, Accounts
from worker.states import State
from worker.tracking import parse_track_request

ACCOUNTS = Accounts(
    {
        "shop": Account("shop", "wamm", "http://x", {"token": "t0ken"}),
        "support": Account("support", "greenapi", "http://x", {"id_instance": "1", "api_token_instance": "t"}),
    }
)


def parse(accounts: Accounts | None = ACCOUNTS, **kwargs: object):
    return parse_track_request(kwargs, accounts, 3600)


def test_minimal_request_gets_defaults() -> None:
    request = parse(provider="wamm", account="shop", msg_id=1234567)
    assert request.msg_id == "1234567"  # ids are strings inside statuswatch
    assert request.until == State.READ
    assert request.expires_in_s == 3600
    assert request.as_kwargs() == {
        "provider": "wamm", "account": "shop", "msg_id": "1234567", "until": "read", "expires_in": 3600.0,
    }  # fmt: skip


def test_full_request_round_trips() -> None:
    kwargs = {
        "provider": "greenapi", "account": "support", "msg_id": "BAE5F4886F6F2D05", "until": "delivered",
        "expires_in": 60, "chat_id": "79001234567@c.us", "callback_url": "https://example.test/hook",
        "callback_task": "billing.on_status", "meta": {"order": 7},
    }  # fmt: skip
    request = parse(**kwargs)
    assert parse(**request.as_kwargs()) == request


def test_without_accounts_file_the_alias_is_checked_for_form_only() -> None:
    assert parse(None, provider="wamm", account="anything", msg_id="1").account == "anything"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"provider": "telegram"}, "provider"),
        ({"provider": None}, "provider"),
        ({"account": "nobody"}, "account"),
        ({"account": "support"}, "account"),  # a greenapi account used as wamm
        ({"account": "a:b"}, "account"),
        ({"account": ""}, "account"),
        ({"msg_id": ""}, "msg_id"),
        ({"msg_id": "   "}, "msg_id"),
        ({"msg_id": None}, "msg_id"),
        ({"msg_id": "12ab"}, "msg_id"),
        ({"msg_id": True}, "msg_id"),
        ({"msg_id": 1.5}, "msg_id"),
        ({"until": "sent"}, "until"),
        ({"until": "READ"}, "until"),
        ({"expires_in": -1}, "expires_in"),
        ({"expires_in": 0}, "expires_in"),
        ({"expires_in": "60"}, "expires_in"),
        ({"expires_in": float("nan")}, "expires_in"),
        ({"expires_in": 10**9}, "expires_in"),
        ({"kind": "story"}, "kind"),
        ({"kind": "status_post"}, "kind"),  # only GREEN-API has Status posts
        ({"chat_id": "not a chat"}, "chat_id"),
        ({"callback_url": "ftp://x"}, "callback_url"),
        ({"callback_task": "not a task name!"}, "callback_task"),
        ({"meta": [1, 2]}, "meta"),
        ({"meta": {"x": "y" * 5000}}, "meta"),
        ({"meta": {"x": object()}}, "meta"),
        ({"token": "secret"}, "unexpected field"),
    ],
)
def test_bad_field_is_named(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = {"provider": "wamm", "account": "shop", "msg_id": "1"}
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        parse(**{**base, **kwargs})


def test_greenapi_chat_message_needs_chat_id() -> None:
    with pytest.raises(ValueError, match=r"^chat_id"):
        parse(provider="greenapi", account="support", msg_id="BAE5")
    post = parse(provider="greenapi", account="support", msg_id="BAE5", kind="status_post")
    assert post.chat_id is None
