"""One webhook attempt against loopback servers made here: a TLS receiver that drips its
answer, a redirect, DNS that answers slowly or differently the second time, and the
per-host cap with a slow and a fast receiver."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from worker.notify.guard import Guard
from worker.notify.webhook import Webhooks

SECRET = "whsec-unit-3e9a1c"


def resolving(mapping: dict[str, list[str]]) -> Any:
    def resolver(host: str, port: int) -> list[tuple[Any, ...]]:
        return [(2, 1, 6, "", (address, port)) for address in mapping.get(host, [host])]

    return resolver


class Dripper:
    """A loopback server that reads the request, then answers one byte every ``every_s``
    (for at most ``for_s``), each byte well inside the sender's per-read timeout."""

    def __init__(self, context: ssl.SSLContext | None = None, every_s: float = 0.05, for_s: float = 8.0) -> None:
        self.context, self.every_s, self.for_s = context, every_s, for_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Dripper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.listener.close()
        self.thread.join(timeout=self.for_s + 2)

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            try:
                sock = self.context.wrap_socket(conn, server_side=True) if self.context else conn
            except OSError:
                return
            with sock:
                self._drip(sock)

    def _drip(self, sock: socket.socket) -> None:
        try:
            sock.settimeout(self.for_s)
            sock.recv(65536)
            end = time.monotonic() + self.for_s
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
                if self.done.is_set() or time.monotonic() > end:
                    return
                sock.sendall(bytes([byte]))
                time.sleep(self.every_s)
        except OSError:
            return


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (openssl, made here)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def test_a_tls_receiver_that_drips_its_answer_is_cut_at_the_timeout(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))  # the test's own CA, verification stays on
    guard = Guard(["127.0.0.0/8"], resolver=resolving({"localhost": ["127.0.0.1"]}))
    webhooks = Webhooks((SECRET,), guard, 0.5, tls=client_context)
    with Dripper(server_context) as server:
        started = time.monotonic()
        outcome = webhooks.post(f"https://localhost:{server.port}/hook", "1-0", b"{}")
        elapsed = time.monotonic() - started
    assert outcome.kind == "timeout", outcome
    assert elapsed < 1.5


def test_a_plain_receiver_that_drips_its_answer_is_cut_at_the_timeout() -> None:
    webhooks = Webhooks((SECRET,), Guard(["127.0.0.0/8"]), 0.5)
    with Dripper() as server:
        started = time.monotonic()
        outcome = webhooks.post(f"http://127.0.0.1:{server.port}/hook", "1-0", b"{}")
        elapsed = time.monotonic() - started
    assert outcome.kind == "timeout", outcome
    assert elapsed < 1.5


def test_the_tls_certificate_is_verified(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    guard = Guard(["127.0.0.0/8"], resolver=resolving({"localhost": ["127.0.0.1"]}))
    webhooks = Webhooks((SECRET,), guard, 2.0)  # the system's CAs: the self-signed one is not among them
    with Dripper(server_context, for_s=1.0) as server:
        outcome = webhooks.post(f"https://localhost:{server.port}/hook", "1-0", b"{}")
    assert (outcome.result, outcome.kind) == ("retry", "connection")


def test_a_name_that_resolves_slowly_is_given_up_at_the_timeout() -> None:
    calls: list[str] = []

    def slow(host: str, port: int) -> list[tuple[Any, ...]]:
        calls.append(host)
        time.sleep(3.0)
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    webhooks = Webhooks((SECRET,), Guard(["127.0.0.0/8"], resolver=slow), 0.3)
    started = time.monotonic()
    outcome = webhooks.post("http://hooks.example/in", "1-0", b"{}")
    assert time.monotonic() - started < 1.0
    assert (outcome.result, outcome.kind) == ("retry", "dns") and "TimeoutError" in outcome.error
    assert calls == ["hooks.example"]


class Answering:
    """A loopback HTTP server answering every request with ``status``, ``headers`` and a body
    made by ``body(request headers)``; it records the requests' Host headers and times."""

    def __init__(self, status: int, body: Any = lambda h: b"", headers: dict[str, str] | None = None,
                 delay_s: float = 0.0) -> None:  # fmt: skip
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self
        self.seen: list[tuple[str, float, float]] = []  # (Host, start, end)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                start = time.monotonic()
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(delay_s)
                payload = body(self.headers)
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                outer.seen.append((self.headers.get("Host", ""), start, time.monotonic()))

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Answering:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_refusal_that_echoes_the_credentials_keeps_none_of_them() -> None:
    def echo(headers: Any) -> bytes:
        return f"denied; you sent Authorization: {headers['Authorization']} (Basic user)".encode()

    webhooks = Webhooks((SECRET,), Guard(["127.0.0.0/8"]), 2.0)
    with Answering(401, echo) as server:
        outcome = webhooks.post(f"http://hook-user:pa55-w0rd@127.0.0.1:{server.port}/in", "1-0", b"{}")
    assert (outcome.result, outcome.status) == ("refused", 401)
    assert "denied" in outcome.error
    for leaked in ("pa55-w0rd", "hook-user", "aG9vay11c2VyOnBhNTUtdzByZA", "Basic aG9v"):
        assert leaked not in outcome.error, outcome.error


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed(status: int) -> None:
    with Answering(200) as elsewhere:
        location = {"Location": f"http://127.0.0.1:{elsewhere.port}/stolen"}
        with Answering(status, headers=location) as server:
            webhooks = Webhooks((SECRET,), Guard(["127.0.0.0/8"]), 2.0)
            outcome = webhooks.post(f"http://127.0.0.1:{server.port}/in", "1-0", b"{}")
        assert elsewhere.seen == []
    assert (outcome.result, outcome.kind, outcome.status) == ("refused", "3xx", status)
    assert len(server.seen) == 1


def test_the_connection_goes_to_the_vetted_address_when_the_name_resolves_elsewhere_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name's first answer is checked and used; a second lookup (by
    anything that would resolve the name again, the system resolver included) says 127.0.0.2."""
    answers = iter([["127.0.0.1"]])

    def rebinding(host: str, port: int) -> list[tuple[Any, ...]]:
        addresses = next(answers, ["127.0.0.2"])
        return [(2, 1, 6, "", (address, port)) for address in addresses]

    real_getaddrinfo = socket.getaddrinfo

    def system(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real_getaddrinfo("127.0.0.2" if host == "rebind.example" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", system)
    with Answering(204) as vetted:
        other = socket.create_server(("127.0.0.2", vetted.port))  # the same port, the other address
        other.settimeout(0.5)
        try:
            webhooks = Webhooks((SECRET,), Guard(["127.0.0.1/32"], resolver=rebinding), 2.0)
            outcome = webhooks.post(f"http://rebind.example:{vetted.port}/in", "1-0", b"{}")
            with pytest.raises(OSError):
                other.accept()  # nobody came to the other address
        finally:
            other.close()
    assert outcome.result == "delivered"
    assert [host for host, _, _ in vetted.seen] == [f"rebind.example:{vetted.port}"]
