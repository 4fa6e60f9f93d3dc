"""What a failed gateway call means: the one mapping from an exception to its disposition.

A check, a batch sync and the request counters all read an exception through
``disposition_of``; each then does what its disposition says for it:

    exception            disposition  a check                        a batch sync  counted as
    RateLimited          THROTTLED    cool the credential, defer     skipped       throttled
    AccountError         ACCOUNT      pause the account, defer       skipped       account
    MessageError         MESSAGE      back off (the not-found grace) error         message
    UnexpectedAnswer     UNEXPECTED   back off                       error         unexpected
    other ProviderError  TRANSIENT    retry in place, then back off  error         transient
    anything else        UNFORESEEN   back off, logged with where    error         unexpected

Only TRANSIENT is retried in place: a 429 must not be, and an answer the adapter does not
know, or an exception nobody foresaw, would come back the same a moment later.
"""

from __future__ import annotations

from enum import StrEnum

from worker.errors import AccountError, MessageError, ProviderError, RateLimited, UnexpectedAnswer
from worker.redact import Redactor

#: the most of an unforeseen exception's text a tracker or a result keeps (ours are bounded already)
TEXT_CHARS = 200


class Disposition(StrEnum):
    THROTTLED = "throttled"
    ACCOUNT = "account"
    MESSAGE = "message"
    TRANSIENT = "transient"
    UNEXPECTED = "unexpected"
    UNFORESEEN = "unforeseen"

    @property
    def request_result(self) -> str:
        """The result label of the request counter ``requests:<provider>:<method>:<result>``."""
        return Disposition.UNEXPECTED.value if self is Disposition.UNFORESEEN else self.value

    @property
    def retried_in_place(self) -> bool:
        return self is Disposition.TRANSIENT


def disposition_of(exc: BaseException) -> Disposition:
    if isinstance(exc, RateLimited):
        return Disposition.THROTTLED
    if isinstance(exc, AccountError):
        return Disposition.ACCOUNT
    if isinstance(exc, MessageError):
        return Disposition.MESSAGE
    if isinstance(exc, UnexpectedAnswer):
        return Disposition.UNEXPECTED
    if isinstance(exc, ProviderError):
        return Disposition.TRANSIENT
    return Disposition.UNFORESEEN


def unforeseen(exc: BaseException, redactor: Redactor) -> str:
    """What a tracker or a result keeps of an exception that is no provider error of ours:
    its kind and its text (which could quote anything), redacted and cut."""
    return redactor(f"unexpected {type(exc).__name__}: {exc}")[:TEXT_CHARS]
