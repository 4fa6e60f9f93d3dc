"""WAMM.chat api2 over HTTP: both URL shapes, lives, msg_get_last, every error (all HTTP 200)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(30)

LIFE = [["sent", 1], ["delivered", 2], ["viewed", 5]]


def message(msg_id, token="TOKEN", life=LIFE, **extra):
    return {"provider": "wamm", "credential": token, "msg_id": msg_id, "life": life, "phone": "79001234567", **extra}


def state(sim, http, msg_id, token="TOKEN", shape="query"):
    path = f"/api2/msg_state/{token}/?msg_id={msg_id}" if shape == "query" else f"/api2/msg_state/{token}/{msg_id}"
    response = http.get(sim.url + path)
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("shape", ["query", "path"])
def test_msg_state_answers_in_both_url_shapes_with_a_string_id(sim, control, http, shape):
    control.add_messages([message("1234567")])
    control.advance_clock(5)
    assert state(sim, http, 1234567, shape=shape) == {
        "err": 0,
        "msg_data": {"msg_id": "1234567", "phone": "79001234567", "state": "viewed"},
    }


def test_a_life_advances_with_the_clock(sim, control, http):
    control.add_messages([message("1")])
    seen = []
    for _ in range(6):
        seen.append(state(sim, http, 1)["msg_data"]["state"])
        control.advance_clock(1)
    assert seen == ["sending", "sent", "delivered", "delivered", "delivered", "viewed"]


@pytest.mark.parametrize(
    ("shape", "msg_id", "err"),
    [
        ("query", "abc", "msg_id fail"),
        ("path", "abc", "msg_id fail"),
        ("query", "", "msg_id fail"),
        ("query", "12a", "msg_id fail"),
        ("query", "99", "msg not be"),
        ("path", "99", "msg not be"),
    ],
)
def test_msg_state_errors(sim, control, http, shape, msg_id, err):
    control.add_messages([message("1")])
    assert state(sim, http, msg_id, shape=shape) == {"err": err}


def test_a_missing_msg_id_is_a_bad_id(sim, control, http):
    control.add_messages([message("1")])
    assert http.get(sim.url + "/api2/msg_state/TOKEN/").json() == {"err": "msg_id fail"}


def test_a_just_sent_message_is_not_found_while_invisible(sim, control, http):
    control.add_messages([message("1", invisible_s=3)])
    assert state(sim, http, 1) == {"err": "msg not be"}
    control.advance_clock(3)
    assert state(sim, http, 1)["msg_data"]["state"] == "delivered"


def test_a_message_of_another_token_is_not_found(sim, control, http):
    control.add_messages([message("1"), message("2", token="OTHER")])
    assert state(sim, http, 2) == {"err": "msg not be"}


def test_token_troubles(sim, control, http):
    control.add_messages([message("1"), message("1", token="GONE"), message("1", token="NOQR")])
    control.configure(revoked=["GONE"], unauthorized=["NOQR"])
    assert state(sim, http, 1, token="NEVER") == {"err": "token fail"}
    assert state(sim, http, 1, token="GONE") == {"err": "token fail"}
    assert state(sim, http, 1, token="NOQR") == {"err": "acc not authorized"}
    last = http.get(sim.url + "/api2/msg_get_last/NOQR/5").json()
    assert last == {"err": "acc not authorized"}


def test_a_configured_token_without_messages_is_known(sim, control, http):
    control.configure(credentials=["EMPTY"])
    assert state(sim, http, 1, token="EMPTY") == {"err": "msg not be"}
    assert http.get(sim.url + "/api2/msg_get_last/EMPTY/5").json() == {"err": "msgs not be"}


def get_last(sim, http, token="TOKEN", query="?col=3"):
    response = http.get(f"{sim.url}/api2/msg_get_last/{token}/{query}")
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("query", ["?col=3", "3", "?col=3&from_me=1", "3?from_me=1"])
def test_msg_get_last_returns_the_newest_col_newest_first(sim, control, http, query):
    control.add_messages([message(str(i)) for i in range(1, 6)])
    control.add_messages([message("9", token="OTHER")])
    body = get_last(sim, http, query=query)
    assert [item["msg_id"] for item in body["msg_data"]] == ["5", "4", "3"]


def test_msg_get_last_items_have_every_documented_field(sim, control, http):
    control.add_messages([message("7", text="Good afternoon!")])
    control.advance_clock(2.5)
    (item,) = get_last(sim, http)["msg_data"]
    assert item == {
        "msg_id": "7",
        "from_me": "1",
        "phone": "79001234567",
        "chat_name": "79001234567",
        "tip_msg": "textMessage",
        "msg_text": "Good afternoon!",
        "msg_link": None,
        "date_ins": "2023-11-14 22:13:20",
        "date_upd": "2023-11-14 22:13:22",
        "state": "delivered",
    }  # the clock starts at epoch 1.7e9: 2023-11-14 22:13:20 UTC


def test_msg_get_last_skips_invisible_messages(sim, control, http):
    control.add_messages([message("1"), message("2", invisible_s=10)])
    assert [i["msg_id"] for i in get_last(sim, http)["msg_data"]] == ["1"]


@pytest.mark.parametrize(
    ("query", "err"),
    [
        ("?col=0", "col fail or more 100"),
        ("?col=101", "col fail or more 100"),
        ("?col=abc", "col fail or more 100"),
        ("", "col fail or more 100"),
        ("0", "col fail or more 100"),
        ("?col=100&from_me=0", "msgs not be"),
    ],
)
def test_msg_get_last_errors(sim, control, http, query, err):
    control.add_messages([message("1")])
    assert get_last(sim, http, query=query) == {"err": err}


def test_only_get_is_served(sim, control, http):
    control.add_messages([message("1")])
    assert http.post(sim.url + "/api2/msg_state/TOKEN/1").status_code == 404
