"""Gateway status requests per settled message, with push on and off, in one run.

    .venv/bin/python -m bench.bench_push [--messages 1000] [--expires-in 60] [--track-first]

Each phase: a fresh deployment (``BenchStack``: one worker, beat, and with push on the
``statuswatch webhooks`` process), the gateway simulator in a child process, half the messages
GREEN-API and half WAMM.chat, lives spread over 5 s, a quarter of them failing (GREEN-API
``failed``/``noAccount``, which its journals never show; WAMM ``not sent``), every one tracked
until read with the product's polling settings (first check after 2 s, doubling). With push on
the simulator pushes each step to the receiver (with duplicates and held-back statuses).
Messages are given to the simulator, then tracked (a producer tracks what it has sent); with
``--track-first`` every tracker is registered before any message's life starts.

Reported per phase: trackers ending as their message's life says, the gateways' status requests
the simulator answered (getMessage, lastOutgoingMessages, msg_state, msg_get_last) and those per
settled message, and how long until every tracker ended.
"""

from __future__ import annotations

import argparse
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procs import BenchStack, wait_until
from worker.simulator import SimulatorProcess, start_process

INSTANCE, API_TOKEN, WEBHOOK_TOKEN = "1101000002", "bench-green-token", "bench-green-webhook"
WAMM_TOKEN, WAMM_SECRET = "bench-wamm-token", "bench-wamm-secret"
STATUS_METHODS = ("getMessage", "lastOutgoingMessages", "msg_state", "msg_get_last")
#: (life, the state it ends in) by kind, before the message's shift
GREEN = {"read": ([["sent", 0.2], ["delivered", 0.6], ["read", 1.2]], "read"),
         "failed": ([["sent", 0.2], ["failed", 0.8]], "failed"),
         "no_account": ([["noAccount", 0.4]], "failed"),
         "delivered": ([["sent", 0.2], ["delivered", 0.7], ["read", 1.5]], "read")}  # fmt: skip
