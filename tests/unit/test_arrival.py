"""worker/arrival.py: the limiter's grant is asked for at the moment the request is written,
and used only if it came fresh. Judged at the connection, right before the first byte (a
loopback server counts what arrives); a stale grant goes back to the limiter's log."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import fakeredis
import pytest

from config import Account, Rate
from tests.stub import stub_server
from worker import arrival
from worker.fetch import Denied, Fetch
from worker.gateways import Gateways
from worker.keys import Keys
from worker.providers.http import Http
from worker.ratelimit import Limiter
from worker.redact import Redactor
from worker.tally import SEND_DELAY_BUCKETS_S, Tally

ACCOUNT = Account("shop", "wamm", "http://x", {"token": "t"}, rate_limit=Rate(20, 1))


@pytest.fixture(autouse=True)
def _disarmed() -> None:
    arrival.done()


def decision(allowed: bool = True) -> Any:
    return SimpleNamespace(allowed=allowed, reason="ok" if allowed else "rate", granted_at_us=1)


def test_the_grant_is_asked_for_at_the_write_and_timed() -> None:
    asked: list[float] = []
    arrival.grant_on_send(lambda: asked.append(time.monotonic()) or decision(), 1.0)
    arrival.leaving()
    arrival.leaving()  # disarmed by the first write: the body's write asks for nothing
    waited = arrival.done()
    assert len(asked) == 1 and waited is not None and 0 <= waited < 0.5
    assert arrival.done() is None


def test_a_denial_stops_the_request() -> None:
    arrival.grant_on_send(lambda: decision(allowed=False), 1.0)
    with pytest.raises(arrival.Denial):
        arrival.leaving()
    assert arrival.done() is None  # nothing was timed: no grant


def test_a_grant_that_comes_late_stops_the_request() -> None:
    def slow() -> Any:
        time.sleep(0.03)
        return decision()

    arrival.grant_on_send(slow, 0.015)
    with pytest.raises(arrival.StaleGrant, match=r"over the 15\.0 ms it is good for; not sent"):
        arrival.leaving()


def test_an_unarmed_request_is_not_judged() -> None:
    arrival.leaving()
    assert arrival.done() is None


def test_nothing_reaches_the_gateway_without_a_fresh_grant() -> None:
    with stub_server(lambda seen: (200, b"{}")) as stub:
        http = Http("wamm", Redactor([]), timeout_s=2)
        arrival.grant_on_send(lambda: decision(allowed=False), 0.5)
        with pytest.raises(arrival.Denial):
            http.request("GET", stub.url)
        assert stub.requests == []
        arrival.grant_on_send(lambda: time.sleep(0.03) or decision(), 0.015)
        with pytest.raises(arrival.StaleGrant):
            http.request("GET", stub.url)
        assert stub.requests == []
        arrival.grant_on_send(decision, 0.5)  # the same session, granted: it goes
        assert http.request("GET", stub.url).status == 200
        assert len(stub.requests) == 1


def test_the_connection_is_made_before_the_grant_is_asked_for() -> None:
    # a slow connect costs no grant: the limiter is asked once the socket is open
    with stub_server(lambda seen: (200, b"{}")) as stub:
        http = Http("wamm", Redactor([]), timeout_s=2)
        connected: list[bool] = []

        def acquire() -> Any:
            from worker.providers import transport

            connected.append(bool(transport.session().adapters["http://"].poolmanager.pools))
            return decision()

        arrival.grant_on_send(acquire, 0.5)
        http.request("GET", stub.url)
    assert connected == [True]


def _limiter() -> Limiter:
    return Limiter(fakeredis.FakeRedis(decode_responses=True), Keys("arrival"), default_rate=Rate(5, 1))


def test_fresh_s_is_half_the_margin_of_the_shortest_period() -> None:
    limiter = _limiter()
    assert limiter.fresh_s(ACCOUNT, "msg_state") == pytest.approx(0.5 * 0.03 * 1.0)
    slow = Account("slow", "wamm", "http://x", {"token": "s"}, rate_limit=Rate(100, 60))
    assert limiter.fresh_s(slow, "msg_state") == pytest.approx(0.5 * 0.03 * 60)


class SlowLimiter(Limiter):
    """Answers 30 ms late: over the 15 ms a 20/s grant is good for."""

    def acquire(self, account: Account, method: str, slot_us: int = 0) -> Any:
        granted = super().acquire(account, method, slot_us)
        time.sleep(0.03)
        return granted


def test_a_stale_grant_is_handed_back_and_the_tracker_waits_an_interval() -> None:
    limiter = SlowLimiter(fakeredis.FakeRedis(decode_responses=True), Keys("arrival"), default_rate=Rate(5, 1))
    fetch = Fetch(limiter, Gateways.__new__(Gateways))
    tally = Tally("wamm")
    log_key = limiter.keys.grants(ACCOUNT.credential_key, "*")
    with pytest.raises(Denied) as denied:
        fetch(ACCOUNT, "msg_state", arrival.leaving, tally)
    assert denied.value.decision.reason == "stale"
    assert denied.value.decision.retry_after_s == pytest.approx(limiter.spacing_s(20))
    assert limiter.redis.llen(log_key) == 0  # the grant is back: the window has its room
    counts = tally.take()
    assert counts["grants:stale:wamm"] == 1
    assert not any(name.startswith("requests:") for name in counts)  # nothing was sent
    over = SEND_DELAY_BUCKETS_S.index(0.015) + 1  # the first bucket above the grant's 15 ms
    delays = {int(name.rsplit(":", 1)[1]): n for name, n in counts.items() if name.startswith("send_delay:wamm:")}
    assert sum(delays.values()) == 1 and min(delays) >= over, counts  # timed, and over its budget


def test_a_denial_at_the_write_is_the_limiters_denial() -> None:
    limiter = _limiter()
    fetch = Fetch(limiter, Gateways.__new__(Gateways))
    tally = Tally("wamm")
    fetch.gateways.note_latency = lambda provider, seconds: None  # type: ignore[method-assign]
    assert fetch(ACCOUNT, "msg_state", arrival.leaving, tally) is None
    with pytest.raises(Denied) as denied:  # 20/s: the next one, at once, is paced
        fetch(ACCOUNT, "msg_state", arrival.leaving, tally)
    assert denied.value.decision.reason == "rate" and denied.value.decision.retry_after_s > 0


def test_a_request_that_leaves_in_time_spends_its_grant_and_is_timed() -> None:
    limiter = _limiter()
    fetch = Fetch(limiter, Gateways.__new__(Gateways))
    tally = Tally("wamm")
    fetch.gateways.note_latency = lambda provider, seconds: None  # type: ignore[method-assign]
    # 600 a minute: a grant good for 0.9 s, which no busy machine takes to get here
    patient = Account("shop", "wamm", "http://x", {"token": "t"}, rate_limit=Rate(600, 60))
    assert fetch(patient, "msg_state", arrival.leaving, tally) is None
    assert limiter.redis.llen(limiter.keys.grants(patient.credential_key, "*")) == 1
    counts = tally.take()
    assert counts["requests:wamm:msg_state:ok"] == 1
    delays = {name: n for name, n in counts.items() if name.startswith("send_delay:wamm:")}
    assert sum(delays.values()) == 1, counts
    assert 0 < counts["send_delay_us:wamm"] < 900_000


def test_a_call_that_never_writes_takes_no_grant() -> None:
    limiter = _limiter()
    fetch = Fetch(limiter, Gateways.__new__(Gateways))

    def refused() -> None:
        raise ConnectionRefusedError("nobody listens")

    with pytest.raises(ConnectionRefusedError):
        fetch(ACCOUNT, "msg_state", refused, Tally("wamm"))
    assert limiter.redis.llen(limiter.keys.grants(ACCOUNT.credential_key, "*")) == 0
