"""Push ingestion's settings (``STATUSWATCH_WEBHOOKS_*``, ``STATUSWATCH_PUSH_*``): the webhook
receiver's address and limits, what is kept of a push that comes before its track request, and
how far polling backs off while an account's pushes arrive (docs/push.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from config.errors import ConfigError


class Reader(Protocol):
    """``config.settings._Reader``'s face (it names the variable in every error)."""

    def text(self, name: str, default: str) -> str: ...

    def seconds(self, name: str, default: float, zero: bool = False) -> float: ...

    def count(self, name: str, default: int) -> int: ...


@dataclass(frozen=True)
class PushSettings:
    #: where ``statuswatch webhooks`` listens (loopback by default: put a TLS proxy in front)
    address: str = "127.0.0.1"
    port: int = 8080
    #: the largest webhook body read; a larger one is refused with 413 (a status push is ~400 bytes)
    max_body_bytes: int = 64 * 1024
    #: a push for a message nobody tracks yet is kept this long for its track request...
    early_s: float = 600.0
    #: ...and at most this many of them (the oldest go first)
    early_max: int = 100_000
    #: an account whose last push came within this long counts as pushing...
    live_s: float = 300.0
    #: ...and its trackers are polled at most this often (the safety net)
    safety_poll_s: float = 600.0
    #: receiveNotification's long poll (the gateway allows 5 to 60 s)
    receive_timeout_s: int = 20


def load_push(reader: Reader) -> PushSettings:
    """The push settings, each variable validated by ``reader``."""
    d = PushSettings()
    receive = reader.count("NOTIFICATIONS_RECEIVE_TIMEOUT_S", d.receive_timeout_s)
    if not 5 <= receive <= 60:
        raise ConfigError(f"STATUSWATCH_NOTIFICATIONS_RECEIVE_TIMEOUT_S: must be 5 to 60 (the gateway's): {receive}")
    port = reader.count("WEBHOOKS_PORT", d.port)
    if port > 65535:
        raise ConfigError(f"STATUSWATCH_WEBHOOKS_PORT: must be a port number (1-65535), got {port}")
    return PushSettings(
        address=reader.text("WEBHOOKS_ADDRESS", d.address) or d.address,
        port=port,
        max_body_bytes=reader.count("WEBHOOKS_MAX_BODY_BYTES", d.max_body_bytes),
        early_s=reader.seconds("PUSH_EARLY_S", d.early_s),
        early_max=reader.count("PUSH_EARLY_MAX", d.early_max),
        live_s=reader.seconds("PUSH_LIVE_S", d.live_s, zero=True),
        safety_poll_s=reader.seconds("PUSH_SAFETY_POLL_S", d.safety_poll_s),
        receive_timeout_s=receive,
    )
