"""WBizTool over HTTP: form and JSON bodies, status codes 0-4, unknown ids, auth errors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(30)

KEY, CLIENT_ID = "api-key-1", 42
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
