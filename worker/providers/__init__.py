"""Gateway adapters, by name. An explicit registry: grep finds every call site."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from config import Account
from worker.providers.base import BatchProvider, MessageRef, Provider
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

#: the furthest state each gateway can report: WBizTool never says more than "sent"
CEILINGS: Mapping[str, State] = {
    "wamm": State.READ,
    "wbiztool": State.SENT,
    "greenapi": State.READ,
}


#: gateways with a batch method (``recent``): WAMM msg_get_last, GREEN-API lastOutgoingMessages
BATCH: frozenset[str] = frozenset({"wamm", "greenapi"})


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


__all__ = ["ADAPTERS", "BATCH", "CEILINGS", "BatchProvider", "Http", "MessageRef", "Provider", "build"]
