"""The one place where ``requests`` meets statuswatch: sessions, timeouts, error translation.

Adapters get ``(status, parsed JSON)`` back or one of the project's errors, raised
``from`` the original with the URL's token already redacted.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC
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
    #: a 4xx body that is not JSON, redacted and cut to 200 characters ("" otherwise)
    text: str = ""


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
            TransientError: no answer, a redirect, 5xx, or a 2xx body that is not JSON (a
                4xx with such a body is returned with ``body`` None).
        """
        try:
            # No redirect is followed: WBizTool's api_key is in the JSON body, which a 307/308
            # would post again to whatever host the answer names, and that host's answer about
            # the message would be applied. A gateway that moved is a transient error to look at.
            response = _session().request(method, url, timeout=self.timeout_s, allow_redirects=False, **kwargs)
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
        if 300 <= response.status_code < 400:
            location = self.redact(response.headers.get("Location", ""))[:100]
            raise TransientError(
                f"{where}: HTTP {response.status_code}, a redirect (to {location!r}), not followed",
                provider=self.provider,
            )
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            if 400 <= response.status_code < 500:
                # A refusal (401 "Unauthorized", an HTML 404) says what it means by its status;
                # its text is kept for the adapters that read words out of it.
                return Reply(response.status_code, None, self.redact(response.text[:200]))
            raise TransientError(
                f"{where}: HTTP {response.status_code} with a body that is not JSON ({len(response.content)} bytes)",
                provider=self.provider,
            ) from None
        return Reply(response.status_code, body)


def _path(url: str) -> str:
    return url.split("?", 1)[0]


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date, counted from ``now_s``, epoch
    seconds, default the wall clock), None when absent or unreadable: the caller's default applies."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": RFC 5322 says UTC, of unknown local zone
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now_s is None else now_s))
