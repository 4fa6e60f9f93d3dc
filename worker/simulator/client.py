"""A standard-library client of the simulator's control API (`/_sim/...`)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

#: the simulator is local: never send its traffic through an HTTP proxy from the environment
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

#: messages per POST: 10,000 messages are ~2 MB of JSON
BATCH_SIZE = 10_000


def simulator_url(host: str, port: int) -> str:
    """The base URL of a simulator listening on ``host:port`` (IPv6 hosts bracketed)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class SimulatorError(RuntimeError):
    """The control API refused a request (its `{"error": ...}` text is in the message)."""


class SimulatorClient:
    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def add_messages(self, messages: Iterable[dict[str, Any]]) -> int:
        """Add messages (see the package docstring for their fields); return how many."""
        batch: list[dict[str, Any]] = []
        added = 0
        for message in messages:
            batch.append(message)
            if len(batch) == BATCH_SIZE:
                added += self._call("POST", "/_sim/messages", {"messages": batch})["added"]
                batch = []
        if batch:
            added += self._call("POST", "/_sim/messages", {"messages": batch})["added"]
        return added

    def configure(self, **config: Any) -> dict[str, Any]:
        """Merge `config` into the simulator's; return the resulting config."""
        return dict(self._call("POST", "/_sim/config", config)["config"])

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sim/stats"))

    def requests_by_message(self) -> dict[str, dict[str, dict[str, int]]]:
        """{credential: {method: {msg_id: requests}}} for calls about one message."""
        return dict(self._call("GET", "/_sim/requests")["by_message"])

    def reset(self) -> None:
        self._call("POST", "/_sim/reset", {})

    def advance_clock(self, seconds: float) -> float:
        """Move the simulator's clock forward; return its new time (epoch seconds)."""
        return float(self._call("POST", "/_sim/clock", {"advance_s": seconds})["now"])

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sim/health"))

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with _OPENER.open(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                raise SimulatorError(f"{method} {path}: HTTP {exc.code} {exc.read()!r}") from None
