"""HTTP/1.1 messages as plain values: parse a request head, encode a response. No sockets here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    466: "Quota Exceeded",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
}

JSON = "application/json"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


class BadRequest(Exception):
    """The bytes are not an HTTP/1.x request we can serve; answer `status` and close."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(slots=True)
class Request:
    method: str
    #: raw (still percent-encoded) path, without the query
    path: str
    query: dict[str, str]
    #: header names lower-cased
    headers: dict[str, str]
    keep_alive: bool
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError."""
        return json.loads(self.body)


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = field(default=())


def json_response(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status, body, JSON, headers)


def text_response(status: int, text: str, content_type: str = TEXT) -> Response:
    return Response(status, text.encode(), content_type)


def html_page(status: int, title: str) -> Response:
    page = f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    return text_response(status, page, HTML)


def parse_head(head: bytes) -> tuple[Request, int]:
    """Parse a request line and headers (ending in a blank line); return the request and its
    Content-Length. Raises BadRequest."""
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequest(f"bad request line {lines[0]!r}") from None
    if not version.startswith("HTTP/1."):
        raise BadRequest(f"unsupported version {version!r}")
    headers = {}
    for line in lines[1:]:
        if line:
            name, colon, value = line.partition(":")
            if not colon:
                raise BadRequest(f"bad header line {line!r}")
            headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise BadRequest("chunked request bodies are not supported", 501)
    path, _, query = target.partition("?")
    request = Request(method, path, _query(query), headers, _keep_alive(version, headers))
    return request, _content_length(headers)


def _query(query: str) -> dict[str, str]:
    return dict(parse_qsl(query, keep_blank_values=True)) if query else {}


def _keep_alive(version: str, headers: dict[str, str]) -> bool:
    connection = headers.get("connection", "").lower()
    if version == "HTTP/1.0":
        return "keep-alive" in connection
    return "close" not in connection


def _content_length(headers: dict[str, str]) -> int:
    raw = headers.get("content-length", "0")
    if not raw.isdigit():
        raise BadRequest(f"bad Content-Length {raw!r}")
    return int(raw)


def encode_response(response: Response, keep_alive: bool) -> bytes:
    status = response.status
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
    ]
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body
