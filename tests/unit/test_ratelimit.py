"""The limiter's two rules, one decision at a time, on the real Redis and on fakeredis.

Time comes from the server (``TIME``), so the tests read it and plant bucket state around it
rather than sleeping."""

from __future__ import annotations

import time

import fakeredis
import pytest
import redis

from config import Account, Rate
from worker.keys import Keys
from worker.ratelimit import EARLY, LATE, Limiter

ACCOUNT = Account("shop", "wamm", "http://x", {"token": "tok"}, rate_limit=Rate(20, 1))
CREDENTIAL = ACCOUNT.credential_key
MARGIN = 0.02
WINDOW_US = round(1e6 * (1 + MARGIN))
INTERVAL_US = WINDOW_US // 20


@pytest.fixture
def limiter(either_redis: redis.Redis, namespace: str) -> Limiter:
    return Limiter(either_redis, Keys(namespace), default_rate=Rate(5, 1), margin=MARGIN)


def now_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000 + int(micros)


def test_the_first_request_is_granted_and_the_next_one_is_paced(limiter: Limiter) -> None:
    first = limiter.acquire(ACCOUNT, "msg_state")
    assert first.allowed and first.reason == "ok" and first.granted_at_us > 0
    second = limiter.acquire(ACCOUNT, "msg_state")
    after = now_us(limiter.redis)
    assert not second.allowed and second.reason == "rate"
    # it may come EARLY of an interval before its slot (first grant + one interval), not sooner
    allowed_from = first.granted_at_us + INTERVAL_US * (1 - EARLY)
    assert (
        (allowed_from - after) / 1e6 - 0.001
        <= second.retry_after_s
        <= (allowed_from - first.granted_at_us) / 1e6 + 0.001
    )


def test_a_window_holding_k_grants_denies_until_the_oldest_leaves_it(limiter: Limiter) -> None:
    redis_ = limiter.redis
    now = now_us(redis_)
    # 20 grants in the last 0.5 s (another worker's, or a burst after idle): the pacing slot
    # is free, the window is not.
    grants = [now - 500_000 + i * 1000 for i in range(20)]
    redis_.rpush(limiter.keys.grants(CREDENTIAL, "*"), *[str(g) for g in reversed(grants)])
    decision = limiter.acquire(ACCOUNT, "msg_state")
    after = now_us(redis_)
    assert not decision.allowed and decision.reason == "rate"
    # until the oldest grant is a window old (measured from before and after the call)
    leaves_at = grants[0] + WINDOW_US
    assert (leaves_at - after) / 1e6 - 0.001 <= decision.retry_after_s <= (leaves_at - now) / 1e6 + 0.001
    # With the oldest of them outside the window, the request goes.
    redis_.rpush(limiter.keys.grants(CREDENTIAL, "*"), str(now - 2 * WINDOW_US))
    redis_.ltrim(limiter.keys.grants(CREDENTIAL, "*"), 1, -1)
    assert limiter.acquire(ACCOUNT, "msg_state").allowed
    assert redis_.llen(limiter.keys.grants(CREDENTIAL, "*")) == 20


def test_a_late_request_does_not_push_the_grid_back(limiter: Limiter) -> None:
    redis_ = limiter.redis
    slot = now_us(redis_) - INTERVAL_US // 2  # the slot came half an interval ago
    redis_.set(limiter.keys.rate(CREDENTIAL, "*"), str(slot))
    assert limiter.acquire(ACCOUNT, "msg_state").allowed
    assert int(redis_.get(limiter.keys.rate(CREDENTIAL, "*"))) == slot + INTERVAL_US
    # Late by more (a busy moment): the missed slot is made up by the next request.
    assert LATE >= 2
    slot = now_us(redis_) - int(INTERVAL_US * 1.5)
    redis_.set(limiter.keys.rate(CREDENTIAL, "*"), str(slot))
    redis_.delete(limiter.keys.grants(CREDENTIAL, "*"))
    assert limiter.acquire(ACCOUNT, "msg_state").allowed
    assert limiter.acquire(ACCOUNT, "msg_state").allowed  # at once: its slot is past too
    assert int(redis_.get(limiter.keys.rate(CREDENTIAL, "*"))) == slot + 2 * INTERVAL_US
    # After an idle spell the grid restarts at the grant: no catching up on idle time.
    redis_.set(limiter.keys.rate(CREDENTIAL, "*"), "1")
    redis_.delete(limiter.keys.grants(CREDENTIAL, "*"))
    granted = limiter.acquire(ACCOUNT, "msg_state").granted_at_us
    assert int(redis_.get(limiter.keys.rate(CREDENTIAL, "*"))) == granted + INTERVAL_US


