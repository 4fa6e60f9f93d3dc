"""The one place where ``requests`` meets statuswatch: timeouts, bounds, error translation (the
sessions and the deadline watchdog under them: ``worker.providers.transport``).

Adapters get ``(status, parsed JSON)`` back or one of the project's errors, raised
``from`` None with the URL's token already redacted. Nothing a gateway sends is trusted
to be well-behaved: no redirect is followed, an answer is read up to ``max_body_bytes``
after decompression, the whole exchange ends at one deadline, and whatever else goes
wrong while asking or reading is a ``TransientError``, never another exception.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from worker import arrival
from worker.errors import RateLimited, TransientError
from worker.providers import transport
from worker.redact import Redactor
from worker.text import clip

#: the largest answer read, after decompression (``STATUSWATCH_HTTP_MAX_BODY_BYTES``)
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
#: how much of an answer one read takes
CHUNK_BYTES = 64 * 1024
#: the most of a gateway's text (an error body, a Location, an exception) an error carries
TEXT_CHARS = 200


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    #: a 4xx body that is not JSON, redacted and cut to 200 characters ("" otherwise)
    text: str = ""


class Http:
    """Makes gateway requests for one provider and turns failures into statuswatch errors."""

    def __init__(
        self, provider: str, redactor: Redactor, timeout_s: float, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ) -> None:
        self.provider = provider
        self.redact = redactor
        #: each socket read, and the whole exchange from connecting to the answer's last byte
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes

    def text(self, value: object, limit: int = TEXT_CHARS) -> str:
        """A gateway's words for an error or a log line: redacted, then cut. (Cut first, a
        secret the gateway echoes could straddle the cut and keep its start unmasked.)"""
        return clip(self.redact(str(value)), limit)

    def request(self, method: str, url: str, **kwargs: Any) -> Reply:
        """Send one request; return the status and the JSON body.

        Raises:
            RateLimited: HTTP 429.
            TransientError: no answer within the timeout, a redirect, 5xx, an answer larger
                than ``max_body_bytes``, or a 2xx body that is not JSON (a 4xx with such a
                body is returned with ``body`` None); anything else that went wrong.
        """
        deadline = time.monotonic() + self.timeout_s
        with transport.deadline(deadline):
            return self._exchange(method, url, deadline, kwargs)

    def _exchange(self, method: str, url: str, deadline: float, kwargs: dict[str, Any]) -> Reply:
        try:
            response = transport.session().request(method, url, timeout=self.timeout_s, stream=True, **kwargs)
        except arrival.NotSent:
            raise  # nothing was sent: the limiter's business, not an error
        except Exception as exc:  # requests' errors, and whatever else asking raised
            raise self._failure(method, url, exc, deadline) from None
        self._in_time(response, method, url, deadline)
        where = self.redact(f"{self.provider}: {method} {_path(url)}")
        with response:  # releases the connection, or closes it when the answer was not read to its end
            status = response.status_code
            if status == 429:
                raise RateLimited(
                    f"{where}: HTTP 429",
                    provider=self.provider,
                    retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
                )
            if status >= 500 or status < 200:
                raise TransientError(f"{where}: HTTP {status}", provider=self.provider)
            if 300 <= status < 400:
                location = self.redact(response.headers.get("Location", ""))[:100]
                raise TransientError(
                    f"{where}: HTTP {status}, a redirect (to {location!r}), not followed", provider=self.provider
                )
            data = self._read(response, method, url, where, deadline)
            self._in_time(response, method, url, deadline)
        try:
            return Reply(status, json.loads(data))
        except (ValueError, RecursionError):  # RecursionError: a body nested too deep to parse
            if 400 <= status < 500:
                # A refusal (401 "Unauthorized", an HTML 404) says what it means by its status;
                # its text is kept for the adapters that read words out of it.
                text = data.decode("utf-8", errors="replace")
                return Reply(status, None, self.redact(text)[:TEXT_CHARS])
            raise TransientError(
                f"{where}: HTTP {status} with a body that is not JSON ({len(data)} bytes)", provider=self.provider
            ) from None

    def _read(self, response: requests.Response, method: str, url: str, where: str, deadline: float) -> bytes:
        """The body, decompressed, up to ``max_body_bytes`` (urllib3 ≥ 2.6 inflates no more
        than each read asks for, so a gzip bomb stops at the cap, not in memory)."""
        declared = response.headers.get("Content-Length", "")
        too_large = TransientError(
            f"{where}: HTTP {response.status_code} with an answer larger than {self.max_body_bytes} bytes",
            provider=self.provider,
        )
        encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
        if not encoded and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise too_large  # said so before a byte of it: not read at all
        chunks: list[bytes] = []
        size = 0
        reader = response.iter_content(CHUNK_BYTES)
        while size <= self.max_body_bytes:
            try:
                chunk = next(reader, None)
            except Exception as exc:
                raise self._failure(method, url, exc, deadline) from None
            if chunk is None:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        raise too_large

    def _in_time(self, response: requests.Response, method: str, url: str, deadline: float) -> None:
        """Past the deadline, what was read may have been cut short by the watchdog's shut
        socket (an end of file that looks like the answer's end): it is a timeout."""
        if time.monotonic() >= deadline:
            response.close()
            raise self._failure(method, url, requests.Timeout("the whole answer took too long"), deadline)

    def _failure(self, method: str, url: str, exc: Exception, deadline: float) -> TransientError:
        """What a request that got no whole answer raised, as a redacted, bounded error."""
        if isinstance(exc, requests.Timeout) or time.monotonic() >= deadline:
            kind = f"timed out (timeout {self.timeout_s:g} s)"
        elif isinstance(exc, requests.RequestException):
            kind = "connection failed"
        else:
            kind = f"unreadable answer ({type(exc).__name__})"
        text = self.redact(str(exc))[:TEXT_CHARS]
        return TransientError(self.redact(f"{self.provider}: {method} {url}: {kind}: {text}"), provider=self.provider)


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
