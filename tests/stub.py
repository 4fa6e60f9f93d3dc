"""A tiny real HTTP server that answers with whatever a test's handler function returns."""

from __future__ import annotations

import contextlib
import json
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Stub:
    url: str
    requests: list[Seen] = field(default_factory=list)


#: ``(status, body)`` or ``(status, body, headers)``
Handler = Callable[[Seen], tuple[int, Any] | tuple[int, Any, dict[str, str]]]


@contextmanager
def stub_server(handler: Handler) -> Iterator[Stub]:
    """Serve ``handler(request) -> (status, body[, headers])`` on a loopback port; body dict/list → JSON."""
    stub = Stub(url="")

    class Request(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
            stub.requests.append(seen)
            status, body, *extra = handler(seen)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            for name, value in (extra[0] if extra else {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Request)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


#: kinds of a 429's ``Retry-After`` that the adapters' tests try
RETRY_AFTER_KINDS = ("seconds", "http-date", "absent", "unreadable")


def retry_after(kind: str) -> tuple[dict[str, str], tuple[float, float] | None]:
    """Headers of a 429 and the bounds of the delay its error must carry (None: no delay given,
    the worker's ``STATUSWATCH_RATE_COOLDOWN_S`` applies). A date is whole seconds, so 120 s
    ahead reads as a little under 120 s."""
    if kind == "seconds":
        return {"Retry-After": "7"}, (7.0, 7.0)
    if kind == "http-date":
        when = datetime.now(UTC) + timedelta(seconds=120)
        return {"Retry-After": format_datetime(when, usegmt=True)}, (100.0, 120.0)
    if kind == "absent":
        return {}, None
    return {"Retry-After": "soon"}, None


@contextmanager
def raw_server(respond: Callable[[Any], None]) -> Iterator[str]:
    """A loopback server that reads one request head and hands the socket to ``respond``,
    which writes whatever bytes it likes (a drip, a bomb, a broken head). Yields the URL.
    ``respond`` must bound its own time; a client that hangs up ends it (OSError)."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(5)
            head = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    data = self.request.recv(4096)
                    if not data:
                        return
                    head += data
                respond(self.request)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