def test_a_request_takes_from_the_account_and_the_method_bucket() -> None:
    account = Account(
        "sup", "greenapi", "http://x", {"id_instance": "1", "api_token_instance": "t"}, rate_limit=Rate(5, 1)
    )
    limiter = Limiter(fakeredis.FakeRedis(decode_responses=True), Keys("t"), default_rate=Rate(5, 1))
    assert set(limiter.buckets(account, "lastOutgoingMessages")) == {"*", "lastOutgoingMessages"}
    assert limiter.acquire(account, "lastOutgoingMessages").allowed
    # the method allows 1/s: denied for about a second, though "*" would allow it in 0.1 s
    denied = limiter.acquire(account, "lastOutgoingMessages")
    assert not denied.allowed and denied.retry_after_s > 0.4
    # getMessage (10/s) has a bucket of its own: only "*" (5/s) paces it, for ~0.1 s
    paced = limiter.acquire(account, "getMessage")
    assert not paced.allowed and paced.retry_after_s <= 0.103
    time.sleep(paced.retry_after_s)
    assert limiter.acquire(account, "getMessage").allowed


def test_a_fractional_limit_keeps_its_rate_with_a_shorter_window() -> None:
    account = Account("shop", "wamm", "http://x", {"token": "t2"}, rate_limit=Rate(1.5, 1))
    limiter = Limiter(fakeredis.FakeRedis(decode_responses=True), Keys("t"), default_rate=Rate(5, 1), margin=0)
    assert limiter.acquire(account, "msg_state").allowed
    denied = limiter.acquire(account, "msg_state")
    assert not denied.allowed and 0.5 <= denied.retry_after_s <= 0.667  # 1 per 1/1.5 s, not per 1 s


def test_paused_and_cooling_credentials_are_denied_with_the_reason(limiter: Limiter) -> None:
    limiter.cool_down(ACCOUNT, 0.5)
    decision = limiter.acquire(ACCOUNT, "msg_state")
    assert (decision.allowed, decision.reason) == (False, "cooldown") and 0.3 < decision.retry_after_s <= 0.5
    assert limiter.pause(ACCOUNT, 2, "bad token")
    assert not limiter.pause(ACCOUNT, 2, "bad token again")  # one pause, not two
    decision = limiter.acquire(ACCOUNT, "msg_state")
    assert (decision.allowed, decision.reason) == (False, "paused")
    assert limiter.blocked(ACCOUNT) == (pytest.approx(decision.retry_after_s, abs=0.05), "paused")


def test_a_limit_large_enough_is_held_by_pacing_alone_without_a_log(limiter: Limiter) -> None:
    # 2,000 a minute: an interval of 31 ms, so the second call comes well within it
    account = Account("big", "wamm", "http://x", {"token": "big"}, rate_limit=Rate(2000, 60))
    # the threshold (918 at a 2 % margin) leaves room for a request leaving up to
    # FRESH + JITTER of the margin after its grant
    assert limiter.needs_log(20) and limiter.needs_log(900)
    assert not limiter.needs_log(950) and not limiter.needs_log(100_000)
    assert limiter.acquire(account, "msg_state").allowed
    paced = limiter.acquire(account, "msg_state")
    assert not paced.allowed and 0 < paced.retry_after_s <= 0.016
    assert not limiter.redis.exists(limiter.keys.grants(account.credential_key, "*"))