WAMM = {"read": ([["sent", 0.2], ["delivered", 0.6], ["viewed", 1.2]], "read"),
        "failed": ([["sent", 0.2], ["not sent", 0.8]], "failed"),
        "read2": ([["sent", 0.3], ["viewed", 1.0]], "read"),
        "delivered": ([["sent", 0.2], ["delivered", 0.7], ["viewed", 1.5]], "read")}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plan(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        provider, table = ("greenapi", GREEN) if i % 2 == 0 else ("wamm", WAMM)
        kind = list(table)[(i // 2) % len(table)]
        life, end = table[kind]
        shift = 5.0 * i / n
        out.append({"provider": provider, "msg_id": f"{1_000_000 + i}", "end": end,
                    "life": [[raw, at + shift] for raw, at in life]})  # fmt: skip
    return out


def sim_message(item: dict[str, Any]) -> dict[str, Any]:
    if item["provider"] == "greenapi":
        return {"provider": "greenapi", "credential": INSTANCE, "api_token": API_TOKEN, "msg_id": item["msg_id"],
                "chat_id": "79001234567@c.us", "life": item["life"], "error": "SWE004: bench"}  # fmt: skip
    return {"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": item["msg_id"], "life": item["life"]}


def phase(
    sim: SimulatorProcess, items: list[dict[str, Any]], push: bool, expires_in: float, track_first: bool
) -> dict[str, Any]:
    sim.client.reset()
    port = free_port()
    accounts = {
        "acme": {"provider": "greenapi", "id_instance": INSTANCE, "api_token_instance": API_TOKEN, "api_url": sim.url,
                 "webhook_token": WEBHOOK_TOKEN},
        "shop": {"provider": "wamm", "token": WAMM_TOKEN, "base_url": sim.url, "webhook_secret": WAMM_SECRET},
    }  # fmt: skip
    credentials = [{"provider": "greenapi", "credential": INSTANCE, "api_token": API_TOKEN}, WAMM_TOKEN]
    targets = {INSTANCE: {"url": f"http://127.0.0.1:{port}/webhooks/greenapi/acme", "token": WEBHOOK_TOKEN},
               WAMM_TOKEN: {"url": f"http://127.0.0.1:{port}/webhooks/wamm/shop/{WAMM_SECRET}"}}  # fmt: skip
    sim.client.configure(credentials=credentials, seed=14, **(
        {"push": targets, "push_duplicate": 0.1, "push_reorder": 0.1, "push_reorder_s": 0.5, "push_resend_s": 2}
        if push else {}))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        stack = BenchStack(Path(tmp), f"swbench-{secrets.token_hex(4)}", accounts,
                           STATUSWATCH_WEBHOOKS_PORT=str(port))  # fmt: skip
        try:
            if push:
                stack.start_command("webhooks", "webhooks")
            stack.start_worker("w1")
            stack.start_beat()
            stack.wait_workers(1)
            started = time.monotonic()
            if not track_first:
                sim.client.add_messages([sim_message(item) for item in items])
            for item in items:
                account = "acme" if item["provider"] == "greenapi" else "shop"
                extra = {"chat_id": "79001234567@c.us"} if item["provider"] == "greenapi" else {}
                stack.track(provider=item["provider"], account=account, msg_id=item["msg_id"],
                            expires_in=expires_in, **extra)  # fmt: skip
            if track_first:  # every tracker there before its gateway pushes anything: first checks as usual
                wait_until(lambda: stack.active() == len(items), 60, "all tracked", stack.check_alive)
                sim.client.add_messages([sim_message(item) for item in items])
            wait_until(lambda: stack.active() == 0 and stack.queue_length("statuswatch.track") == 0
                       and len(list(stack.redis.scan_iter(f"{stack.keys.prefix}:t:*", count=1000))) == len(items),
                       expires_in + 120, "every tracker ended", stack.check_alive, poll_s=0.5)  # fmt: skip
            elapsed = time.monotonic() - started
            return summary(stack, sim, items, elapsed)
        finally:
            stack.stop()


def summary(stack: BenchStack, sim: SimulatorProcess, items: list[dict[str, Any]], elapsed: float) -> dict[str, Any]:
    ids = [f"{i['provider']}:{'acme' if i['provider'] == 'greenapi' else 'shop'}:{i['msg_id']}" for i in items]
    trackers = stack.store.get_many(ids)
    correct = sum(1 for t, i in zip(trackers, items, strict=True)
                  if t and t.state.value == i["end"] and t.outcome.value == "settled")  # fmt: skip
    settled = sum(1 for t in trackers if t and t.outcome.value == "settled")
    by_credential = sim.client.stats()["by_credential"]
    requests = {m: sum(c.get(m, 0) for c in by_credential.values()) for m in STATUS_METHODS}
    total = sum(requests.values())
    ends: dict[str, int] = {}
    for t, i in zip(trackers, items, strict=True):
        key = f"{i['provider']} {t.state.value}/{t.outcome.value}" if t else f"{i['provider']} missing"
        ends[key] = ends.get(key, 0) + 1
    return {"correct": correct, "settled": settled, "requests": requests, "total": total,
            "per_settled": total / max(1, settled), "elapsed_s": elapsed,
            "ends": dict(sorted(ends.items()))}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--expires-in", type=float, default=60.0)
    parser.add_argument("--track-first", action="store_true", help="track every message before its life starts")
    args = parser.parse_args(argv)
    items = plan(args.messages)
    with start_process() as sim:
        results = {name: phase(sim, items, name == "push on", args.expires_in, args.track_first)
                   for name in ("push on", "push off")}  # fmt: skip
    for name, r in results.items():
        print(f"{name}: {r['correct']}/{len(items)} trackers as their life says, {r['settled']} settled; "
              f"{r['total']} status requests ({r['per_settled']:.3f} per settled message) {r['requests']}; "
              f"all ended after {r['elapsed_s']:.1f} s; ends {r['ends']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
