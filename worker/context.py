"""What the engine's parts share: one process's settings and accounts, the tracker store and
the fleet's other records, the limiter, the gateways and what a gateway call goes through.
Built once per engine (``worker.runtime``); each part takes the one ``Context``."""

from __future__ import annotations

from dataclasses import dataclass

from config import Accounts, Settings
from worker.answers import Answers
from worker.credentials import Credentials
from worker.fetch import Fetch
from worker.fleet import Fleet, Ledger, Maintenance
from worker.gateways import Gateways
from worker.ratelimit import Limiter
from worker.redact import Redactor
from worker.store import Store


@dataclass(frozen=True)
class Context:
    settings: Settings
    accounts: Accounts | None
    #: the tracker lifecycle
    store: Store
    #: the fleet's records apart from trackers: read, added to, kept up
    fleet: Fleet
    ledger: Ledger
    maintenance: Maintenance
    limiter: Limiter
    gateways: Gateways
    #: a gateway call: limiter token and in-place retries; what a refused credential does;
    #: answers masked of secrets
    fetch: Fetch
    credentials: Credentials
    answers: Answers
    redactor: Redactor

    @classmethod
    def build(
        cls, settings: Settings, store: Store, limiter: Limiter, accounts: Accounts | None, redactor: Redactor
    ) -> Context:
        redis, keys = store.redis, store.keys
        ledger = Ledger(redis, keys)
        gateways = Gateways(settings, accounts, redactor)
        return cls(
            settings=settings, accounts=accounts, store=store, fleet=Fleet(redis, keys), ledger=ledger,
            maintenance=Maintenance(redis, keys), limiter=limiter, gateways=gateways,
            fetch=Fetch(limiter, gateways), credentials=Credentials(settings, limiter, ledger, redactor),
            answers=Answers(redactor), redactor=redactor,
        )  # fmt: skip
