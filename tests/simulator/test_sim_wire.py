"""Parsing request heads and encoding responses, without sockets."""

from __future__ import annotations

import pytest

from worker.simulator.wire import BadRequest, Response, encode_response, parse_head

pytestmark = pytest.mark.timeout(30)


def test_request_line_headers_query_and_length():
    request, length = parse_head(
        b"POST /api2/msg_state/T/?msg_id=5&x=a%20b HTTP/1.1\r\n"
        b"Host: x\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n"
    )
    assert (request.method, request.path) == ("POST", "/api2/msg_state/T/")
    assert request.query == {"msg_id": "5", "x": "a b"}
    assert request.headers["content-type"] == "application/json"
    assert length == 12
    assert request.keep_alive


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        ("HTTP/1.1", "", True),
        ("HTTP/1.1", "close", False),
        ("HTTP/1.1", "Close", False),
        ("HTTP/1.0", "", False),
        ("HTTP/1.0", "keep-alive", True),
    ],
)
def test_keep_alive_follows_the_version_and_the_connection_header(version, connection, keep_alive):
    header = f"Connection: {connection}\r\n" if connection else ""
    request, _ = parse_head(f"GET / {version}\r\n{header}\r\n".encode())
    assert request.keep_alive is keep_alive


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /\r\n\r\n", 400),
        (b"GET / SPDY/3\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    ],
)
def test_bad_heads_are_refused(head, status):
    with pytest.raises(BadRequest) as caught:
        parse_head(head)
    assert caught.value.status == status


def test_encoding_names_the_length_and_closes_when_asked():
    response = Response(429, b'{"a":1}', headers=(("Retry-After", "1"),))
    assert encode_response(response, keep_alive=True) == (
        b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
        b'Content-Length: 7\r\nRetry-After: 1\r\n\r\n{"a":1}'
    )
    assert b"\r\nConnection: close\r\n" in encode_response(response, keep_alive=False)
