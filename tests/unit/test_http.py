"""worker/providers/http.py: Retry-After reading (a pure function), a 4xx body that is not JSON,
and gateways that redirect, drip, flood or nest without end (loopback servers)."""

from __future__ import annotations

import gzip
import socket
import time
import tracemalloc
from collections.abc import Callable

import pytest

from tests.stub import raw_server, stub_server
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


@pytest.mark.parametrize("location", [b"http://[::1", b"http://127.0.0.1:1/\xff\xfe", b"\x1b[2J" * 200])
def test_a_redirect_with_a_broken_location_is_a_bounded_transient_error(location: bytes) -> None:
    """A malformed Location (ValueError) or one that is not UTF-8 (UnicodeDecodeError)
    escaped from requests while it followed the redirect."""
    from worker.errors import TransientError

    answer = b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
    with raw_server(lambda sock: sock.sendall(answer)) as url, pytest.raises(TransientError) as caught:
        Http("wamm", Redactor(), timeout_s=2).request("GET", url)
    assert "HTTP 302" in str(caught.value) and len(str(caught.value)) <= 500


# -- answers without bounds: size, decompressed size, time (issue 11) -------------------------

BODY = b'{"err": 0, "msg_data": {"msg_id": "1", "state": "delivered"}}'
DRIP_EVERY_S = 0.25


def head(status: str = "200 OK", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def dripping(prefix: bytes, rest: bytes) -> Callable[[socket.socket], None]:
    """Sends ``prefix``, then ``rest`` one byte every DRIP_EVERY_S: each read comes in well
    within any read timeout, the answer never does."""

    def respond(sock: socket.socket) -> None:
        sock.sendall(prefix)
        for i in range(len(rest)):
            time.sleep(DRIP_EVERY_S)
            sock.sendall(rest[i : i + 1])

    return respond


@pytest.mark.parametrize("part", ["head", "body"])
def test_a_dripping_answer_ends_at_one_deadline(part: str) -> None:
    from worker.errors import TransientError

    answer = head(Content_Length=str(len(BODY))) + BODY
    cut = 12 if part == "head" else len(answer) - len(BODY)
    with raw_server(dripping(answer[:cut], answer[cut:])) as url:
        started = time.monotonic()
        with pytest.raises(TransientError) as caught:
            Http("wamm", Redactor(), timeout_s=1).request("GET", url)
        elapsed = time.monotonic() - started
    assert "timed out" in str(caught.value)
    assert elapsed < 1.6  # the deadline (1 s) and the watchdog's tick, not 15 s of drip


def flood(answer_head: bytes, size: int, chunk: bytes = b" " * 65536) -> Callable[[socket.socket], None]:
    def respond(sock: socket.socket) -> None:
        sock.sendall(answer_head)
        for _ in range(size // len(chunk)):
            sock.sendall(chunk)

    return respond


def peak_bytes(call: Callable[[], object]) -> int:
    """The most memory Python allocated while ``call`` ran (its exception is re-raised)."""
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
def test_an_answer_larger_than_the_cap_is_refused_unread(declared: bool) -> None:
    from worker.errors import TransientError

    size, cap = 3 * 1024 * 1024, 256 * 1024
    extra = {"Content_Length": str(size)} if declared else {"Connection": "close"}
    caught: list[TransientError] = []

    def call() -> None:
        try:
            Http("wamm", Redactor(), timeout_s=5, max_body_bytes=cap).request("GET", url)
        except TransientError as exc:
            caught.append(exc)

    with raw_server(flood(head(**extra), size)) as url:
        peak = peak_bytes(call)
    assert caught and f"larger than {cap} bytes" in str(caught[0])
    assert peak < 2 * cap + 512 * 1024  # never the 3 MB


def test_a_gzip_bomb_is_cut_at_the_cap_of_the_decompressed_body() -> None:
    from worker.errors import TransientError

    inflated, cap = 20 * 1024 * 1024, 256 * 1024
    bomb = gzip.compress(b"[" + b" " * inflated + b"]", compresslevel=9)  # about 20 kB on the wire
    answer = head(Content_Encoding="gzip", Content_Length=str(len(bomb))) + bomb
    caught: list[TransientError] = []

    def call() -> None:
        try:
            Http("wamm", Redactor(), timeout_s=5, max_body_bytes=cap).request("GET", url)
        except TransientError as exc:
            caught.append(exc)

    with raw_server(lambda sock: sock.sendall(answer)) as url:
        started = time.monotonic()
        peak = peak_bytes(call)
        elapsed = time.monotonic() - started
    assert caught and f"larger than {cap} bytes" in str(caught[0])
    assert peak < 4 * 1024 * 1024 and elapsed < 2  # never the 20 MB it inflates to


def test_a_deeply_nested_body_is_a_transient_error() -> None:
    """json.loads raises RecursionError, which is no ValueError, on a body nested 100,000 deep."""
    from worker.errors import TransientError

    body = b"[" * 100_000 + b"]" * 100_000
    answer = head(Content_Length=str(len(body))) + body
    with raw_server(lambda sock: sock.sendall(answer)) as url, pytest.raises(TransientError) as caught:
        Http("wamm", Redactor(), timeout_s=2).request("GET", url)
    assert "not JSON" in str(caught.value)


def test_a_small_gzip_answer_is_still_read() -> None:
    body = gzip.compress(BODY)
    answer = head(Content_Encoding="gzip", Content_Length=str(len(body))) + body
    with raw_server(lambda sock: sock.sendall(answer)) as url:
        reply = Http("wamm", Redactor(), timeout_s=2, max_body_bytes=len(BODY)).request("GET", url)
    assert reply.body == {"err": 0, "msg_data": {"msg_id": "1", "state": "delivered"}}
