"""The small face every gateway adapter shows, and ``Adapter``, which reads the part of it
the gateway's table entry (``config/gateways.py``) already says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from config import GATEWAYS, Gateway
from worker.states import Observation, State


@dataclass(frozen=True)
class MessageRef:
    """What a check knows about the message it asks for (no secret in here)."""

    msg_id: str
    chat_id: str | None = None
    kind: str = "message"


class Provider(Protocol):
    """One gateway account: asks about one message at a time."""

    #: registry name, e.g. "wamm"
    name: str

    @property
    def ceiling(self) -> State:
        """The furthest state this gateway can ever report."""
        ...

    def method(self, ref: MessageRef) -> str:
        """The gateway method ``fetch`` calls for ``ref``: its rate-limit bucket."""
        ...

    def probe(self) -> str:
        """One cheap call that proves the credentials work; a short description of the account.

        Raises:
            AccountError: the gateway refused the credentials.
            TransientError: the gateway could not be asked.
        """
        ...

    def fetch(self, ref: MessageRef) -> Observation:
        """The message's state now.

        Raises:
            TransientError: try again soon (RateLimited for a 429).
            AccountError: the account cannot be used now.
            MessageError: the id is wrong (NotFound: the gateway does not know it).
        """
        ...


class BatchProvider(Provider, Protocol):
    """A gateway that can also list its recent outgoing messages in one request."""

    @property
    def batch_method(self) -> str:
        """The gateway method ``recent`` calls: its rate-limit bucket."""
        ...

    def recent(self, window_s: float) -> list[tuple[str, Observation]]:
        """(msg_id, observation) of outgoing messages sent in about the last ``window_s``.

        Raises the same errors as ``fetch``; an empty list is not an error.
        """
        ...


class Adapter:
    """What an adapter's table entry says, read from it at each use: an adapter subclasses
    this, sets ``name`` to its entry's, and writes only its gateway's calls (``probe``,
    ``fetch`` and, with a batch method, ``recent``)."""

    #: the name of its entry in ``config.GATEWAYS``
    name: str

    @property
    def gateway(self) -> Gateway:
        return GATEWAYS[self.name]

    @property
    def ceiling(self) -> State:
        return State(self.gateway.ceiling)

    @property
    def batch_method(self) -> str:
        """The entry's batch method; a gateway without one has no such attribute."""
        method = self.gateway.batch_method
        if method is None:
            raise AttributeError(f"{self.name} has no batch method")
        return method

    def method(self, ref: MessageRef) -> str:
        """The entry's method for the message's kind; a kind it lists none for (the contract
        lets none through) goes by its ``message`` method."""
        methods = self.gateway.methods
        return methods.get(ref.kind, methods["message"])


def normalise(raw: str) -> str:
    """The key under which gateways' spelling variants of one state meet."""
    return " ".join(raw.split()).lower()


def same_id(answered: object, ours: str) -> bool:
    """Whether the id an answer names is our message's: compared as text (WAMM answers its
    integer ids as strings in msg_state and msg_get_last), spaces around it and letter case ignored (no
    gateway's ids differ by case alone; GREEN-API's are hex)."""
    return str(answered).strip().casefold() == ours.strip().casefold()
