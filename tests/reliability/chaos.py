"""A chaos run like the one reported in issue 11, at a chosen scale (not part of the suite):

    python -m tests.reliability.chaos --trackers 3000 --workers 2 --down 10 [--persistence everysec]

A private Redis (broker and store, port 6390-6399, data in a temporary folder), the
simulator in a process of its own, N workers and beat. It publishes every track request,
SIGKILLs Redis (``--kill-when steady``: 3 s after every tracker is registered, checks
flowing; ``published``: right after the last publish was acknowledged, registrations still
under way and the newest writes not yet fsynced), starts it again after ``--down`` seconds from the
same data, then lets every message be read and waits until every tracker has finished.
It prints what it measured; it never restarts a worker or beat.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from config.celery import TRACK_QUEUE
from tests.integration.conftest import WAMM_TOKEN
from tests.integration.harness import Deployment
from tests.reliability.faults import PERSISTENCE, RedisServer
from tests.reliability.private import private_deployment
from worker.simulator import SimulatorClient

READ_AFTER_S = 3600.0
POLL_S = 0.2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--trackers", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--down", type=float, default=10.0, help="seconds Redis stays down after the SIGKILL")
    parser.add_argument("--persistence", choices=sorted(PERSISTENCE), default="everysec")
    parser.add_argument("--poll-max", type=float, default=60.0, help="STATUSWATCH_POLL_MAX_S: sets the check rate")
    parser.add_argument("--latency", type=float, default=1.0, help="the simulated gateway's latency, s")
    parser.add_argument(
        "--kill-when",
        choices=["published", "steady"],
        default="steady",
        help="right after the last track request was acknowledged, or 3 s after every tracker is registered",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="give up waiting after this long, s")
    args = parser.parse_args(argv)
    settings = {"STATUSWATCH_POLL_MAX_S": str(args.poll_max), "STATUSWATCH_DEFAULT_EXPIRES_S": "3600"}
    with private_deployment("chaos", settings, args.latency, args.persistence) as (deployment, sim, server):
        result = run(deployment, sim, server, args)
    print(json.dumps(result))
    return 0 if result["alive"] and result["lost"] == 0 and result["unfinished"] == 0 else 1


def run(deployment: Deployment, sim: SimulatorClient, server: RedisServer, args: argparse.Namespace) -> dict[str, Any]:
    msg_ids = [str(8_000_000 + i) for i in range(args.trackers)]
    life = [["sent", 0.0], ["delivered", 0.5], ["viewed", READ_AFTER_S]]
    sim.add_messages([{"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": m, "life": life} for m in msg_ids])
    workers = [f"w{i + 1}" for i in range(args.workers)]
    for name in workers:
        deployment.start_worker(name, concurrency=16)
    deployment.start_beat()
    deployment.wait_ready(workers, timeout_s=60)
    for m in msg_ids:
        deployment.track(provider="wamm", account="shop", msg_id=m)
    if args.kill_when == "steady":
        _wait(deployment, lambda: deployment.tracked() == args.trackers, args.timeout)
        time.sleep(3.0)
    registered_at_kill = deployment.tracked()
    in_flight = sim.stats()["in_flight"]
    server.kill()
    time.sleep(args.down)
    server.start()
    back = time.monotonic()
    # what the restarted Redis holds of each track request: a tracker, or the request queued
    # or held unacknowledged in the broker; the rest was lost with the unsynced writes
    survived = _registered_or_queued(deployment, msg_ids)
    requests = sim.stats()["total"]
    recovered = _wait(deployment, lambda: sim.stats()["total"] >= requests + 50, args.timeout)
    # every track request still in the broker has been registered once its queue is empty
    _wait(deployment, lambda: deployment.queue_length(TRACK_QUEUE) == 0, args.timeout)
    time.sleep(2.0)
    registered = deployment.tracked()
    sim.advance_clock(READ_AFTER_S)
    done = _wait(deployment, lambda: deployment.all_finished(), args.timeout)
    trackers = deployment.trackers("wamm", "shop", msg_ids).values()
    unfinished = sum(1 for t in trackers if t is not None and t.outcome.value == "active")
    held = _held_track_requests(deployment)
    logs = {name: deployment.log(name) for name in [*workers, "beat"]}
    return {
        "persistence": args.persistence,
        "trackers": args.trackers,
        "workers": args.workers,
        "down_s": args.down,
        "kill_when": args.kill_when,
        "registered_at_kill": registered_at_kill,
        "gateway_in_flight_at_kill": in_flight,
        "lost_with_redis": args.trackers - survived,
        "recovered_s": None if recovered is None else round(recovered - back, 1),
        "finished_s": None if done is None else round(done - back, 1),
        "registered": registered,
        # track requests a worker held (unacknowledged) at the kill: the broker hands them out
        # again only after its visibility timeout (STATUSWATCH_BROKER_VISIBILITY_TIMEOUT_S)
        "track_requests_held_for_visibility_timeout": held,
        # track tasks that failed (the store unreachable) and were acknowledged all the same
        "track_tasks_failed": _failed_tracks(logs),
        "lost": args.trackers - registered - held,
        "unfinished": unfinished,
        "alive": not deployment.exited(),
        "exited": deployment.exited(),
        "unrecoverable_errors": sum(log.count("Unrecoverable error") for log in logs.values()),
    }


def _track_ids(raw_messages: list[Any]) -> set[str]:
    """The msg_ids of the statuswatch.track messages among raw kombu Redis messages."""
    ids = set()
    for raw in raw_messages:
        message = json.loads(raw)
        if isinstance(message, list):  # an unacked entry: [message, exchange, routing key]
            message = message[0]
        if message.get("headers", {}).get("task") == "statuswatch.track":
            _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            ids.add(kwargs["msg_id"])
    return ids


def _registered_or_queued(deployment: Deployment, msg_ids: list[str]) -> int:
    prefix = deployment.settings.broker_key_prefix
    found = {m for m, t in deployment.trackers("wamm", "shop", msg_ids).items() if t is not None}
    found |= _track_ids(deployment.redis.lrange(f"{prefix}{TRACK_QUEUE}", 0, -1))
    found |= _track_ids(deployment.redis.hvals(f"{prefix}unacked"))
    return len(found & set(msg_ids))


def _failed_tracks(logs: dict[str, str]) -> int:
    return sum(len(re.findall(r"Task statuswatch\.track\[[^]]+\] raised", log)) for log in logs.values())


def _held_track_requests(deployment: Deployment) -> int:
    """Track requests for trackers that do not exist, held in the Redis broker's hash of
    unacknowledged messages (the broker hands them out again after the visibility timeout)."""
    held = _track_ids(deployment.redis.hvals(f"{deployment.settings.broker_key_prefix}unacked"))
    return sum(1 for tracker in deployment.trackers("wamm", "shop", sorted(held)).values() if tracker is None)


def _wait(deployment: Deployment, condition: Callable[[], bool], timeout_s: float) -> float | None:
    """The monotonic time ``condition`` held, or None: timed out, or every worker exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        if len(deployment.exited()) == len(deployment.procs):
            return None
        time.sleep(POLL_S)
    return None


if __name__ == "__main__":
    sys.exit(main())
