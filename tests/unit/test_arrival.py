"""worker/arrival.py: a grant is spent only if its request leaves while the grant is fresh.
Judged at the connection, right before the first byte (a loopback server counts what
arrives); a stale grant goes back to the limiter's log and the tracker is deferred."""

from __future__ import annotations

import time

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


def test_a_fresh_grant_lets_the_request_go_and_says_how_long_it_took() -> None:
    arrival.fresh_for(time.monotonic(), 1.0)
    arrival.leaving()
    arrival.leaving()  # disarmed by the first write: the body's write is not judged again
    waited = arrival.done()
    assert waited is not None and 0 <= waited < 0.5
    assert arrival.done() is None


def test_a_stale_grant_stops_the_request() -> None:
    arrival.fresh_for(time.monotonic() - 0.05, 0.015)
    with pytest.raises(arrival.StaleGrant, match=r"over the 15\.0 ms it is good for; not sent"):
        arrival.leaving()


def test_an_unarmed_request_is_not_judged() -> None:
    arrival.leaving()
    assert arrival.done() is None


def test_nothing_reaches_the_gateway_on_a_stale_grant() -> None:
    with stub_server(lambda seen: (200, b"{}")) as stub:
        http = Http("wamm", Redactor([]), timeout_s=2)
        arrival.fresh_for(time.monotonic() - 1.0, 0.015)
        with pytest.raises(arrival.StaleGrant):
            http.request("GET", stub.url)
        assert stub.requests == []
        arrival.fresh_for(time.monotonic(), 0.5)  # the same session, fresh: it goes
        assert http.request("GET", stub.url).status == 200
        assert len(stub.requests) == 1


def test_a_new_connection_is_made_before_the_grant_is_judged() -> None:
    # the connect is part of the time the grant waits: judged after it, not before
    with stub_server(lambda seen: (200, b"{}")) as stub:
        http = Http("wamm", Redactor([]), timeout_s=2)
        arrival.fresh_for(time.monotonic(), 0.5)
        http.request("GET", stub.url)
        waited = arrival.done()
    assert waited is not None and waited < 0.5


def _limiter() -> Limiter:
    return Limiter(fakeredis.FakeRedis(decode_responses=True), Keys("arrival"), default_rate=Rate(5, 1))


def test_fresh_s_is_half_the_margin_of_the_shortest_period() -> None:
    limiter = _limiter()
    assert limiter.fresh_s(ACCOUNT, "msg_state") == pytest.approx(0.5 * 0.03 * 1.0)
    slow = Account("slow", "wamm", "http://x", {"token": "s"}, rate_limit=Rate(100, 60))
    assert limiter.fresh_s(slow, "msg_state") == pytest.approx(0.5 * 0.03 * 60)


def test_a_stale_grant_is_handed_back_and_the_tracker_waits_an_interval() -> None:
    limiter = _limiter()
    fetch = Fetch(limiter, Gateways.__new__(Gateways))
    tally = Tally("wamm")
    log_key = limiter.keys.grants(ACCOUNT.credential_key, "*")

    def slow_to_leave() -> None:
        time.sleep(0.03)  # over the 15 ms a 20/s grant is good for
        arrival.leaving()

    with pytest.raises(Denied) as denied:
        fetch(ACCOUNT, "msg_state", slow_to_leave, tally)
    assert denied.value.decision.reason == "stale"
    assert denied.value.decision.retry_after_s == pytest.approx(limiter.spacing_s(20))
    assert limiter.redis.llen(log_key) == 0  # the grant is back: the window has its room
    counts = tally.take()
    assert counts["grants:stale:wamm"] == 1
    assert not any(name.startswith("requests:") for name in counts)  # nothing was sent
    over = SEND_DELAY_BUCKETS_S.index(0.015) + 1  # the first bucket above the grant's 15 ms
    delays = {int(name.rsplit(":", 1)[1]): n for name, n in counts.items() if name.startswith("send_delay:wamm:")}
    assert sum(delays.values()) == 1 and min(delays) >= over, counts  # timed, and over its budget


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
