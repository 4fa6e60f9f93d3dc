"""The event: one change of a tracker, as the stream holds it, ``statuswatch events --json``
and ``status --json`` show it, a webhook posts it and a callback task receives it.

The Lua scripts write it (``emit`` in ``worker/lua/_states.lua``): on the events stream as
flat string fields, and for a tracker with a callback, the same fields as one JSON object
in its outbox. ``event_object`` turns either into the one documented object
(docs/contract.md, "Events"): numbers as numbers, ``meta`` and ``detail`` as objects,
absent optional fields as null.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: the event's fields, in the order the contract documents them
FIELDS = (
    "event_id", "tracker", "provider", "account", "msg_id", "state", "previous", "raw_state", "outcome",
    "reason", "error", "provider_ts", "observed_at", "detail", "meta",
)  # fmt: skip
#: fields that are epoch seconds (the scripts write them with millisecond precision)
_TIMES = ("provider_ts", "observed_at")
#: fields that hold JSON objects
_OBJECTS = ("detail", "meta")


def event_object(event_id: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """The documented event of one stream entry (``event_id`` its id) or outbox entry."""
    event: dict[str, Any] = {}
    for name in FIELDS:
        value = event_id if name == "event_id" else fields.get(name)
        if value is None or value == "":
            event[name] = None
        elif name in _TIMES:
            event[name] = _seconds(value)
        elif name in _OBJECTS:
            event[name] = _object(value)
        else:
            event[name] = value
    return event


def from_outbox(entry: str) -> dict[str, Any]:
    """The event of one outbox entry (the JSON object ``emit`` wrote; its ``callback``, where
    it goes, is no part of the event)."""
    fields = json.loads(entry)
    fields.pop("callback", None)
    return event_object(str(fields.pop("event_id")), {k: str(v) for k, v in fields.items()})


def encode(event: Mapping[str, Any]) -> bytes:
    """The event as a webhook's body: compact UTF-8 JSON, keys in the documented order."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _seconds(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _object(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return None
