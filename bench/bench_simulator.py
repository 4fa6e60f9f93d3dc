"""Throughput of the gateway simulator next to a trivial asyncio server (the raw floor).

    PYTHONPATH=. .venv/bin/python bench/bench_simulator.py [--seconds 3] [--clients 4]
                                                           [--client requests|raw]

The server under test runs in its own process pinned to one core (`--server-cpu`); the
clients run in separate processes, pinned to the other cores when there are any. Each phase
drives one endpoint kind with keep-alive connections for a bounded time and request count.
Besides requests/second it prints the server's own CPU use, and requests per server
CPU-second: what one core can serve, even when the clients cannot saturate it.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.simulator import start_process

TOKENS = [f"BENCH{i}" for i in range(10)]
MESSAGES_PER_TOKEN = 100
START_DELAY_S = 0.5
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
FIXED_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b'Content-Length: 9\r\n\r\n{"err":0}')


def paths(kind: str) -> list[str]:
    """The request paths one client cycles through for an endpoint kind."""
    ids = range(MESSAGES_PER_TOKEN)
    if kind == "msg_state ?msg_id=":
        return [f"/api2/msg_state/{t}/?msg_id={i * 10 + n}" for n, t in enumerate(TOKENS)
                for i in ids]
    if kind == "msg_state /{id}":
        return [f"/api2/msg_state/{t}/{i * 10 + n}" for n, t in enumerate(TOKENS) for i in ids]
    if kind == "msg_get_last col=20":
        return [f"/api2/msg_get_last/{t}/?col=20&from_me=1" for t in TOKENS]
    # the three kinds in turn
    by_id, by_path, last = paths("msg_state ?msg_id="), paths("msg_state /{id}"), paths(
        "msg_get_last col=20")
    return [p for i in range(len(by_id)) for p in (by_id[i], by_path[i], last[i % len(last)])]


KINDS = ["msg_state ?msg_id=", "msg_state /{id}", "msg_get_last col=20", "mixed"]


def wamm_messages() -> list[dict]:
    life = [["sent", 0], ["delivered", 1], ["viewed", 3]]
    return [{"provider": "wamm", "credential": t, "msg_id": str(i * 10 + n), "life": life,
             "phone": "79001234567", "text": "hello"}
            for n, t in enumerate(TOKENS) for i in range(MESSAGES_PER_TOKEN)]


# -- clients -----------------------------------------------------------------------------------

def requests_client(url: str, kind: str, start: float, end: float, limit: int) -> tuple[int, int]:
    import requests

    done = errors = 0
    with requests.Session() as session:
        session.trust_env = False
        cycle = [url + p for p in paths(kind)]
        time.sleep(max(0.0, start - time.time()))
        while done < limit and time.time() < end:
            response = session.get(cycle[done % len(cycle)])
            errors += response.status_code != 200
            done += 1
    return done, errors


def raw_client(url: str, kind: str, start: float, end: float, limit: int) -> tuple[int, int]:
    """A minimal keep-alive client: prebuilt requests, answers read by Content-Length."""
    host, port = url.removeprefix("http://").split(":")
    cycle = [f"GET {p} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode() for p in paths(kind)]
    done = errors = 0
    with socket.create_connection((host, int(port))) as sock, sock.makefile("rb") as stream:
        time.sleep(max(0.0, start - time.time()))
        while done < limit and time.time() < end:
            sock.sendall(cycle[done % len(cycle)])
            errors += not stream.readline().startswith(b"HTTP/1.1 200")
            length = 0
            while (line := stream.readline()) != b"\r\n":
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            stream.read(length)
            done += 1
    return done, errors


def client_main(client: str, cpus: set[int], args: tuple, results: mp.Queue) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    run = raw_client if client == "raw" else requests_client
    results.put(run(*args))


# -- the baseline server -----------------------------------------------------------------------

async def trivial_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            at = head.lower().find(b"content-length:")
            if at >= 0:
                await reader.readexactly(int(head[at + 15:head.index(b"\r\n", at)]))
            writer.write(FIXED_ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def trivial_server_main(cpu: int | None, port_queue: mp.Queue) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})

    async def main() -> None:
        server = await asyncio.start_server(trivial_connection, "127.0.0.1", 0)
        port_queue.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


# -- measuring ---------------------------------------------------------------------------------

@dataclass
class Row:
    target: str
    kind: str
    requests: int
    errors: int
    seconds: float
    cpu_s: float


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def run_phase(target: str, url: str, pid: int, kind: str, args: argparse.Namespace,
              client_cpus: set[int]) -> Row:
    ctx = mp.get_context("fork")
    results: mp.Queue = ctx.Queue()
    start = time.time() + START_DELAY_S
    end = start + args.seconds
    workers = [ctx.Process(target=client_main, args=(
        args.client, client_cpus, (url, kind, start, end, args.max_requests), results))
        for _ in range(args.clients)]
    for worker in workers:
        worker.start()
    time.sleep(max(0.0, start - time.time()))
    cpu_before = cpu_seconds(pid)
    counts = [results.get(timeout=args.seconds + 30) for _ in workers]
    elapsed = time.time() - start
    cpu_used = cpu_seconds(pid) - cpu_before
    for worker in workers:
        worker.join()
    return Row(target, kind, sum(c[0] for c in counts), sum(c[1] for c in counts), elapsed,
               cpu_used)


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    print(f"\nclients: {args.clients} x {args.client}, {args.seconds:g} s per phase, "
          f"server pinned to cpu {args.server_cpu}, {os.cpu_count()} cpus\n")
    header = (f"{'server':<10} {'endpoint':<21} {'requests':>9} {'req/s':>8} {'errors':>6} "
              f"{'server cpu':>10} {'req per server cpu-s':>21}")
    print(header)
    print("-" * len(header))
    for row in rows:
        per_cpu = row.requests / row.cpu_s if row.cpu_s else float("nan")
        print(f"{row.target:<10} {row.kind:<21} {row.requests:>9} "
              f"{row.requests / row.seconds:>8.0f} {row.errors:>6} "
              f"{row.cpu_s / row.seconds:>9.0%} {per_cpu:>21.0f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per phase")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--client", choices=["requests", "raw"], default="requests")
    parser.add_argument("--max-requests", type=int, default=200_000, help="per client, per phase")
    parser.add_argument("--server-cpu", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cpus = os.sched_getaffinity(0)
    client_cpus = cpus - {args.server_cpu} or cpus
    rows = []
    with start_process(cpu=args.server_cpu) as sim:
        sim.client.add_messages(wamm_messages())
        for kind in KINDS:
            rows.append(run_phase("simulator", sim.url, sim.pid, kind, args, client_cpus))
        stats = sim.client.stats()
    assert stats["responses"].keys() == {"200"}, stats["responses"]

    ctx = mp.get_context("fork")
    port_queue: mp.Queue = ctx.Queue()
    baseline = ctx.Process(target=trivial_server_main, args=(args.server_cpu, port_queue))
    baseline.start()
    try:
        url = f"http://127.0.0.1:{port_queue.get(timeout=10)}"
        for kind in KINDS:
            rows.append(run_phase("baseline", url, baseline.pid, kind, args, client_cpus))
    finally:
        baseline.terminate()
        baseline.join()
    print_table(rows, args)


if __name__ == "__main__":
    main()
