"""One push applied: the same observe step (observe.lua) as a check's, with ``source`` push,
through the store's sync client (the notification consumer, a track request that finds an
early push) or an asyncio one (the webhook receiver). No tracker yet: observe.lua keeps the
push for the track request to come (bounded in count and time), and register.lua hands it
back when that request comes (``apply_early``)."""

from __future__ import annotations

import json
from typing import Any

from config import Account
from worker import providers
from worker.keys import tracker_id
from worker.push.parse import Push
from worker.scripts import OBSERVE, ObserveArgs, ObserveKeys
from worker.states import Observation, State
from worker.store import Observed, Store, observed


def statuses(provider: str) -> dict[str, int]:
    """The counter a status push adds with its write."""
    return {f"push:{provider}:statuses": 1}


def push_call(store: Store, account: Account, push: Push) -> tuple[ObserveKeys, ObserveArgs]:
    """observe.lua's keys and arguments for one push of one account."""
    tid = tracker_id(account.provider, account.alias, push.msg_id)
    args = store.observe_args(
        tid, push.observation, ceiling=providers.CEILINGS[account.provider], next_delay_s=store.push.safety_poll_s,
        counts=statuses(account.provider), source="push", reason=push.reason,
    )  # fmt: skip
    return store.observe_keys(tid), args


def apply(store: Store, account: Account, push: Push) -> Observed:
    """Apply one push with the store's own (sync) client."""
    return store.observe(
        tracker_id(account.provider, account.alias, push.msg_id), push.observation,
        ceiling=providers.CEILINGS[account.provider], next_delay_s=store.push.safety_poll_s,
        counts=statuses(account.provider), source="push", reason=push.reason,
    )  # fmt: skip


def apply_early(store: Store, tid: str, payload: str) -> Observed | None:
    """Apply the push register.lua found kept for a tracker (its JSON); None for a payload this
    version cannot read (it is left to expire)."""
    try:
        data = json.loads(payload)
        state = State(data["state"]) if data.get("state") else None
        ts = data.get("provider_ts")
        obs = Observation(state=state, raw=str(data.get("raw", "")), provider_ts=float(ts) if ts else None)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    provider = tid.partition(":")[0]
    return store.observe(
        tid, obs, ceiling=providers.CEILINGS[provider], next_delay_s=store.push.safety_poll_s,
        counts={f"push:{provider}:early_applied": 1}, source="push", reason=str(data.get("reason") or ""),
    )  # fmt: skip


class AsyncIngest:
    """Pushes applied through an asyncio Redis client (``redis.asyncio``) of the receiver."""

    def __init__(self, store: Store, client: Any) -> None:
        self.store = store
        self.client = client
        self._observe = OBSERVE.load(client)

    async def apply(self, account: Account, push: Push) -> Observed:
        keys, args = push_call(self.store, account, push)
        return observed(await self._observe(keys, args))

    async def count(self, counts: dict[str, int]) -> None:
        """Counters of pushes that write no tracker (ignored kinds, refusals)."""
        async with self.client.pipeline(transaction=False) as pipe:
            for name, n in counts.items():
                pipe.hincrby(self.store.keys.stats, name, n)
            await pipe.execute()
