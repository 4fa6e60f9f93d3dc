"""Figure 4: 50,000 trackers whose messages settle over ten minutes, on one worker and one beat.

Each message's life is ``sent`` at once, ``delivered`` at half its settle time and ``viewed``
at its settle time, drawn uniformly from 0..``spread_s``; the messages are spread over a few
WAMM accounts, each with its own rate limit. Polling is realistic but bounded (first check
after 5 s, then doubling up to 30 s). Every ``SAMPLE_EVERY_S`` the run records the worker's
RSS and CPU, the active trackers, the due schedules and the queues; it ends when every
tracker has finished or at ``deadline_s`` plus ``GRACE_S``.
"""

from __future__ import annotations

import csv
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.procs import BenchStack, cpu_s, rss_mb, thread_count
from bench.throughput import wamm_accounts, wamm_token
from config import Settings
from config.celery import CHECK_QUEUE, TRACK_QUEUE
from worker.keys import tracker_id
from worker.simulator import SimulatorClient

SCALE_OVERRIDES = {"STATUSWATCH_POLL_FIRST_S": "5", "STATUSWATCH_POLL_MAX_S": "30"}
SAMPLE_EVERY_S = 5.0
#: how long past the deadline the run keeps watching, to say when the stragglers finished
GRACE_S = 120.0
BOOT_S = 5.0
WARM_UP_S = 60.0
EXPIRES_IN_S = 3600
FIRST_MSG_ID = 900_000_000


@dataclass(frozen=True)
class ScaleSample:
    at_s: float
    rss_mb: float
    threads: int
    cpu_s: float
    active: int
    due: int
    track_queue: int
    check_queue: int
    gateway_requests: int


@dataclass(frozen=True)
class ScalePlan:
    total: int
    spread_s: float
    deadline_s: float
    accounts: int
    #: each account's ``rate_limit``
    rate_limit: str
    overrides: Mapping[str, str]

    def aliases(self) -> list[str]:
        return [f"acct{k:02d}" for k in range(self.accounts)]

    def messages(self, seed: int = 3) -> dict[tuple[str, str], float]:
        """(account alias, message id) -> settle time, uniform over 0..spread_s."""
        rng, aliases = random.Random(seed), self.aliases()
        return {
            (aliases[i % self.accounts], str(FIRST_MSG_ID + i)): rng.uniform(0, self.spread_s)
            for i in range(self.total)
        }


@dataclass(frozen=True)
class ScaleResult:
    plan: ScalePlan
    samples: list[ScaleSample]
    finished_at_s: float | None
    outcomes: Counter[str]
    csv_path: Path
    settings: Settings


def life(settle_s: float) -> list[list[object]]:
    return [["sent", 0], ["delivered", settle_s / 2], ["viewed", settle_s]]


class Watch:
    """Reads one sample of the deployment's state."""

    def __init__(self, deployment: BenchStack, simulator: SimulatorClient, pid: int, started: float) -> None:
        self.deployment = deployment
        self.simulator = simulator
        self.pid = pid
        self.started = started

    def sample(self) -> ScaleSample:
        d = self.deployment
        return ScaleSample(
            at_s=time.monotonic() - self.started,
            rss_mb=rss_mb(self.pid),
            threads=thread_count(self.pid),
            cpu_s=cpu_s(self.pid),
            active=d.active(),
            due=d.fleet.due_count(),
            track_queue=d.queue_length(TRACK_QUEUE),
            check_queue=d.queue_length(CHECK_QUEUE),
            gateway_requests=int(self.simulator.stats()["total"]),
        )


def finished(sample: ScaleSample) -> bool:
    """Every track request registered (call once all were sent) and none active."""
    return sample.track_queue == 0 and sample.active == 0 and sample.due == 0


def progress_line(s: ScaleSample) -> str:
    return (
        f"  t={s.at_s:6.0f}s rss={s.rss_mb:6.1f}MB threads={s.threads:3d} cpu={s.cpu_s:7.1f}s active={s.active:6d} "
        f"due={s.due:6d} track_q={s.track_queue:6d} check_q={s.check_queue:6d} requests={s.gateway_requests}"
    )


def outcomes(deployment: BenchStack, messages: list[tuple[str, str]]) -> Counter[str]:
    """``state/outcome`` counts over every tracker ("missing" for one never registered)."""
    keys = deployment.store.keys
    counts: Counter[str] = Counter()
    for i in range(0, len(messages), 1000):
        with deployment.redis.pipeline(transaction=False) as pipe:
            for alias, msg_id in messages[i : i + 1000]:
                pipe.hmget(keys.tracker(tracker_id("wamm", alias, msg_id)), "state", "outcome")
            for state, outcome in pipe.execute():
                counts[f"{state}/{outcome}" if state else "missing"] += 1
    return counts


