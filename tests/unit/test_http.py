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
