"""The ``Statuswatch-Signature`` header: ``t=<unix seconds>,v1=<hex>[,v1=<hex>]``, each hex
HMAC-SHA256(secret, ``<t>.`` + raw body), one ``v1`` per configured secret (two while a
secret is rotated). ``verify`` is the receiver's side, as docs/contract.md gives it."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence

HEADER = "Statuswatch-Signature"
EVENT_ID_HEADER = "Statuswatch-Event-Id"
#: how old a signature a receiver accepts, by default
TOLERANCE_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], body: bytes, timestamp: int | None = None) -> str:
    """The header's value for ``body``, signed at ``timestamp`` (now by default) with each secret."""
    t = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={t}", *(f"v1={sign(secret, t, body)}" for secret in secrets)])


def verify(header: str, body: bytes, secret: str, tolerance_s: int = TOLERANCE_S, now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now``.
    Any header, however hostile (non-ASCII digits, a huge ``t``, non-ASCII ``v1``), is a
    plain False, never an exception."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v.strip() for k, v in parts if k.strip() == "t"]
    if len(stamps) != 1 or not re.fullmatch(r"\d{1,12}", stamps[0], re.ASCII):
        return False
    t = int(stamps[0])
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = sign(secret, t, body).encode("ascii")
    return any(
        hmac.compare_digest(expected, v.strip().encode("utf-8", "replace")) for k, v in parts if k.strip() == "v1"
    )
