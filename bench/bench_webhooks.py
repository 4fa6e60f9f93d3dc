"""The webhook receiver under load: accepted pushes per second on one process, and the answer
time at a fixed rate.

    .venv/bin/python -m bench.bench_webhooks [--trackers 5000] [--rate 500] [--seconds 20] [--max-seconds 10]

One ``statuswatch webhooks`` process (the product's command) over the real Redis, for one
GREEN-API account with ``--trackers`` active trackers. The load comes from this process (aiohttp
client, keep-alive connections), GREEN-API outgoingMessageStatus bodies for those trackers
(sent, delivered, read in turn: applied, then duplicates), so every request is one observe.lua
call, as in production:

- fixed rate: ``--rate`` pushes a second for ``--seconds``, each sent on its schedule (open
  loop: a slow answer does not slow the load down), the answer time of each measured from its
  scheduled send: p50, p99, max;
- most: ``--concurrency`` requests in flight at once for ``--max-seconds``: accepted per second.

Everything shares the machine's cores (Redis, the receiver, the load). Keys live under
``swbench-<random>`` and are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import secrets
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.procs import BenchStack
from worker.providers import CEILINGS
from worker.tracking import parse_track_request

INSTANCE, API_TOKEN, WEBHOOK_TOKEN = "1101000001", "bench-api-token", "bench-webhook-token"
STATUSES = ("sent", "delivered", "read")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def body(msg_id: str, status: str) -> dict[str, Any]:
    return {"typeWebhook": "outgoingMessageStatus", "chatId": "79001234567@c.us",
            "instanceData": {"idInstance": int(INSTANCE), "wid": "79000000000@c.us", "typeInstance": "whatsapp"},
            "timestamp": int(time.time()), "idMessage": msg_id, "status": status, "sendByApi": True}  # fmt: skip


def register(stack: BenchStack, n: int) -> list[str]:
    ids = [f"B{i:07d}" for i in range(n)]
    kw = {"provider": "greenapi", "account": "acme", "chat_id": "79001234567@c.us", "until": "read"}
    for start in range(0, n, 1000):
        items = [(f"greenapi:acme:{m}", parse_track_request({**kw, "msg_id": m}, None, 3600), CEILINGS["greenapi"],
                  3600.0) for m in ids[start:start + 1000]]  # fmt: skip
        stack.store.register_many(items)
    return ids


async def wait_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the receiver did not come up")


class Load:
    def __init__(self, url: str, ids: list[str]) -> None:
        self.url, self.ids = f"{url}/webhooks/greenapi/acme", ids
        self.headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
        self.sent = 0
        self.statuses: dict[int, int] = {}

    def next_body(self) -> dict[str, Any]:
        i = self.sent
        self.sent += 1
        return body(self.ids[i % len(self.ids)], STATUSES[(i // len(self.ids)) % len(STATUSES)])

    async def one(self, session: aiohttp.ClientSession, payload: dict[str, Any]) -> None:
        async with session.post(self.url, json=payload, headers=self.headers) as response:
            await response.read()
            self.statuses[response.status] = self.statuses.get(response.status, 0) + 1

    async def fixed_rate(self, rate: float, seconds: float) -> list[float]:
        """Answer times (s) of ``rate`` pushes a second, each from its scheduled send."""
        times: list[float] = []
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(connector=connector) as session:
            start = time.perf_counter()

            async def at(due: float) -> None:
                await self.one(session, self.next_body())
                times.append(time.perf_counter() - due)

            tasks = []
            for k in range(int(rate * seconds)):
                due = start + k / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.ensure_future(at(due)))
            await asyncio.gather(*tasks)
        return times

    async def most(self, concurrency: int, seconds: float) -> float:
        """Accepted pushes per second with ``concurrency`` in flight."""
        done = 0
        end = time.perf_counter() + seconds
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

            async def worker() -> None:
                nonlocal done
                while time.perf_counter() < end:
                    await self.one(session, self.next_body())
                    done += 1

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


#: the receiver's access log line: "... POST /webhooks/... 200 1.2 ms"
ACCESS = re.compile(r"POST /webhooks/\S+ (\d{3}) ([0-9.]+) ms")


def served_ms(log: str) -> list[float]:
    """The answer times the receiver logged itself, ms (its access log)."""
    return [float(m.group(2)) for m in ACCESS.finditer(log)]


async def run(args: argparse.Namespace, stack: BenchStack, port: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}"
    await wait_up(url)
    load = Load(url, register(stack, args.trackers))
    await load.most(8, 2.0)  # warm-up
    gc.collect()
    gc.freeze()  # the load generator's own collections would show as answer time
    before = len(served_ms(stack.log("webhooks")))
    times = await load.fixed_rate(args.rate, args.seconds)
    served = served_ms(stack.log("webhooks"))[before:]
    most = await load.most(args.concurrency, args.max_seconds)
    return {
        "rate": args.rate, "p50_ms": 1000 * statistics.median(times), "p99_ms": 1000 * percentile(times, 0.99),
        "max_ms": 1000 * max(times), "most_per_s": most, "answers": load.statuses, "sent": load.sent,
        "served_p50_ms": statistics.median(served), "served_p99_ms": percentile(served, 0.99),
        "served_max_ms": max(served),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trackers", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    port = free_port()
    accounts = {"acme": {"provider": "greenapi", "id_instance": INSTANCE, "api_token_instance": API_TOKEN,
                         "api_url": "http://127.0.0.1:9", "webhook_token": WEBHOOK_TOKEN}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        stack = BenchStack(Path(tmp), f"swbench-{secrets.token_hex(4)}", accounts, STATUSWATCH_WEBHOOKS_PORT=str(port))
        try:
            stack.start_command("webhooks", "webhooks")
            result = asyncio.run(run(args, stack, port))
            stats = stack.redis.hgetall(stack.keys.stats)
            print(f"fixed rate {result['rate']:.0f}/s for {args.seconds:.0f} s: p50 {result['p50_ms']:.1f} ms, "
                  f"p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms")  # fmt: skip
            print(f"  as the receiver logged them: p50 {result['served_p50_ms']:.1f} ms, "
                  f"p99 {result['served_p99_ms']:.1f} ms, max {result['served_max_ms']:.1f} ms")  # fmt: skip
            print(f"most: {result['most_per_s']:.0f} accepted/s with {args.concurrency} in flight")
            print(f"answers {result['answers']}; sent {result['sent']}; store counted "
                  f"{stats.get('push:greenapi:statuses')} statuses")  # fmt: skip
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
