"""The connections under every gateway request: one keep-alive session per thread that never
follows a redirect, and a watchdog that ends a request at its deadline.

requests' own timeout bounds each socket read, not the answer; ``Deadlines`` shuts the socket
of a request still running at its deadline, so a gateway dripping a byte a second cannot
hold a check. ``worker.providers.http`` makes the requests and reads the answers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.request import getproxies

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.response import HTTPResponse

from worker import arrival

USER_AGENT = "statuswatch/0.1"

_local = threading.local()


class _Deadlines:
    """Shuts the socket of a request still running at its deadline.

    requests' timeout bounds each socket read, not the answer: a gateway that drips a byte
    a second holds a check as long as it likes. One daemon thread per process looks every
    ``TICK_S``; the shut socket makes the blocked read return at once, and the request is
    reported as timed out.
    """

    TICK_S = 0.1

    def __init__(self) -> None:
        self._reset()
        # a lock held by this thread at fork time would stay held in the child for ever
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, socket.socket]] = {}
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket | None) -> None:
        """Watch ``sock`` until this thread's request is over (its deadline: ``_local.deadline``)."""
        deadline: float | None = getattr(_local, "deadline", None)
        if sock is None or deadline is None:
            return
        with self._lock:
            self._watched[threading.get_ident()] = (deadline, sock)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="statuswatch-http-deadlines", daemon=True)
                self._thread.start()

    def forget(self) -> None:
        with self._lock:
            self._watched.pop(threading.get_ident(), None)

    def _run(self) -> None:
        while True:
            time.sleep(self.TICK_S)
            now = time.monotonic()
            # under the lock, so the request cannot end and lend the socket to the next one meanwhile
            with self._lock:
                for ident, (deadline, sock) in list(self._watched.items()):
                    if deadline <= now:
                        del self._watched[ident]
                        with contextlib.suppress(OSError):
                            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # also for TLS: no TLS state touched


_deadlines = _Deadlines()


class _HTTPConnection(HTTPConnection):
    def send(self, data: Any) -> None:
        if self.sock is None:  # connected first, so a slow connect counts against the grant
            self.connect()
        arrival.leaving()  # the limiter's grant, fresh, or nothing is written
        super().send(data)

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3's own
        _deadlines.watch(self.sock)
        return super().getresponse()


class _HTTPSConnection(HTTPSConnection):
    def send(self, data: Any) -> None:
        if self.sock is None:
            self.connect()
        arrival.leaving()
        super().send(data)

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3's own
        _deadlines.watch(self.sock)
        return super().getresponse()


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    """requests' adapter with connections the deadline watchdog sees."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools have connection classes of their own
            manager.pool_classes_by_scheme = _POOLS
        return manager


class _Session(requests.Session):
    """A session that never follows a redirect, nor even reads where one points.

    WBizTool's api_key is in the JSON body, which a 307/308 would post again to whatever
    host the answer names, and that host's answer about the message would be applied.
    requests parses ``Location`` even with ``allow_redirects=False`` (to offer ``.next``),
    and a malformed one raised ValueError or UnicodeDecodeError out of the request.
    """

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


def session() -> requests.Session:
    """One keep-alive session per thread: sessions are not promised to be thread-safe.

    Without proxy variables in the environment the session does not consult it per request
    (``trust_env``): that lookup cost more CPU than the rest of a request.
    """
    current: requests.Session | None = getattr(_local, "session", None)
    if current is None:
        current = _Session()
        current.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        current.trust_env = bool(getproxies())
        for prefix in ("http://", "https://"):
            current.mount(prefix, _Adapter())
        _local.session = current
    return current


@contextlib.contextmanager
def deadline(at: float) -> Iterator[None]:
    """Within this block, this thread's request ends at ``at`` (``time.monotonic()``): its
    socket is shut then, if the request is still running."""
    _local.deadline = at
    try:
        yield
    finally:
        _local.deadline = None
        _deadlines.forget()
