"""Figure 2: Redis memory per active tracker.

Trackers with realistic ids (half WAMM-like, 7 to 10 digits; half GREEN-API-like, 20 hex
characters with a chat id) are registered through ``Store.register`` and observed once
through ``Store.observe`` (pending → sent: one history entry), from a pool of threads.
Each then has its hash, a member of the due ZSET and its share of the active counter.

Three readings: the ``used_memory`` delta (the server is shared, so other clients' writes
show up in it), the same delta without the events stream (bounded by ``events_maxlen``, a
fixed cost, not a per-tracker one), and the exact ``MEMORY USAGE`` of this namespace's keys.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import redis

from bench.procs import count_prefix, redis_client
from config import PollPolicy, Settings
from worker.keys import Keys, delete_prefix, tracker_id
from worker.providers import CEILINGS
from worker.schedule import next_check_delay_s
from worker.states import Observation, State
from worker.store import Store
from worker.tracking import TrackRequest, parse_track_request

THREADS = 8
CHUNK = 1000
#: the project's default tracking deadline and polling policy
SETTINGS = Settings()


def wamm_id(rng: random.Random) -> str:
    digits = rng.randint(7, 10)
    return str(rng.randint(10 ** (digits - 1), 10**digits - 1))


def greenapi_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(80):020X}"


def requests(total: int, seed: int = 7) -> Iterator[TrackRequest]:
    """``total`` distinct messages, half WAMM, half GREEN-API chat messages, validated as the
    worker validates them."""
    rng, seen = random.Random(seed), set[str]()
    while len(seen) < total:
        if len(seen) % 2:
            kwargs = {"provider": "wamm", "account": "shop", "msg_id": wamm_id(rng)}
        else:
            chat = f"7{rng.randint(10**9, 10**10 - 1)}@c.us"
            kwargs = {"provider": "greenapi", "account": "support", "msg_id": greenapi_id(rng), "chat_id": chat}
        if kwargs["msg_id"] not in seen:
            seen.add(kwargs["msg_id"])
            yield parse_track_request(kwargs, None, SETTINGS.default_expires_s)


def track_chunk(store: Store, policy: PollPolicy, observe: bool, chunk: list[TrackRequest], seed: int) -> int:
    """What ``Engine.track`` (and, with ``observe``, one ``Engine.check`` seeing "sent") stores."""
    rng = random.Random(seed)
    for request in chunk:
        tid = tracker_id(request.provider, request.account, request.msg_id)
        ceiling = CEILINGS[request.provider]
        store.register(tid, request, ceiling, next_check_delay_s(0, policy, rng.random()))
        if observe:
            delay_s = next_check_delay_s(1, policy, rng.random())
            store.observe(tid, Observation(State.SENT, "sent"), ceiling=ceiling, next_delay_s=delay_s)
    return len(chunk)


def fill(store: Store, total: int, policy: PollPolicy = SETTINGS.poll, observe: bool = True) -> int:
    """Register (and observe) ``total`` trackers from ``THREADS`` threads; returns how many."""
    batch = list(requests(total))
    chunks = [batch[i : i + CHUNK] for i in range(0, total, CHUNK)]
    with ThreadPoolExecutor(THREADS) as pool:
        return sum(pool.map(partial(track_chunk, store, policy, observe), chunks, range(len(chunks))))


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def memory_usage(client: redis.Redis, keys: list[str]) -> int:
    """Sum of ``MEMORY USAGE key SAMPLES 0`` (exact, every element counted)."""
    total = 0
    for i in range(0, len(keys), CHUNK):
        with client.pipeline(transaction=False) as pipe:
            for key in keys[i : i + CHUNK]:
                pipe.memory_usage(key, samples=0)
            total += sum(int(n or 0) for n in pipe.execute())
    return total


@dataclass(frozen=True)
class MemoryFigure:
    trackers: int
    used_memory_delta: int
    #: MEMORY USAGE by kind of key: "tracker hashes", "due schedules", "events stream", "counters"
    usage: dict[str, int]
    released_bytes: int
    key_prefix: str

    @property
    def events_bytes(self) -> int:
        return self.usage.get(EVENTS, 0)

    @property
    def per_tracker_keys_bytes(self) -> int:
        """Everything but the events stream: what grows with the number of active trackers."""
        return sum(self.usage.values()) - self.events_bytes


EVENTS = "events stream"


def kind_of(keys: Keys, key: str) -> str:
    if key.startswith(f"{keys.prefix}:t:"):
        return "tracker hashes"
    if key.startswith(keys.due("")):
        return "due schedules"
    return EVENTS if key == keys.events else "counters (active, stats)"


def usage_by_kind(client: redis.Redis, keys: Keys) -> dict[str, int]:
    by_kind: dict[str, list[str]] = {}
    for key in client.scan_iter(match=keys.pattern(), count=1000):
        by_kind.setdefault(kind_of(keys, key), []).append(key)
    return {kind: memory_usage(client, names) for kind, names in sorted(by_kind.items())}


def free_namespace(client: redis.Redis) -> str:
    """``swbench-xyz``: as long as the default namespace ``statuswatch`` (key names count in
    the figure), random, and with no key yet."""
    while True:
        namespace = f"swbench-{secrets.token_hex(2)[:3]}"
        if not count_prefix(client, f"{namespace}:"):
            return namespace


def measure(total: int) -> MemoryFigure:
    """Fill a fresh namespace, read the memory, then delete the namespace and read it again."""
    client = redis_client()
    namespace = free_namespace(client)
    keys = Keys(namespace)
    store = Store(client, keys, retention_s=SETTINGS.retention_s, events_maxlen=SETTINGS.events_maxlen)
    try:
        before = used_memory(client)
        filled = fill(store, total)
        after = used_memory(client)
        usage = usage_by_kind(client, keys)
        delete_prefix(client, f"{namespace}:")
        released = after - used_memory(client)
        return MemoryFigure(filled, after - before, usage, released, keys.tracker(""))
    finally:
        delete_prefix(client, f"{namespace}:")  # this namespace only, not "swbench-xyz<more>"
        client.close()
