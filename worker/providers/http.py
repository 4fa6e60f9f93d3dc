"""The one place where ``requests`` meets statuswatch: sessions, timeouts, error translation.

Adapters get ``(status, parsed JSON)`` back or one of the project's errors, raised
``from`` the original with the URL's token already redacted.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.request import getproxies

import requests

from worker.errors import RateLimited, TransientError
from worker.redact import Redactor

USER_AGENT = "statuswatch/0.1"
_local = threading.local()


def _session() -> requests.Session:
    """One keep-alive session per thread: sessions are not promised to be thread-safe.

    Without proxy variables in the environment the session does not consult it per request
    (``trust_env``): that lookup cost more CPU than the rest of a request.
    """
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        session.trust_env = bool(getproxies())
        _local.session = session
    return session


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


class Http:
    """Makes gateway requests for one provider and turns failures into statuswatch errors."""

    def __init__(self, provider: str, redactor: Redactor, timeout_s: float) -> None:
        self.provider = provider
        self.redact = redactor
        self.timeout_s = timeout_s

    def request(self, method: str, url: str, **kwargs: Any) -> Reply:
        """Send one request; return the status and the JSON body.

        Raises:
            RateLimited: HTTP 429.
            TransientError: no answer, 5xx, or a 2xx/3xx body that is not JSON (a 4xx
                with such a body is returned with ``body`` None).
        """
        try:
            response = _session().request(method, url, timeout=self.timeout_s, **kwargs)
        except requests.RequestException as exc:
            kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
            raise TransientError(
                self.redact(f"{self.provider}: {method} {url}: {kind}: {exc}"), provider=self.provider
            ) from None
        where = self.redact(f"{self.provider}: {method} {_path(url)}")
        if response.status_code == 429:
            raise RateLimited(
                f"{where}: HTTP 429",
                provider=self.provider,
                retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code >= 500:
            raise TransientError(f"{where}: HTTP {response.status_code}", provider=self.provider)
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            if 400 <= response.status_code < 500:
                # A refusal (401 "Unauthorized", an HTML 404) says what it means by its status.
                return Reply(response.status_code, None)
            raise TransientError(
                f"{where}: HTTP {response.status_code} with a body that is not JSON ({len(response.content)} bytes)",
                provider=self.provider,
            ) from None
        return Reply(response.status_code, body)


def _path(url: str) -> str:
    return url.split("?", 1)[0]


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
