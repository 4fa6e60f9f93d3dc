"""Gateway answers made fit to keep: secrets a gateway echoed masked, unmapped raw states
logged once per process."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from worker.redact import Redactor
from worker.states import Observation
from worker.text import clip

#: distinct unmapped raw states logged (once each) per process
MAX_UNMAPPED = 256

log = logging.getLogger("statuswatch")


class Answers:
    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._unmapped: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def masked(self, observation: Observation) -> Observation:
        """The observation with any secret the gateway echoed in its strings masked: raw
        states and detail go to the tracker, the events stream and the log."""
        raw = self.redactor(observation.raw)
        detail = observation.detail
        if detail:
            detail = {self.redactor(k): self.redactor(v) for k, v in detail.items()}
        if raw == observation.raw and detail == observation.detail:
            return observation
        return replace(observation, raw=raw, detail=detail)

    def log_unmapped(self, provider: str, raw: str) -> None:
        """Log an unmapped raw value once per process; past MAX_UNMAPPED distinct ones (a
        gateway answering a new value each time) the rest are not logged, nor remembered."""
        key = (provider, clip(raw))
        with self._lock:
            if key in self._unmapped or len(self._unmapped) >= MAX_UNMAPPED:
                return
            self._unmapped.add(key)
            full = len(self._unmapped) == MAX_UNMAPPED
        log.warning("%s: state %r has no canonical mapping; kept raw, state unchanged", provider, key[1])
        if full:
            log.warning("%d unmapped states logged: further ones are not (they are still kept raw)", MAX_UNMAPPED)

    @property
    def unmapped(self) -> frozenset[tuple[str, str]]:
        """The (provider, raw state) pairs logged so far."""
        with self._lock:
            return frozenset(self._unmapped)