def test_a_planned_check_is_paced_by_its_slot_not_by_the_grid(limiter: Limiter) -> None:
    redis_ = limiter.redis
    # A retry nobody planned took the grid's slot: unplanned requests wait an interval.
    unplanned = limiter.acquire(ACCOUNT, "msg_state")
    assert unplanned.allowed and not limiter.acquire(ACCOUNT, "msg_state").allowed
    # The check planned for now goes all the same, and moves the grid on past itself.
    planned = limiter.acquire(ACCOUNT, "msg_state", slot_us=now_us(redis_))
    assert planned.allowed
    assert int(redis_.get(limiter.keys.rate(CREDENTIAL, "*"))) >= planned.granted_at_us + INTERVAL_US
    # One planned for later than EARLY of an interval from now waits for its slot.
    before = now_us(redis_)
    slot = before + 2 * INTERVAL_US
    early = limiter.acquire(ACCOUNT, "msg_state", slot_us=slot)
    after = now_us(redis_)
    assert not early.allowed and early.reason == "rate"
    allowed_from = slot - INTERVAL_US * EARLY
    assert (allowed_from - after) / 1e6 - 0.001 <= early.retry_after_s <= (allowed_from - before) / 1e6 + 0.001


def test_a_planned_slot_never_lets_a_window_hold_more_than_k(limiter: Limiter) -> None:
    redis_ = limiter.redis
    now = now_us(redis_)
    grants = [now - 500_000 + i * 1000 for i in range(20)]
    redis_.rpush(limiter.keys.grants(CREDENTIAL, "*"), *[str(g) for g in reversed(grants)])
    decision = limiter.acquire(ACCOUNT, "msg_state", slot_us=now - 100_000)
    assert not decision.allowed and decision.reason == "rate"
    assert decision.retry_after_s >= (grants[0] + WINDOW_US - now_us(redis_)) / 1e6 - 0.001


def test_without_a_log_a_planned_slot_is_ignored(limiter: Limiter) -> None:
    # pacing alone holds such a limit, so the grid decides for planned checks too
    account = Account("big", "wamm", "http://x", {"token": "big"}, rate_limit=Rate(2000, 60))
    assert limiter.acquire(account, "msg_state").allowed
    paced = limiter.acquire(account, "msg_state", slot_us=now_us(limiter.redis))
    assert not paced.allowed and paced.reason == "rate"


def test_a_planned_grant_moves_the_grid_to_one_interval_past_its_slot(limiter: Limiter) -> None:
    redis_ = limiter.redis
    redis_.set(limiter.keys.rate(CREDENTIAL, "*"), "1")  # idle: the grid would restart at now
    slot = now_us(redis_) + int(INTERVAL_US * EARLY * 0.6)  # a little ahead, within EARLY
    planned = limiter.acquire(ACCOUNT, "msg_state", slot_us=slot)
    assert planned.allowed and planned.granted_at_us < slot
    assert int(redis_.get(limiter.keys.rate(CREDENTIAL, "*"))) == slot + INTERVAL_US


def test_a_check_a_window_past_its_slot_is_paced_by_the_grid(limiter: Limiter) -> None:
    redis_ = limiter.redis
    assert limiter.acquire(ACCOUNT, "msg_state").allowed  # the grid's next slot: an interval away
    stale = now_us(redis_) - WINDOW_US - INTERVAL_US  # a redelivered check, long past its slot
    decision = limiter.acquire(ACCOUNT, "msg_state", slot_us=stale)
    assert not decision.allowed and decision.reason == "rate"
    # less late, it catches up at once: its slot, not the grid, paces it
    assert limiter.acquire(ACCOUNT, "msg_state", slot_us=now_us(redis_) - WINDOW_US // 2).allowed
