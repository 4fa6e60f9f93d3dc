"""Benchmark of the statuswatch engine against the issue's acceptance figures.

    .venv/bin/python -m bench.bench_engine            figures 1-3 (a few minutes)
    .venv/bin/python -m bench.bench_engine --quick    small figures 1-3 (CI smoke, < 1 min)
    .venv/bin/python -m bench.bench_engine --scale    figure 4 alone (about 15 minutes)

1. checks/s of track → dispatch → check → observe on a real worker against the simulator
   (zero latency), next to a no-op Celery task on the same configuration; worker CPU per
   task. Runs alternate (no-op first, then statuswatch first) so drift hits both.
2. Redis memory per active tracker.
3. trackers/s claimed by ``Store.claim_due``.
4. 50,000 trackers settling over ten minutes: all finished in fifteen, worker RSS flat.

Redis is shared: everything lives under ``swbench-<random>-*`` (figure 2 under a
``swbench-xyz:`` namespace as long as the default one) and only those keys are deleted.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import celery

from bench import claim, memory, scale, throughput
from bench.procs import ROOT, count_prefix, redis_client, redis_version
from bench.report import note, show, verdict
from config import Settings
from worker.keys import delete_prefix
from worker.simulator import start_process

#: acceptance targets
MIN_CHECK_TO_NOOP = 0.5
MAX_CPU_CHECK_TO_NOOP = 2.0
MAX_BYTES_PER_TRACKER = 400
MIN_CLAIMS_PER_S = 20_000
MAX_SETTLE_S = 900.0
#: my reading of "flat": the RSS slope after the first minute, MiB per minute
MAX_RSS_SLOPE_MB_PER_MIN = 1.0


@dataclass(frozen=True)
class Sizes:
    trackers: int
    rounds: int
    memory_trackers: int
    claim_trackers: int
    dispatch_trackers: int


FULL = Sizes(trackers=10_000, rounds=2, memory_trackers=100_000, claim_trackers=100_000, dispatch_trackers=20_000)
QUICK = Sizes(trackers=2_000, rounds=1, memory_trackers=10_000, claim_trackers=20_000, dispatch_trackers=2_000)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_engine", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small figures 1-3, under a minute")
    mode.add_argument("--scale", action="store_true", help="figure 4 only (about 15 minutes)")
    parser.add_argument("--trackers", type=int, help="figure 1: trackers (and no-op tasks) per run")
    parser.add_argument("--rounds", type=int, help="figure 1: alternating no-op/statuswatch rounds")
    parser.add_argument("--scale-trackers", type=int, default=50_000)
    parser.add_argument("--spread-s", type=float, default=600.0, help="figure 4: settle times over 0..this")
    parser.add_argument("--deadline-s", type=float, default=MAX_SETTLE_S)
    parser.add_argument("--scale-accounts", type=int, default=10, help="figure 4: WAMM accounts sharing the trackers")
    parser.add_argument("--scale-rate-limit", default="20/s", help="figure 4: rate_limit of each account")
    parser.add_argument("--lease-s", type=float, help="figure 4: STATUSWATCH_LEASE_S (default: the project's)")
    return parser.parse_args(argv)


def header(root: str, workdir: Path, argv: str) -> None:
    client = redis_client()
    print(f"statuswatch engine benchmark  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"  command: {argv}")
    print(
        f"  machine: nproc={os.cpu_count()} load={os.getloadavg()[0]:.2f} python={platform.python_version()} "
        f"celery={celery.__version__} redis-server={redis_version(client)}"
    )
    print(f"  code: {code_version()}")
    print(f"  namespace/broker prefix: {root}-*   logs: {workdir}", flush=True)
    client.close()


def code_version() -> str:
    """The commit measured, and whether the working tree outside bench/ differs from it."""
    if os.environ.get("SWBENCH_CODE"):  # a snapshot made by ``git archive`` says what it is
        return os.environ["SWBENCH_CODE"]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench")
    return f"{git('rev-parse', '--short', 'HEAD') or 'unknown'}{' + uncommitted changes' if dirty else ''}"


# -- figure 1 --------------------------------------------------------------------------


def figure_throughput(workdir: Path, root: str, sizes: Sizes) -> None:
    n = sizes.trackers
    runs: list[tuple[int, throughput.Run, throughput.Run, throughput.Run]] = []
    with start_process() as simulator:
        for r in range(sizes.rounds):
            noop_first = r % 2 == 0

            def noop(r: int = r) -> throughput.Run:
                return throughput.run_noop(workdir, f"{root}-noop{r}", n)

            def sw(r: int = r) -> tuple[throughput.Run, throughput.Run]:
                return throughput.run_statuswatch(workdir, f"{root}-tp{r}", n, simulator.url, 7_000_000 + r * n)

            if noop_first:
                base = noop()
                track, check = sw()
            else:
                track, check = sw()
                base = noop()
            runs.append((r, base, track, check))
    show_throughput(runs, n)


def show_throughput(runs: list[tuple[int, throughput.Run, throughput.Run, throughput.Run]], n: int) -> None:
    rows = []
    for r, base, track, check in runs:
        for run in (base, track, check):
            rows.append([
                r + 1, run.label, run.whole.tasks, run.whole.seconds, run.whole.rate, run.steady.rate,
                run.whole.cpu_ms_per_task, run.steady.cpu_ms_per_task,
            ])  # fmt: skip
    show(
        f"Figure 1a. Worker throughput, {n:,} tasks per run (same run, alternating order; 'whole' = first to last "
        "completion, 'steady' = 10%..90%)",
        ["round", "task", "tasks", "whole s", "whole /s", "steady /s", "CPU ms/task whole", "CPU ms/task steady"],
        rows,
    )
    rate_ratios = [c.whole.rate / b.whole.rate for _, b, _, c in runs]
    steady_ratios = [c.steady.rate / b.steady.rate for _, b, _, c in runs]
    cpu_ratios = [c.whole.cpu_ms_per_task / b.whole.cpu_ms_per_task for _, b, _, c in runs]
    cpu_steady = [c.steady.cpu_ms_per_task / b.steady.cpu_ms_per_task for _, b, _, c in runs]
    rate, cpu = statistics.median(rate_ratios), statistics.median(cpu_ratios)
    show(
        "Figure 1b. statuswatch check vs no-op (median over rounds; per round in brackets)",
        ["figure", "measured", "target", "result"],
        [
            ["checks/s / no-op tasks/s (whole)", f"{rate:.2f}  {_each(rate_ratios)}", f">= {MIN_CHECK_TO_NOOP}",
             verdict(rate >= MIN_CHECK_TO_NOOP)],
            ["checks/s / no-op tasks/s (steady)", f"{statistics.median(steady_ratios):.2f}  {_each(steady_ratios)}",
             "(info)", ""],
            ["worker CPU per check / per no-op (whole)", f"{cpu:.2f}  {_each(cpu_ratios)}",
             f"<= {MAX_CPU_CHECK_TO_NOOP}", verdict(cpu <= MAX_CPU_CHECK_TO_NOOP)],
            ["worker CPU per check / per no-op (steady)", f"{statistics.median(cpu_steady):.2f}  {_each(cpu_steady)}",
             "(info)", ""],
        ],
    )  # fmt: skip
    for r, _, _, check in runs:
        note(
            f"round {r + 1}: gateway requests {check.extra['gateway_requests']:,} for {n:,} trackers; "
            f"left in the due schedule: {check.extra['due_left']}"
        )
    note("'whole' for statuswatch includes the dispatch tasks (claim + publish), which run on the same worker.")


def _each(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


# -- figure 2 --------------------------------------------------------------------------


def figure_memory(sizes: Sizes) -> None:
    fig = memory.measure(sizes.memory_trackers)
    n = fig.trackers
    delta = fig.used_memory_delta - fig.events_bytes
    keys_total = fig.per_tracker_keys_bytes
    parts = [[f"  {kind}", size, size / n, "", ""] for kind, size in fig.usage.items() if kind != memory.EVENTS]
    show(
        f"Figure 2. Redis memory per active tracker, {n:,} trackers (half WAMM 7-10 digit ids, half GREEN-API "
        "20-hex ids + chat_id), each registered and observed once (pending -> sent)",
        ["reading", "bytes", "per tracker", "target", "result"],
        [
            ["used_memory delta without the events stream", delta, delta / n,
             f"<= {MAX_BYTES_PER_TRACKER}", verdict(delta / n <= MAX_BYTES_PER_TRACKER)],
            ["MEMORY USAGE of every key but the events stream", keys_total, keys_total / n,
             f"<= {MAX_BYTES_PER_TRACKER}", verdict(keys_total / n <= MAX_BYTES_PER_TRACKER)],
            *parts,
            ["used_memory delta with the events stream", fig.used_memory_delta, fig.used_memory_delta / n,
             "(info)", ""],
            [f"events stream ({n:,} entries; capped at events_maxlen)", fig.events_bytes, fig.events_bytes / n,
             "(info)", ""],
            ["used_memory released by deleting the namespace", fig.released_bytes, fig.released_bytes / n,
             "(info)", ""],
        ],
    )  # fmt: skip
    note(f"tracker keys look like '{fig.key_prefix}wamm:shop:1234567', as long as under the default namespace")
    note("'statuswatch'. used_memory is the whole server's, shared with other clients; MEMORY USAGE")
    note("(SAMPLES 0) counts this namespace's keys only.")


# -- figure 3 --------------------------------------------------------------------------


def figure_claim(workdir: Path, root: str, sizes: Sizes) -> None:
    default_batch = Settings().dispatch_batch
    batches = sorted({default_batch, 1000, 5000})
    figures = claim.measure_claims(f"{root}-claim", sizes.claim_trackers, batches)
    dispatch = claim.measure_dispatch(workdir, f"{root}-dispatch", sizes.dispatch_trackers)
    rows: list[list[object]] = [
        [f.label + (" (default batch)" if f.batch == default_batch else ""), f.batch, f.claimed, f.seconds, f.rate,
         f">= {MIN_CLAIMS_PER_S:,}", verdict(f.rate >= MIN_CLAIMS_PER_S)]
        for f in figures
    ]  # fmt: skip
    rows.append([dispatch.label, dispatch.batch, dispatch.claimed, dispatch.seconds, dispatch.rate, "(info)", ""])
    show(
        "Figure 3. Dispatcher claim rate (overdue trackers, lease = 60 s, claimed until none is due)",
        ["what", "batch", "trackers", "seconds", "trackers/s", "target", "result"],
        rows,
    )
    note("the last row publishes one statuswatch.check per id as tasks.tracking.dispatch_task does (bench process).")


# -- figure 4 --------------------------------------------------------------------------


def figure_scale(workdir: Path, root: str, args: argparse.Namespace) -> None:
    with start_process() as simulator:
        plan = scale.ScalePlan(
            total=args.scale_trackers,
            spread_s=args.spread_s,
            deadline_s=args.deadline_s,
            accounts=args.scale_accounts,
            rate_limit=args.scale_rate_limit,
            overrides={"STATUSWATCH_LEASE_S": str(args.lease_s)} if args.lease_s else {},
        )
        result = scale.run_scale(workdir, f"{root}-scale", simulator.url, plan)
    show_scale(result)


def show_scale(result: scale.ScaleResult) -> None:
    plan, samples = result.plan, result.samples
    deadline_s = plan.deadline_s
    warm = scale.after_warm_up(samples)
    slope, slope_all = scale.slope_mb_per_min(warm), scale.slope_mb_per_min(samples)
    start, middle, end = samples[0], scale.at_fraction(samples, 0.5), samples[-1]
    done = result.finished_at_s
    requests = end.gateway_requests - start.gateway_requests
    cpu = end.cpu_s - start.cpu_s
    show(
        f"Figure 4. Scale: {plan.total:,} trackers settling uniformly over the spread, one worker + beat, "
        f"RSS sampled every {scale.SAMPLE_EVERY_S:.0f} s",
        ["figure", "measured", "target", "result"],
        [
            ["all trackers finished", f"after {done:.0f} s" if done else f"NOT after {end.at_s:.0f} s",
             f"<= {deadline_s:.0f} s", verdict(done is not None and done <= deadline_s)],
            ["outcomes (state/outcome: count)", ", ".join(f"{k}: {v:,}" for k, v in result.outcomes.most_common()),
             "all read/settled", verdict(result.outcomes.get("read/settled", 0) == plan.total)],
            [f"worker RSS slope after {scale.WARM_UP_S:.0f} s", f"{slope:+.2f} MB/min",
             f"|slope| <= {MAX_RSS_SLOPE_MB_PER_MIN}", verdict(abs(slope) <= MAX_RSS_SLOPE_MB_PER_MIN)],
            ["worker RSS slope, whole run", f"{slope_all:+.2f} MB/min", "(info)", ""],
            ["worker RSS start / middle / end / max",
             f"{start.rss_mb:.1f} / {middle.rss_mb:.1f} / {end.rss_mb:.1f} / {max(s.rss_mb for s in samples):.1f} MB",
             "(info)", ""],
            ["gateway requests (checks)", f"{requests:,} ({requests / plan.total:.1f} per tracker, "
             f"{requests / end.at_s:.0f}/s)", "(info)", ""],
            ["worker CPU", f"{cpu:.0f} s ({100 * cpu / end.at_s:.0f}% of one core, "
             f"{1000 * cpu / max(requests, 1):.2f} ms per check, track and dispatch included)", "(info)", ""],
        ],
    )  # fmt: skip
    show_timeline(samples)
    st = result.settings
    note(
        f"{plan.accounts} WAMM accounts, rate_limit {plan.rate_limit} each; "
        f"poll first {st.poll.first_s:g} s, x{st.poll.factor:g}, max {st.poll.max_s:g} s; lease "
        f"{st.lease_s:g} s (= check expires); dispatch every {st.dispatch_every_s:g} s, batch {st.dispatch_batch}"
    )
    note(f"every sample: {result.csv_path}")


def show_timeline(samples: list[scale.ScaleSample]) -> None:
    """One row per minute."""
    rows, previous = [], samples[0]
    for s in samples[1:]:
        if int(s.at_s // 60) == int(previous.at_s // 60) and s is not samples[-1]:
            continue
        span_s = s.at_s - previous.at_s
        rows.append([
            f"{s.at_s:.0f}", s.rss_mb, s.threads, s.active, s.due, s.track_queue, s.check_queue,
            (s.gateway_requests - previous.gateway_requests) / span_s, 100 * (s.cpu_s - previous.cpu_s) / span_s,
        ])  # fmt: skip
        previous = s
    show(
        "Figure 4b. Timeline (one row per minute)",
        ["t s", "RSS MB", "threads", "active", "due", "track queue", "check queue", "checks/s", "worker CPU %"],
        rows,
    )


# -- main ------------------------------------------------------------------------------


def cleanup(root: str) -> None:
    client = redis_client()
    deleted = delete_prefix(client, root)
    left = count_prefix(client, root)
    client.close()
    print(f"\ncleanup: deleted {deleted} leftover keys under {root}*; {left} remain", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    sizes = replace(sizes, trackers=args.trackers or sizes.trackers, rounds=args.rounds or sizes.rounds)
    root = f"swbench-{secrets.token_hex(3)}"
    workdir = Path(tempfile.mkdtemp(prefix=f"{root}-"))
    header(root, workdir, " ".join(["python -m bench.bench_engine", *(argv if argv is not None else sys.argv[1:])]))
    started = time.monotonic()
    try:
        if args.scale:
            figure_scale(workdir, root, args)
        else:
            figure_throughput(workdir, root, sizes)
            figure_memory(sizes)
            figure_claim(workdir, root, sizes)
    finally:
        cleanup(root)
    print(f"done in {time.monotonic() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
