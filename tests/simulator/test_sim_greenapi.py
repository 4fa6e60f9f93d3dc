"""GREEN-API over HTTP: getMessage, lastOutgoingMessages, getStatusStatistic, auth and quota."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(30)

INSTANCE, TOKEN, CHAT = "1101000001", "d75b3a66374942c5b3c019c698abc2067e151558acbd412345", "79001234567@c.us"
START = 1_700_000_000


def message(msg_id, life, **extra):
    return {
        "provider": "greenapi",
        "credential": INSTANCE,
        "api_token": TOKEN,
        "msg_id": msg_id,
        "chat_id": CHAT,
        "life": life,
        "text": "hi",
        **extra,
    }


def url(sim, method, token=TOKEN, instance=INSTANCE):
    return f"{sim.url}/waInstance{instance}/{method}/{token}"


def get_message(sim, http, msg_id, chat_id=CHAT):
    return http.post(url(sim, "getMessage"), json={"chatId": chat_id, "idMessage": msg_id})


def last_outgoing(sim, http, query=""):
    response = http.get(url(sim, "lastOutgoingMessages") + query)
    assert response.status_code == 200
    return response.json()


def test_get_message_returns_the_journal_entry(sim, control, http):
    control.add_messages([message("BAE5A", [["sent", 0], ["delivered", 1]])])
    control.advance_clock(1)
    response = get_message(sim, http, "BAE5A")
    assert response.status_code == 200
    assert response.json() == {
        "type": "outgoing",
        "idMessage": "BAE5A",
        "timestamp": START,
        "typeMessage": "textMessage",
        "chatId": CHAT,
        "textMessage": "hi",
        "statusMessage": "delivered",
        "sendByApi": True,
    }


@pytest.mark.parametrize(
    ("msg_id", "chat_id"),
    [
        ("BAE5A", "70000000000@c.us"),  # getMessage needs the right chat too
        ("UNKNOWN", CHAT),
        ("LATE", CHAT),  # still invisible
    ],
)
def test_get_message_not_found(sim, control, http, msg_id, chat_id):
    control.add_messages([message("BAE5A", []), message("LATE", [], invisible_s=60)])
    response = get_message(sim, http, msg_id, chat_id)
    assert (response.status_code, response.json()) == (400, {"message": "message not found"})


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"{not json", "Unexpected token n in JSON"),  # the character the parser stopped at
        (b'{"chatId": "7@c.us",', "Unexpected token , in JSON"),  # cut short: its last one
        (b"\xff{", "Unexpected token \ufffd in JSON"),  # not UTF-8
        (b"[]", "bad request data"),  # JSON, but not an object
        (b'"A"', "bad request data"),
        (b"", "Validation failed"),  # read as {}: both fields missing
        (b"{}", "Validation failed"),
        (b'{"chatId": "7@c.us"}', "Validation failed"),
        (b'{"chatId": "7@c.us", "idMessage": ""}', "Validation failed"),
        (b'{"chatId": "7@c.us", "idMessage": 5}', "Validation failed"),
        (b'{"chatId": 7, "idMessage": "A"}', "Validation failed"),
        (b'{"chatId": "x", "idMessage": "A"}', "Validation failed"),
        (b'{"chatId": "7", "idMessage": "A"}', "Validation failed"),
        (b'{"chatId": "abc@c.us", "idMessage": "A"}', "Validation failed"),
        (b'{"chatId": "7-1@c.us", "idMessage": "A"}', "Validation failed"),  # a dash only in a group id
        (b'{"chatId": "7@s.whatsapp.net", "idMessage": "A"}', "Validation failed"),
    ],
)
def test_get_message_names_what_is_wrong_with_the_request(sim, control, http, body, text):
    control.add_messages([message("A", [])])
    response = http.post(url(sim, "getMessage"), data=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"message": text})


@pytest.mark.parametrize("chat_id", ["79001234567@c.us", "79001234567-1587000000@g.us", "120363000000000000@g.us"])
def test_get_message_takes_person_and_group_chat_ids(sim, control, http, chat_id):
    control.add_messages([message("A", [["sent", 0]], chat_id=chat_id)])
    response = get_message(sim, http, "A", chat_id)
    assert (response.status_code, response.json()["chatId"]) == (200, chat_id)


def test_failed_is_never_journalled_but_no_account_and_yellow_card_are(sim, control, http):
    control.add_messages(
        [
            message("F", [["sent", 0], ["delivered", 1], ["failed", 2]]),
            message("N", [["sent", 0], ["noAccount", 2]]),
            message("Y", [["sent", 0], ["yellowCard", 2]]),
            message("P", [["failed", 0]]),
        ]
    )
    control.advance_clock(3)
    states = {m: get_message(sim, http, m).json()["statusMessage"] for m in "FNYP"}
    assert states == {"F": "delivered", "N": "noAccount", "Y": "yellowCard", "P": "pending"}
    listed = {e["idMessage"]: e["statusMessage"] for e in last_outgoing(sim, http)}
    assert listed == states


def test_last_outgoing_messages_lists_the_last_minutes_newest_first(sim, control, http):
    control.add_messages([message("OLD", [["sent", 0]])])
    control.advance_clock(600)
    control.add_messages([message("NEW", [["sent", 0], ["read", 30]]), message("HIDDEN", [], invisible_s=60)])
    control.advance_clock(30)
    newest = last_outgoing(sim, http)
    assert [e["idMessage"] for e in newest] == ["NEW", "OLD"]
    assert newest[0]["statusMessage"] == "read"
    assert newest[0]["timestamp"] == START + 630  # the time of the last action
    assert [e["idMessage"] for e in last_outgoing(sim, http, "?minutes=5")] == ["NEW"]


def test_last_outgoing_messages_minutes_must_be_a_number(sim, control, http):
    control.add_messages([message("A", [])])
    response = http.get(url(sim, "lastOutgoingMessages") + "?minutes=x")
    assert (response.status_code, response.json()) == (400, {"message": "bad request data"})


@pytest.mark.parametrize("query", ["", "?idMessage="])
def test_status_statistic_needs_an_id(sim, control, http, query):
    control.add_messages([message("A", [])])
    response = http.get(url(sim, "getStatusStatistic") + query)
    assert (response.status_code, response.json()) == (400, {"message": "Validation failed"})


def test_status_statistic_lists_viewers_whose_life_has_started(sim, control, http):
    control.add_messages(
        [
            message(
                "STORY",
                [],
                kind="status_post",
                viewers={
                    "11001234567@c.us": [["sent", 0], ["read", 5]],
                    "71234567891@c.us": [["delivered", 3]],
                    "72222222222@c.us": [["sent", 60]],
                },
            )
        ]
    )
    control.advance_clock(5)
    response = http.get(url(sim, "getStatusStatistic") + "?idMessage=STORY")
    assert response.status_code == 200
    assert response.json() == [
        {"participant": "11001234567@c.us", "timestamp": START + 5, "status": "read"},
        {"participant": "71234567891@c.us", "timestamp": START + 3, "status": "delivered"},
    ]


@pytest.mark.parametrize("msg_id", ["UNKNOWN", "CHAT"])
def test_status_statistic_of_anything_else_is_empty(sim, control, http, msg_id):
    control.add_messages([message("CHAT", [["sent", 0]])])
    assert http.get(url(sim, "getStatusStatistic") + f"?idMessage={msg_id}").json() == []


def test_status_posts_are_not_in_the_chat_journals(sim, control, http):
    control.add_messages([message("STORY", [], kind="status_post", viewers={})])
    assert last_outgoing(sim, http) == []
    assert get_message(sim, http, "STORY").status_code == 400


def test_state_instance(sim, control, http):
    control.configure(credentials=[{"provider": "greenapi", "credential": INSTANCE, "api_token": TOKEN}])
    response = http.get(url(sim, "getStateInstance"))
    assert response.json() == {"stateInstance": "authorized"}


def test_wrong_token_is_401_and_unknown_instance_403(sim, control, http):
    control.add_messages([message("A", [])])
    assert http.get(url(sim, "getStateInstance", token="wrong")).status_code == 401
    assert http.get(url(sim, "getStateInstance", instance="9999")).status_code == 403


def test_revoked_unauthorized_and_quota(sim, control, http):
    control.add_messages([message("A", []), message("A", [], credential="2"), message("A", [], credential="3")])
    control.configure(revoked=[INSTANCE], unauthorized=["2"], quota_exceeded=["3"])
    assert http.get(url(sim, "lastOutgoingMessages")).status_code == 401
    not_authorized = http.get(url(sim, "lastOutgoingMessages", instance="2"))
    assert (not_authorized.status_code, not_authorized.json()) == (400, {"message": "instance account not authorized"})
    state = http.get(url(sim, "getStateInstance", instance="2")).json()
    assert state == {"stateInstance": "notAuthorized"}
    quota = http.get(url(sim, "lastOutgoingMessages", instance="3"))
    assert quota.status_code == 466
    assert quota.json()["invokeStatus"]["status"] == "QUOTE_EXCEEDED"


def test_correspondents_used_up_refuse_a_fourth_chat_only(sim, control, http):
    chats = [f"7900000000{i}@c.us" for i in range(5)]
    control.add_messages([message(f"M{i}", [["sent", 0]], chat_id=chat) for i, chat in enumerate(chats)])
    control.configure(correspondents_exceeded=[INSTANCE])
    assert [get_message(sim, http, f"M{i}", chat).status_code for i, chat in enumerate(chats)] == [200] * 3 + [466] * 2
    refused = get_message(sim, http, "M3", chats[3]).json()
    assert refused["invokeStatus"] == {"method": "getmessage", "used": 0, "total": 0, "status": "QUOTE_ALLOWED"}
    quota = refused["correspondentsStatus"]
    assert (quota["method"], quota["used"], quota["total"]) == ("correspondents", 3, 3)
    assert quota["status"] == "CORRESPONDENTS_QUOTE_EXCEEDED"
    assert quota["description"].endswith(f"these numbers: {','.join(chats[:3])}.")
    # calls that name no chat still answer; a malformed request is refused as such
    assert http.get(url(sim, "lastOutgoingMessages")).status_code == 200
    assert http.get(url(sim, "getStateInstance")).json() == {"stateInstance": "authorized"}
    bad = http.post(url(sim, "getMessage"), json={"chatId": "x", "idMessage": "M4"})
    assert (bad.status_code, bad.json()) == (400, {"message": "Validation failed"})
    control.configure(correspondents_exceeded=[])
    assert get_message(sim, http, "M4", chats[4]).status_code == 200


def test_a_wrong_http_verb_is_a_plain_404(sim, control, http):
    control.add_messages([message("A", [])])
    for response in (http.get(url(sim, "getMessage")), http.post(url(sim, "lastOutgoingMessages"))):
        assert (response.status_code, response.text) == (404, "Not Found")
    assert http.get(url(sim, "noSuchMethod")).status_code == 404
