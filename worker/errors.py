"""statuswatch's own errors. Third-party errors are translated at one place per boundary.

    StatuswatchError
     └── ProviderError             a gateway call did not give an observation
          ├── TransientError       timeout, connection error, 5xx, malformed body: try again
          │    ├── RateLimited     HTTP 429: cool the credential down, never retry in place
          │    ├── NotReady        the account will be usable soon, not yet (a GREEN-API
          │    │                   instance starting): doctor warns, it does not fail
          │    └── UnexpectedAnswer an answer the adapter does not know (an unknown error
          │                        text, an answer about another message): never proof of
          │                        anything; back off, counted apart, never retried in place
          ├── AccountError         bad token, not authorized, wrong instance, 401/403, quota:
          │                        pause the account; its trackers wait, they do not fail
          └── MessageError         bad message id: the tracker cannot succeed
               └── NotFound        the gateway does not know the message (yet): grace, then
                                   failed; never a message the gateway has already shown

Every message is redacted before an error is built: no token reaches a log line, a stored
error or a task result through an exception.
"""

from __future__ import annotations


class StatuswatchError(Exception):
    """Base of every error statuswatch raises on purpose."""


class ProviderError(StatuswatchError):
    """A gateway call failed; ``str()`` is safe to log and store."""

    def __init__(self, message: str, *, provider: str) -> None:
        super().__init__(message)
        self.provider = provider


class TransientError(ProviderError):
    """Worth retrying soon: the gateway or the network had a bad moment."""


class RateLimited(TransientError):
    """The gateway answered 429."""

    def __init__(self, message: str, *, provider: str, retry_after_s: float | None) -> None:
        super().__init__(message, provider=provider)
        self.retry_after_s = retry_after_s


class NotReady(TransientError):
    """The account is not usable yet but is on its way (a GREEN-API instance ``starting``)."""


class UnexpectedAnswer(TransientError):
    """The gateway answered, but not in a way the adapter knows: says nothing about the message."""


class AccountError(ProviderError):
    """The account cannot be used now (credentials, authorisation, quota)."""


class MessageError(ProviderError):
    """The message id is wrong for this gateway."""


class NotFound(MessageError):
    """The gateway does not know this message (a just-sent one can be invisible a moment)."""


class StoreUnreachable(StatuswatchError):
    """Redis, the store, did not answer a producer's request: the request must go back to
    the broker to be taken again, never be acknowledged as done (it would be lost)."""
