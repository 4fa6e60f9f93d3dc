"""This process's gateways: the configured accounts, their adapters (each built once) and
how fast each gateway has been answering here."""

from __future__ import annotations

import threading

from config import Account, Accounts, Settings
from worker import providers
from worker.redact import Redactor

#: weight of the newest call in the moving average of a gateway's latency
LATENCY_WEIGHT = 0.2


class Gateways:
    def __init__(self, settings: Settings, accounts: Accounts | None, redactor: Redactor) -> None:
        self.settings = settings
        self.accounts = accounts
        self.redactor = redactor
        self._providers: dict[str, providers.Provider] = {}
        #: recent gateway latency by provider, seconds (moving average over this process's calls)
        self._latency_s: dict[str, float] = {}
        self._lock = threading.Lock()

    def account(self, alias: str, provider: str | None = None) -> Account | None:
        """The account configured here under ``alias`` (of ``provider``, where given)."""
        account = self.accounts.get(alias) if self.accounts else None
        if account is None or (provider is not None and account.provider != provider):
            return None
        return account

    def provider(self, account: Account) -> providers.Provider:
        """The adapter of an account, built once per process."""
        with self._lock:
            adapter = self._providers.get(account.alias)
            if adapter is None:
                settings = self.settings
                http = providers.Http(
                    account.provider, self.redactor, settings.http_timeout_s, settings.http_max_body_bytes
                )
                adapter = self._providers[account.alias] = providers.build(account, http)
            return adapter

    def check_method(self, account: Account) -> str:
        """The gateway method of the account's single checks (what the dispatcher plans for)."""
        return self.provider(account).method(providers.MessageRef("0"))

    def note_latency(self, provider: str, seconds: float) -> None:
        """One answered call's latency, into the provider's moving average."""
        previous = self._latency_s.get(provider, seconds)
        self._latency_s[provider] = (1 - LATENCY_WEIGHT) * previous + LATENCY_WEIGHT * seconds

    def latency_s(self, provider: str) -> float | None:
        """The gateway's recent latency as this process saw it; None before its first answer."""
        return self._latency_s.get(provider)
