"""A loopback webhook receiver for tests and the bench (the simulator's sibling, standard
library only): it records every POST it gets and answers as told: at once, or failing the
first attempts at each event (a 5xx, a 429, a hang past the sender's timeout, a connection
reset, a 4xx), or slowly.

    with Receiver(fail_first=2, failures=("500", "reset", "hang")) as receiver:
        ...  # callback_url=receiver.url
        receiver.delivered   # [Received, ...] answered 2xx, in arrival order
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: the longest a "hang" holds a request (the sender gives up long before)
MAX_HANG_S = 30.0
#: the largest body read
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Received:
    event_id: str
    signature: str
    body: bytes
    path: str
    answered: str  #: "200", "500", "reset", ...
    at: float

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


class Receiver:
    """``fail_first``: how many attempts at each event (by ``Statuswatch-Event-Id``) fail, each
    the next of ``failures`` in turn: ``"500"``, ``"503"``, ``"429"`` (with ``Retry-After: 0``),
    ``"hang"`` (no answer for ``hang_s``), ``"reset"`` (the connection reset), ``"4xx"`` (a 400:
    the sender gives up). ``status``: the answer of the others (``200``; ``400`` refuses all).
    ``delay_s``: each answer waits that long first."""

    def __init__(
        self,
        fail_first: int = 0,
        failures: Sequence[str] = ("500",),
        status: int = 200,
        delay_s: float = 0.0,
        hang_s: float = 3.0,
        record: bool = True,
    ) -> None:
        self.fail_first = fail_first
        self.failures = tuple(failures)
        self.status = status
        self.delay_s = delay_s
        self.hang_s = min(hang_s, MAX_HANG_S)
        self.record = record
        self.attempts: list[Received] = []
        self.count = 0
        self._seen: Counter[str] = Counter()
        self._turn = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    @property
    def delivered(self) -> list[Received]:
        with self._lock:
            return [r for r in self.attempts if r.answered.startswith("2")]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer_for(self, event_id: str) -> str:
        with self._lock:
            self.count += 1
            self._seen[event_id] += 1
            if self._seen[event_id] <= self.fail_first and self.failures:
                answer = self.failures[self._turn % len(self.failures)]
                self._turn += 1
                return answer
            return str(self.status)

    def _note(self, received: Received) -> None:
        if self.record:
            with self._lock:
                self.attempts.append(received)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
                body = self.rfile.read(length)
                event_id = self.headers.get("Statuswatch-Event-Id", "")
                answer = receiver._answer_for(event_id)
                receiver._note(Received(event_id, self.headers.get("Statuswatch-Signature", ""), body, self.path,
                                        answer, time.time()))  # fmt: skip
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                if answer == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if answer == "hang":
                    time.sleep(receiver.hang_s)
                    self.close_connection = True
                    return
                status = 400 if answer == "4xx" else int(answer)
                payload = b'{"ok": true}' if status < 300 else b'{"error": "refused by the test receiver"}'
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
