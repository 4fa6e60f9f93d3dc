"""What the store hands back: trackers as stored, and what each write did."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from worker.keys import split_tracker_id
from worker.states import Outcome, State


@dataclass(frozen=True)
class HistoryEntry:
    state: State
    raw_state: str
    at_ms: int


@dataclass(frozen=True)
class Tracker:
    """One tracker as stored."""

    id: str
    state: State
    raw_state: str
    outcome: Outcome
    until: State
    expires_at_ms: int
    created_at_ms: int
    checks: int
    errors: int
    history: list[HistoryEntry]
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def provider(self) -> str:
        return split_tracker_id(self.id)[0]

    @property
    def account(self) -> str:
        return split_tracker_id(self.id)[1]

    @property
    def msg_id(self) -> str:
        return split_tracker_id(self.id)[2]

    def as_json(self) -> dict[str, Any]:
        """The ``statuswatch status --json`` record: times in epoch seconds."""
        extra = {k: self.fields[k] for k in ("chat_id", "kind", "reason", "error") if self.fields.get(k)}
        if self.fields.get("detail"):
            extra["detail"] = json.loads(self.fields["detail"])
        return {
            "provider": self.provider, "account": self.account, "msg_id": self.msg_id,
            "state": self.state.value, "raw_state": self.raw_state, "outcome": self.outcome.value,
            "until": self.until.value, "expires_at": self.expires_at_ms / 1000,
            "created_at": self.created_at_ms / 1000, "checks": self.checks,
            "history": [
                {"state": h.state.value, "raw_state": h.raw_state, "at": h.at_ms / 1000}
                for h in self.history
            ],
            **extra,
        }  # fmt: skip


@dataclass(frozen=True)
class Registered:
    """What ``register`` did: ``created``, ``updated``, ``unchanged``, ``reopened`` or ``finished``."""

    status: str
    outcome: Outcome
    #: a push kept for this tracker before it was tracked (JSON), to apply; '' for none
    early: str = ""


@dataclass(frozen=True)
class Observed:
    """What ``observe`` did."""

    #: "ok", "gone" (no such tracker), "finished" (already ended) or "early" (a push kept
    #: for a track request to come)
    status: str
    state: State | None
    previous: State | None
    outcome: Outcome | None
    changed: bool


def parse_history(text: str, created_at_ms: int) -> list[HistoryEntry]:
    """``state|raw|ms since created;...`` (raw %-escaped) -> entries with absolute times."""
    entries = []
    for item in filter(None, text.split(";")):
        state, raw, since_ms = item.split("|")
        entries.append(HistoryEntry(State(state), unquote(raw), created_at_ms + int(since_ms)))
    return entries


def tracker_from_row(tracker_id: str, row: Mapping[str, str]) -> Tracker:
    history = parse_history(row.get("history", ""), int(row["created_at"]))
    return Tracker(
        id=tracker_id,
        state=State(row["state"]),
        raw_state=row.get("raw_state", ""),
        outcome=Outcome(row.get("outcome", "active")),  # written only when the tracker ends
        until=State(row["until"]),
        expires_at_ms=int(row["expires_at"]),
        created_at_ms=int(row["created_at"]),
        checks=int(row.get("checks", 0)),
        errors=int(row.get("errors", 0)),
        history=history,
        fields=row,
    )
