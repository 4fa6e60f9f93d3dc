"""The HTTP/1.1 layer over a real socket: keep-alive, pipelining, Connection: close, errors."""

from __future__ import annotations

import socket

import pytest

pytestmark = pytest.mark.timeout(30)

HEALTH = b"GET /_sim/health HTTP/1.1\r\nHost: x\r\n\r\n"


def connect(sim):
    sock = socket.create_connection(("127.0.0.1", sim.port), timeout=5)
    return sock, sock.makefile("rb")


def read_response(stream):
    """(status, headers, body) of one response read by its Content-Length."""
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        headers[name.lower()] = value.strip()
    return status, headers, stream.read(int(headers["content-length"]))


def test_keep_alive_serves_requests_one_after_another_on_one_connection(sim):
    sock, stream = connect(sim)
    with sock, stream:
        for _ in range(3):
            sock.sendall(HEALTH)
            status, headers, _ = read_response(stream)
            assert status == 200
            assert "connection" not in headers


def test_pipelined_requests_are_answered_in_order(sim):
    sock, stream = connect(sim)
    with sock, stream:
        sock.sendall(HEALTH + b"GET /nowhere HTTP/1.1\r\n\r\n" + HEALTH)
        assert [read_response(stream)[0] for _ in range(3)] == [200, 404, 200]


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET /_sim/health HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /_sim/health HTTP/1.0\r\n\r\n",
    ],
)
def test_a_connection_the_client_wants_closed_is_closed_after_the_answer(sim, request_head):
    sock, stream = connect(sim)
    with sock, stream:
        sock.sendall(request_head)
        status, headers, _ = read_response(stream)
        assert (status, headers["connection"]) == (200, "close")
        assert stream.read() == b""


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"POST /_sim/reset HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    ],
)
def test_a_request_we_cannot_read_is_refused_and_the_connection_closed(sim, request_head, status):
    sock, stream = connect(sim)
    with sock, stream:
        sock.sendall(request_head)
        assert read_response(stream)[0] == status
        assert stream.read() == b""


def test_expect_100_continue_is_answered_before_the_body(sim):
    body = b'{"messages": []}'
    sock, stream = connect(sim)
    with sock, stream:
        sock.sendall(b"POST /_sim/messages HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert stream.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert stream.readline() == b"\r\n"
        sock.sendall(body)
        assert read_response(stream)[2] == b'{"added":0}'


def test_unknown_paths_are_404(sim, http):
    for path in ("/", "/api2/msg_to/T/", "/api/v1/send_msg/", "/waInstance1/sendMessage/t"):
        assert http.get(sim.url + path).status_code == 404
