"""Gateway adapters, bound by name to their entries in the gateway table (``config/gateways.py``).

The binding is an explicit dict, ``ADAPTERS``, not a module path in the table looked up
with importlib: grep finds each adapter's one registration, mypy checks each class against
``Provider``, and ``config/`` names nothing of the worker. ``CEILINGS`` and ``BATCH`` are
views of the table, read at each lookup, so an entry added to it is seen everywhere at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Set

from config import GATEWAYS, Account
from worker.providers.base import Adapter, BatchProvider, MessageRef, Provider
from worker.providers.greenapi import GreenApi
from worker.providers.http import Http
from worker.providers.wamm import Wamm
from worker.providers.wbiztool import WbizTool
from worker.states import State

#: provider name -> adapter class
ADAPTERS: Mapping[str, Callable[[Account, Http], Provider]] = {
    "wamm": Wamm,
    "wbiztool": WbizTool,
    "greenapi": GreenApi,
}


class _Ceilings(Mapping[str, State]):
    """Provider name -> the furthest state it can report (its entry's ``ceiling``)."""

    def __getitem__(self, name: str) -> State:
        return State(GATEWAYS[name].ceiling)

    def __iter__(self) -> Iterator[str]:
        return iter(GATEWAYS)

    def __len__(self) -> int:
        return len(GATEWAYS)


class _Batch(Set[str]):
    """The names of the gateways with a batch method (``recent``)."""

    def __contains__(self, name: object) -> bool:
        gateway = GATEWAYS.get(name) if isinstance(name, str) else None
        return gateway is not None and gateway.batch_method is not None

    def __iter__(self) -> Iterator[str]:
        return (name for name, gateway in GATEWAYS.items() if gateway.batch_method is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


#: the furthest state each gateway can report: WBizTool never says more than "sent"
CEILINGS: Mapping[str, State] = _Ceilings()

#: gateways with a batch method (``recent``): WAMM msg_get_last, GREEN-API lastOutgoingMessages
BATCH: Set[str] = _Batch()


def build(account: Account, http: Http) -> Provider:
    """The adapter of one account.

    Raises:
        ValueError: no adapter exists for the account's provider.
    """
    try:
        adapter = ADAPTERS[account.provider]
    except KeyError:
        raise ValueError(f"provider: no adapter for {account.provider!r} yet") from None
    return adapter(account, http)


__all__ = ["ADAPTERS", "BATCH", "CEILINGS", "Adapter", "BatchProvider", "Http", "MessageRef", "Provider", "build"]
