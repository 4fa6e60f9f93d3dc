"""One webhook: an HTTP POST of an event to a vetted address, bounded in time and size.

The connection goes to an address ``Guard`` allowed a moment before (so a name cannot
resolve to a private address after the check), TLS is checked against the URL's host
name, no redirect is followed, and the answer is read to at most ``MAX_ANSWER_BYTES``. A
watchdog shuts the socket at the deadline (for HTTPS the TLS socket, watched from before
its handshake: wrapping detaches the plain one), so a receiver that answers a byte at a time
cannot hold a worker thread longer than the timeout. Errors are in our words: the URL (which
may carry a receiver's token) and the secrets are never in them.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from worker.notify.guard import Guard, Refused
from worker.notify.signing import EVENT_ID_HEADER, HEADER, signature_header
from worker.providers.http import parse_retry_after
from worker.providers.transport import USER_AGENT

#: the most of a receiver's answer read (it says nothing statuswatch needs beyond its status)
MAX_ANSWER_BYTES = 4096
#: the most of a refusal's body kept in the delivery's error
ANSWER_CHARS = 100
#: statuses after which the same event is tried again; any other 4xx (and a 3xx) gives up
RETRY_STATUSES = frozenset({408, 429})
#: what a refusal's body quoting our request's credentials looks like (an Authorization
#: header echoed, a Basic or Bearer value): cut from the error before it is kept or logged
AUTH_ECHO = re.compile(r"(?i)(?:proxy-)?authorization\s*[:=]\s*[^\r\n,;]*|\b(?:basic|bearer)\s+[\w.~+/=-]+")
#: what replaces them
CUT = "[credentials cut]"


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: ``delivered``, ``retry`` (try again later) or ``refused`` (give up)."""

    result: str
    error: str = ""
    status: int | None = None
    #: the receiver's Retry-After, seconds (429 and 503)
    retry_after_s: float | None = None
    #: a short name of what happened, for the counters: 2xx, 3xx, 4xx, 429, 5xx, timeout, connection, refused
    kind: str = ""


class _Watchdog:
    """Shuts the sockets of requests still running at their deadline (one daemon thread)."""

    TICK_S = 0.05

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a lock held at fork would stay held

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, socket.socket]] = {}
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> None:
        with self._lock:
            self._watched[id(sock)] = (deadline, sock)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="statuswatch-webhook-deadlines", daemon=True)
                self._thread.start()

    def forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._watched.pop(id(sock), None)

    def _run(self) -> None:
        while True:
            time.sleep(self.TICK_S)
            now = time.monotonic()
            with self._lock:
                for key, (deadline, sock) in list(self._watched.items()):
                    if deadline <= now:
                        del self._watched[key]
                        with contextlib.suppress(OSError):
                            socket.socket.shutdown(sock, socket.SHUT_RDWR)


_watchdog = _Watchdog()


class Webhooks:
    """Posts signed events. ``secrets``: the current signing key first."""

    def __init__(
        self, secrets: Sequence[str], guard: Guard, timeout_s: float, tls: ssl.SSLContext | None = None
    ) -> None:
        self.secrets = tuple(secrets)
        self.guard = guard
        self.timeout_s = timeout_s
        #: the TLS settings (tests pass one that trusts their own certificate)
        self.tls = tls or ssl.create_default_context()

    def post(self, url: str, event_id: str, body: bytes) -> Outcome:
        if not self.secrets:
            return Outcome("retry", "STATUSWATCH_CALLBACK_SECRET is not set: webhooks wait for it", kind="unsigned")
        parts = urlsplit(url)
        host, https = parts.hostname or "", parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        try:
            addresses = self.guard.addresses(host, port, timeout_s=self.timeout_s)
        except Refused as exc:
            return Outcome("refused", str(exc), kind="refused")
        except (OSError, UnicodeError, ValueError) as exc:
            return Outcome("retry", f"callback_url: the host did not resolve ({type(exc).__name__})", kind="dns")
        headers = {
            "Content-Type": "application/json", "User-Agent": USER_AGENT, "Connection": "close",
            HEADER: signature_header(self.secrets, body), EVENT_ID_HEADER: event_id,
        }  # fmt: skip
        hidden: tuple[str, ...] = ()
        if parts.username is not None:
            user, password = unquote(parts.username), unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            headers["Authorization"] = "Basic " + token
            hidden = (token, user, password)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return self._exchange(host, port, https, addresses[0], target, headers, body, hidden)

    def _exchange(
        self, host: str, port: int, https: bool, address: str, target: str, headers: dict[str, str], body: bytes,
        hidden: tuple[str, ...] = (),
    ) -> Outcome:  # fmt: skip
        deadline = time.monotonic() + self.timeout_s
        sock: socket.socket | None = None
        try:
            sock = socket.create_connection((address, port), timeout=self.timeout_s)
            conn: http.client.HTTPConnection
            if https:
                # wrapping detaches the plain socket (its fileno becomes -1): the watchdog
                # watches the TLS socket, the handshake included
                wrapped = self.tls.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
                sock = wrapped
                _watchdog.watch(sock, deadline)
                wrapped.do_handshake()
                conn = http.client.HTTPSConnection(host, port, timeout=self.timeout_s)
            else:
                _watchdog.watch(sock, deadline)
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout_s)
            conn.sock = sock
            conn.request("POST", target, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read(MAX_ANSWER_BYTES)
            if time.monotonic() >= deadline:
                raise TimeoutError
            return judge(response.status, response.getheader("Retry-After"), answer, hidden)
        except TimeoutError:
            return Outcome("retry", f"timed out (timeout {self.timeout_s:g} s)", kind="timeout")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if time.monotonic() >= deadline:
                return Outcome("retry", f"timed out (timeout {self.timeout_s:g} s)", kind="timeout")
            return Outcome("retry", f"connection failed ({type(exc).__name__})", kind="connection")
        finally:
            if sock is not None:
                _watchdog.forget(sock)
                with contextlib.suppress(OSError):
                    sock.close()


def judge(status: int, retry_after: str | None, answer: bytes, hidden: Sequence[str] = ()) -> Outcome:
    """What a receiver's answer means: 2xx delivered; 408, 429 and 5xx again later; other
    4xx and any 3xx (never followed) give up. A refusal's words are kept short, with our
    request's credentials (``hidden``, and anything like an Authorization echo) cut out."""
    if 200 <= status < 300:
        return Outcome("delivered", status=status, kind="2xx")
    said = scrub(answer.decode("utf-8", errors="replace"), hidden)[:ANSWER_CHARS]
    said = "".join(c if c.isprintable() else "?" for c in said)
    if status >= 500 or status in RETRY_STATUSES:
        kind = "429" if status == 429 else ("5xx" if status >= 500 else "4xx")
        return Outcome("retry", f"HTTP {status}", status, parse_retry_after(retry_after), kind=kind)
    if 300 <= status < 400:
        return Outcome("refused", f"HTTP {status}: a redirect, not followed", status, kind="3xx")
    return Outcome("refused", f"HTTP {status} {said!r}".rstrip(), status, kind="4xx" if status >= 400 else "other")


def scrub(text: str, hidden: Sequence[str] = ()) -> str:
    """``text`` without the ``hidden`` strings (longest first) and Authorization echoes."""
    for needle in sorted((h for h in hidden if h), key=len, reverse=True):
        text = text.replace(needle, CUT)
    return AUTH_ECHO.sub(CUT, text)
