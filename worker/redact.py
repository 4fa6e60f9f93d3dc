"""Removing secrets from text: exception messages, log records, stored errors."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"


class Redactor:
    """Replaces every known secret, raw or URL-encoded, with ``***``.

    Every configured secret, however short: a secret the redactor skipped would be printed
    whole. The price of a very short one (1 to 3 characters) is false positives: every
    occurrence of that text is masked too, in ids, numbers and words (a secret ``7`` turns
    tracker ``1727`` into ``1***2***``). That is noisy, never unsafe, and only a secret
    guessable in a few tries costs it: the remedy is a real secret.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._needles: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        needles = set(self._needles)
        for secret in secrets:
            if secret:
                needles |= {secret, quote(secret, safe=""), quote_plus(secret)}
        # Longest first, so a secret that contains another is masked whole.
        self._needles = sorted(needles, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, MASK)
        return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the fully formatted message of every record."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redactor(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, self.redactor(text)
        return True


def install_log_redaction(redactor: Redactor) -> None:
    """Redact every record that reaches any handler of the root logger (and its children's)."""
    log_filter = RedactingFilter(redactor)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(log_filter)