def write_csv(path: Path, samples: list[ScaleSample]) -> None:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(asdict(samples[0])))
        writer.writeheader()
        writer.writerows(asdict(s) for s in samples)


def run_scale(workdir: Path, namespace: str, sim_url: str, plan: ScalePlan) -> ScaleResult:
    """Track every message of the plan at once and watch until all finish (or the deadline passes)."""
    simulator = SimulatorClient(sim_url)
    messages = plan.messages()
    accounts = wamm_accounts(sim_url, plan.aliases(), plan.rate_limit)
    deployment = BenchStack(workdir, namespace, accounts, **{**SCALE_OVERRIDES, **plan.overrides})
    try:
        worker = deployment.start_worker()
        deployment.start_beat()
        time.sleep(BOOT_S)
        sampler = Sampler(Watch(deployment, simulator, worker.pid, time.monotonic()), plan.deadline_s + GRACE_S)
        sampler.start()
        simulator.add_messages(
            {"provider": "wamm", "credential": wamm_token(alias), "msg_id": msg_id, "life": life(settle_s)}
            for (alias, msg_id), settle_s in messages.items()
        )
        calls = (
            ((), {"provider": "wamm", "account": alias, "msg_id": msg_id, "expires_in": EXPIRES_IN_S})
            for alias, msg_id in messages
        )
        deployment.send_many("statuswatch.track", calls)
        sampler.tracks_sent.set()
        print(f"  {plan.total} messages added and tracks sent in {sampler.elapsed_s():.1f} s", flush=True)
        samples, finished_at = sampler.result()
        csv_path = workdir / f"{namespace}-samples.csv"
        write_csv(csv_path, samples)
        counts = outcomes(deployment, list(messages))
        return ScaleResult(plan, samples, finished_at, counts, csv_path, deployment.settings)
    finally:
        deployment.stop()


class Sampler(threading.Thread):
    """Samples every ``SAMPLE_EVERY_S`` from the start, while tracks are still being sent too."""

    def __init__(self, watch: Watch, limit_s: float) -> None:
        super().__init__(name="scale-sampler", daemon=True)
        self.watch = watch
        self.limit_s = limit_s
        self.tracks_sent = threading.Event()
        self.samples: list[ScaleSample] = []
        self.finished_at: float | None = None
        self.error: BaseException | None = None

    def elapsed_s(self) -> float:
        return time.monotonic() - self.watch.started

    def run(self) -> None:
        try:
            self._sample_until_done()
        except BaseException as exc:  # handed to the main thread by result()
            self.error = exc

    def result(self) -> tuple[list[ScaleSample], float | None]:
        """Wait for the end; the samples and when every tracker had finished (None: not in time).

        Raises:
            Exception: whatever stopped the sampling (a process that died, Redis unreachable).
        """
        self.join()
        if self.error is not None:
            raise self.error
        return self.samples, self.finished_at

    def _sample_until_done(self) -> None:
        next_at = 0.0
        while next_at <= self.limit_s:
            time.sleep(max(0.0, self.watch.started + next_at - time.monotonic()))
            self.watch.deployment.check_alive()
            sample = self.watch.sample()
            self.samples.append(sample)
            done = self.tracks_sent.is_set() and finished(sample)
            if len(self.samples) % 6 == 1 or done:
                print(progress_line(sample), flush=True)
            if done:
                self.finished_at = sample.at_s
                return
            next_at += SAMPLE_EVERY_S


# -- reading the samples ---------------------------------------------------------------


def slope_mb_per_min(samples: list[ScaleSample]) -> float:
    """Least-squares slope of RSS over time."""
    n = len(samples)
    if n < 2:
        return float("nan")
    xs = [s.at_s / 60 for s in samples]
    ys = [s.rss_mb for s in samples]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else float("nan")


def after_warm_up(samples: list[ScaleSample]) -> list[ScaleSample]:
    return [s for s in samples if s.at_s >= WARM_UP_S]


def at_fraction(samples: list[ScaleSample], fraction: float) -> ScaleSample:
    """The sample nearest to ``fraction`` of the run's length."""
    target = samples[-1].at_s * fraction
    return min(samples, key=lambda s: abs(s.at_s - target))
