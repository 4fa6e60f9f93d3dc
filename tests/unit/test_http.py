"""worker/providers/http.py: Retry-After reading (a pure function) and a 4xx body that is not JSON."""

from __future__ import annotations

import pytest

from tests.stub import stub_server
from worker.providers.http import Http, parse_retry_after
from worker.redact import Redactor

#: Wed, 21 Oct 2015 07:28:00 GMT
NOW_S = 1_445_412_480.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),  # delta-seconds
        ("0", 0.0),
        ("1.5", 1.5),  # not RFC 9110, but plain enough to honour
        ("-5", 0.0),  # never a negative wait
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),  # HTTP date, counted from now
        ("Wed, 21 Oct 2015 07:28:30 -0000", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past
        (None, None),  # absent: the caller's default applies
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),  # would cool a credential down forever
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now_s=NOW_S) == seconds


def test_a_4xx_body_that_is_not_json_is_kept_as_redacted_text() -> None:
    secret = "s3cret-token"
    with stub_server(lambda seen: (400, f"Validation failed for {secret}".encode())) as stub:
        reply = Http("greenapi", Redactor([secret]), timeout_s=2).request("GET", stub.url)
    assert (reply.status, reply.body, reply.text) == (400, None, "Validation failed for ***")


# -- a gateway that redirects: nothing is followed (issue 11) ---------------------------------

REDIRECTS = (301, 302, 303, 307, 308)


@pytest.mark.parametrize("status", REDIRECTS)
def test_no_gateway_request_follows_a_redirect(status: int) -> None:
    """WBizTool posts its api_key in the JSON body: a 307/308 followed would re-post it to
    whatever host the answer names, and a WAMM answer from that host would be applied."""
    from config import Account
    from worker.errors import TransientError
    from worker.providers import MessageRef, build

    api_key, token = "wbiz-key-7c1e9", "wamm-tok-55d0a"
    with stub_server(lambda seen: (200, {"err": 0, "msg_data": {"state": "viewed"}})) as elsewhere:

        def redirect(seen: object) -> tuple[int, bytes, dict[str, str]]:
            return status, b"", {"Location": f"{elsewhere.url}/api2/msg_state/{token}/?api_key={api_key}"}

        with stub_server(redirect) as gateway:
            redactor = Redactor([api_key, token])
            wbiz = build(
                Account("billing", "wbiztool", gateway.url, {"client_id": "7", "api_key": api_key}),
                Http("wbiztool", redactor, timeout_s=2),
            )
            wamm = build(Account("shop", "wamm", gateway.url, {"token": token}), Http("wamm", redactor, timeout_s=2))
            for adapter in (wbiz, wamm):
                with pytest.raises(TransientError) as caught:
                    adapter.fetch(MessageRef("12345"))
                text = str(caught.value)
                assert f"HTTP {status}" in text and "redirect" in text
                assert api_key not in text and token not in text and len(text) <= 500
    assert len(gateway.requests) == 2
    assert elsewhere.requests == []  # nothing, and no api_key, reached the second host
