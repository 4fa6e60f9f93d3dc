"""WBizTool over HTTP: form and JSON bodies, status codes 0-4, unknown ids, auth errors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(30)

KEY, CLIENT_ID = "api-key-1", 42
#: the simulator's clock starts at 2023-11-14 22:13:20 UTC (tests/simulator/conftest.py)
START = 1_700_000_000
AUTH = {"client_id": CLIENT_ID, "api_key": KEY}
AUTH_ERROR = {"status": 0, "message": "Auth Error: invalid api key"}


def message(msg_id, life, api_key=KEY, **extra):
    return {
        "provider": "wbiztool",
        "credential": api_key,
        "client_id": CLIENT_ID,
        "msg_id": msg_id,
        "life": life,
        **extra,
    }


def status(sim, http, msg_id, encoding="form", fields=AUTH):
    url = f"{sim.url}/api/v1/message/status/{msg_id}/"
    if encoding == "json":
        return http.post(url, json=fields)
    return http.post(url, data=fields)


@pytest.mark.parametrize("encoding", ["form", "json"])
def test_status_accepts_form_and_json_bodies(sim, control, http, encoding):
    control.add_messages([message("12345", [[1, 0]])])
    response = status(sim, http, 12345, encoding)
    assert response.status_code == 200
    assert response.json() == {"status": 1, "status_text": "Sent", "message": "connected"}


def test_a_json_body_sent_as_a_form_is_read_too(sim, control, http):
    """The docs' curl sends JSON with curl's default form Content-Type."""
    control.add_messages([message("1", [[1, 0]])])
    response = http.post(
        f"{sim.url}/api/v1/message/status/1/",
        data=f'{{"client_id": "{CLIENT_ID}", "api_key": "{KEY}"}}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json()["status"] == 1


@pytest.mark.parametrize(("code", "text"), [(0, "Pending"), (1, "Sent"), (3, "Cancelled"), (4, "Expired")])
def test_each_status_code_has_its_text(sim, control, http, code, text):
    control.add_messages([message("1", [[code, 0]])])
    assert status(sim, http, 1).json() == {"status": code, "status_text": text, "message": "connected"}


def test_a_failed_message_says_why(sim, control, http):
    control.add_messages([message("1", [[2, 0]], error="Invalid phone number")])
    assert status(sim, http, 1).json() == {
        "status": 2,
        "status_text": "Failed",
        "message": "connected",
        "error": "Invalid phone number",
    }


def test_pending_until_the_first_step(sim, control, http):
    control.add_messages([message("1", [[1, 3], [2, 6]])])
    seen = []
    for _ in range(3):
        seen.append(status(sim, http, 1).json()["status_text"])
        control.advance_clock(3)
    assert seen == ["Pending", "Sent", "Failed"]


@pytest.mark.parametrize("msg_id", ["99", "7", "1"])
def test_an_unknown_id_is_status_zero_with_a_message(sim, control, http, msg_id):
    control.add_messages([message("7", [[1, 0]], api_key="other-key"), message("1", [[1, 0]], invisible_s=5)])
    response = status(sim, http, msg_id)
    assert response.status_code == 200
    assert response.json() == {"status": 0, "message": "Unknown message id"}


@pytest.mark.parametrize(
    "fields",
    [
        {"client_id": CLIENT_ID, "api_key": "wrong"},
        {"client_id": 41, "api_key": KEY},
        {"api_key": KEY},
        {"client_id": CLIENT_ID},
        {},
    ],
)
@pytest.mark.parametrize("encoding", ["form", "json"])
def test_bad_credentials_are_http_400(sim, control, http, fields, encoding):
    control.add_messages([message("1", [[1, 0]])])
    response = status(sim, http, 1, encoding, fields)
    assert (response.status_code, response.json()) == (400, AUTH_ERROR)


def test_a_revoked_key_is_http_400(sim, control, http):
    control.add_messages([message("1", [[1, 0]])])
    control.configure(revoked=[KEY])
    assert status(sim, http, 1).status_code == 400
    assert http.post(f"{sim.url}/api/v1/me/", data=AUTH).json() == AUTH_ERROR


def test_a_non_integer_id_is_an_html_404(sim, control, http):
    control.add_messages([message("1", [[1, 0]])])
    response = status(sim, http, "abc")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")


def test_status_is_post_only(sim, control, http):
    assert http.get(f"{sim.url}/api/v1/message/status/1/").status_code == 405


def test_health_and_me(sim, control, http):
    control.configure(credentials=[{"provider": "wbiztool", "credential": KEY, "client_id": CLIENT_ID, "name": "Shop"}])
    assert http.get(f"{sim.url}/api/v1/status/").json() == {"status": 200, "data": {}}
    me = http.post(f"{sim.url}/api/v1/me/", json=AUTH)
    assert me.json() == {"status": 1, "message": "Okay", "name": "Shop"}


@pytest.mark.parametrize("refusal", ["Invalid whatsapp client", "Higher Subscription Required", "Auth Error 2"])
def test_an_account_set_to_a_refusal_gets_it_in_http_200(sim, control, http, refusal):
    control.add_messages([message("1", [[1, 0]])])
    control.configure(refusals={KEY: refusal})
    expected = (200, {"status": 0, "message": refusal})
    for path in ("message/status/1/", "me/", "send_msg/"):
        response = http.post(f"{sim.url}/api/v1/{path}", json={**AUTH, "phone": "9876543210", "msg": "hi"})
        assert (path, response.status_code, response.json()) == (path, *expected)
    wrong_key = status(sim, http, 1, fields={**AUTH, "api_key": "wrong"})
    assert (wrong_key.status_code, wrong_key.json()) == (400, AUTH_ERROR)  # credentials are checked first
    control.configure(refusals={})
    assert status(sim, http, 1).json()["status_text"] == "Sent"


def send(sim, http, phone="9876543210", **fields):
    return http.post(f"{sim.url}/api/v1/send_msg/", json={**AUTH, "phone": phone, "msg": "hi", **fields})


def test_send_msg_creates_a_message_pending_then_sent(sim, control, http):
    control.add_messages([message("1", [[1, 0]]), message("2", [[1, 0]])])
    created = send(sim, http)
    assert (created.status_code, created.json()) == (200, {"msg_id": 3, "message": "Created", "status": 1})
    assert status(sim, http, 3).json()["status_text"] == "Pending"
    control.advance_clock(1)
    assert status(sim, http, 3).json()["status_text"] == "Sent"
    assert send(sim, http, "+919876543210").json()["msg_id"] == 4


@pytest.mark.parametrize("phone", ["", "12345", "1234567890123456", "98765 43210", "phone", "٩٨٧٦٥٤٣٢١٠"])
def test_send_msg_refuses_a_bad_phone_number(sim, control, http, phone):
    control.configure(credentials=[{"provider": "wbiztool", "credential": KEY, "client_id": CLIENT_ID}])
    response = send(sim, http, phone)
    assert (response.status_code, response.json()) == (400, {"status": 0, "message": "Invalid phone number"})


def test_send_msg_needs_credentials(sim, control, http):
    control.configure(credentials=[{"provider": "wbiztool", "credential": KEY, "client_id": CLIENT_ID}])
    response = http.post(f"{sim.url}/api/v1/send_msg/", data={"phone": "9876543210", "api_key": KEY})
    assert (response.status_code, response.json()) == (400, AUTH_ERROR)


def test_the_daily_send_limit_is_per_account_and_utc_day(sim, control, http):
    control.configure(
        credentials=[{"provider": "wbiztool", "credential": k, "client_id": CLIENT_ID} for k in (KEY, "other")],
        daily_send_limit={KEY: 2},
    )
    assert [send(sim, http).status_code for _ in range(2)] == [200, 200]
    refused = send(sim, http)
    assert (refused.status_code, refused.json()) == (
        429,
        {"status": 0, "code": "daily_limit_reached", "message": "Daily limit reached", "msg_id": 3},
    )
    # the refused message is kept, failed with the reason
    assert status(sim, http, 3).json() == {
        "status": 2,
        "status_text": "Failed",
        "message": "connected",
        "error": "Daily limit reached",
    }
    other = http.post(
        f"{sim.url}/api/v1/send_msg/", json={"client_id": CLIENT_ID, "api_key": "other", "phone": "9876543210"}
    )
    assert other.status_code == 200  # no limit set for that account
    control.advance_clock(86_400 - START % 86_400 - 1)  # the last second of the UTC day
    assert send(sim, http).status_code == 429
    control.advance_clock(1)  # midnight UTC
    assert [send(sim, http).status_code for _ in range(3)] == [200, 200, 429]
