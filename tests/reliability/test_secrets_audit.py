"""Secrets audit: no gateway credential reaches anything a deployment writes, sends or shows.

One deployment (worker and beat at DEBUG, Flower watching it) runs through successes, gateway
errors, 5xx faults, malformed bodies, a refused connection, a revoked token, a misrouted
message, a task that raises, and hostile track requests that carry the tokens themselves.
Then every corpus is searched for every credential, raw and URL-encoded:

- broker: every command any client sent to Redis meanwhile (MONITOR), with kombu's base64
  message bodies decoded, and the broker-prefixed keys left at the end (queues, unacked);
- the DEBUG log of the worker and of beat, and the output of ``statuswatch doctor`` and
  ``statuswatch metrics --once`` run at DEBUG against the same deployment;
- every key and value of the namespace, the events stream and the rejected stream;
- Flower's HTTP API: ``/api/tasks``, ``/api/workers``, ``/api/task/info/<id>``;
- what a webhook receiver (another host, to statuswatch) got: every header and body.

An audit that searched an empty or wrong corpus would pass, so the run first plants a
canary (a harmless marker) in each place the audit searches, by the same path a secret
would take, and the test asserts that every canary is found before it asserts that no
secret is.

The hostile requests are the producer's own words: the message it published (and kombu's
copy of it in the unacked hash) and Celery's repr of its arguments, which the worker relays
verbatim in its task-received event and Flower shows, necessarily hold the token. Only those
are left out, by task id; whatever statuswatch made of the requests (rejections, results,
logs) is searched like everything else.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import redis
import requests

from tests.conftest import REDIS_URL
from tests.integration.harness import Deployment
from worker.local import AccountTables
from worker.receiver import Receiver
from worker.simulator import SimulatorClient, start_in_thread

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

RUN = uuid.uuid4().hex[:8]  # per run: another run's traffic on the same Redis never matches
WAMM_TOKEN = f"wammtok-{RUN}+live/9f3a"
WAMM_REVOKED = f"wammtok-{RUN}+revoked/77b1"
WAMM_UNREACHABLE = f"wammtok-{RUN}+down/5c2e"
GREEN_TOKEN = f"greenapitok-{RUN}=4b7d"  # apiTokenInstance
WBIZ_KEY = f"wbizkey-{RUN}&0e5a"  # api_key
CALLBACK_SECRET = f"cbsecret-{RUN}/d41c"  # STATUSWATCH_CALLBACK_SECRET: signs webhooks, never sent
SECRETS = (WAMM_TOKEN, WAMM_REVOKED, WAMM_UNREACHABLE, GREEN_TOKEN, WBIZ_KEY, CALLBACK_SECRET)
ID_INSTANCE = "1101000077"

#: canaries, one per path a value takes: letters and digits only, so each is valid where planted
CANARY = {
    kind: f"cnry{RUN}{kind}"
    for kind in ("meta", "body", "reject", "msgid", "detail", "url", "queue", "exc", "node", "path")
}
AUTH = ("audit", f"flower-pw-{RUN}")
DEBUG_DRIVER = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)\n"
    "from worker.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def forms(secret: str) -> set[str]:
    """The secret as it could appear: raw, URL-encoded (either case of hex), form-encoded."""
    encoded = quote(secret, safe="")
    lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), encoded)
    return {secret, encoded, lower, quote_plus(secret)}


# -- the broker's traffic --------------------------------------------------------------------


class Monitor:
    """Every command the Redis server receives while it runs that mentions ``namespace`` or a
    needle (the server is shared: other clients' traffic is dropped as it arrives)."""

    def __init__(self, namespace: str, needles: Iterable[str]) -> None:
        self.namespace = namespace
        self.needles = tuple(needles)
        self.lines: list[str] = []
        self.client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise AssertionError("MONITOR did not start")

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            self._ready.set()
            for command in monitor.listen():
                line = command["command"]
                if self.namespace in line or any(n in line for n in self.needles):
                    self.lines.append(line)
                if self._stop.is_set():
                    return

    def stop(self) -> list[str]:
        self._stop.set()
        with redis.Redis.from_url(REDIS_URL) as client:
            client.ping()  # one more command, so that listen() returns
        self._thread.join(timeout=10)
        self.client.close()
        return self.lines


ENVELOPE = '{"body": '


def expand(text: str, producers: set[str]) -> str:
    """``text`` with every kombu message in it followed by its decoded body; the messages the
    test's producer sent with ids in ``producers`` are replaced by a placeholder."""
    decoder = json.JSONDecoder()
    out, pos = [], 0
    while (start := text.find(ENVELOPE, pos)) != -1:
        try:
            envelope, end = decoder.raw_decode(text, start)
        except ValueError:  # not a whole message (MONITOR's escaping): searched as it is
            out.append(text[pos : start + len(ENVELOPE)])
            pos = start + len(ENVELOPE)
            continue
        out.append(text[pos:start])
        if envelope.get("headers", {}).get("id") in producers:
            out.append("<the producer's own message>")
        else:
            out.append(text[start:end])
            out.append(" body=" + scrubbed(body_of(envelope), producers))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def body_of(envelope: dict[str, Any]) -> str:
    body = str(envelope.get("body", ""))
    if envelope.get("properties", {}).get("body_encoding") == "base64":
        return base64.b64decode(body).decode("utf-8", "replace")
    return body


def scrubbed(text: str, producers: set[str]) -> str:
    """JSON text without the producer's own argument reprs of the ``producers`` tasks (which
    Celery relays verbatim in task events, Flower and inspect replies); other text unchanged."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return json.dumps(_scrub(value, producers))


def _scrub(value: Any, producers: set[str]) -> Any:
    if isinstance(value, list):
        return [_scrub(v, producers) for v in value]
    if not isinstance(value, dict):
        return value
    own = value.get("uuid") in producers or value.get("id") in producers
    return {
        k: ("<the producer's own arguments>" if own and k in ("args", "kwargs") else _scrub(v, producers))
        for k, v in value.items()
    }


def dump_prefix(client: redis.Redis, prefix: str) -> list[str]:
    """Every key under ``prefix`` and its values, one line each, values as stored (not
    repr'd: a kombu message in a list or hash stays JSON that ``expand`` can decode)."""
    out = []
    for key in sorted(client.scan_iter(match=f"{prefix}*", count=1000)):
        kind = client.type(key)
        values: list[Any]
        if kind == "hash":
            values = [f"{k} {v}" for k, v in client.hgetall(key).items()]
        elif kind == "stream":
            values = [f"{eid} {fields}" for eid, fields in client.xrange(key)]
        elif kind == "zset":
            values = [f"{m} {score}" for m, score in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "set":
            values = sorted(client.smembers(key))
        elif kind == "string":
            values = [client.get(key)]
        else:
            values = [f"<{kind}>"]
        out += [f"{key} {value}" for value in values] or [f"{key} <empty>"]
    return out


# -- the deployment ----------------------------------------------------------------------------


@pytest.fixture
def simulator() -> Iterator[SimulatorClient]:
    with start_in_thread() as running:
        yield SimulatorClient(running.url)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound and never listened on: a connection is refused, every time."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def accounts(sim: str, closed_port: int) -> AccountTables:
    down = f"http://127.0.0.1:{closed_port}/{CANARY['url']}"  # the path reaches the error text
    return {
        "shop": {"provider": "wamm", "token": WAMM_TOKEN, "base_url": sim},
        "revoked": {"provider": "wamm", "token": WAMM_REVOKED, "base_url": sim},
        "down": {"provider": "wamm", "token": WAMM_UNREACHABLE, "base_url": down},
        "support": {"provider": "greenapi", "id_instance": ID_INSTANCE, "api_token_instance": GREEN_TOKEN,
                    "api_url": sim},
        "billing": {"provider": "wbiztool", "client_id": 77, "api_key": WBIZ_KEY, "base_url": sim},
    }  # fmt: skip


def gateway_messages(simulator: SimulatorClient) -> None:
    life = [["sent", 0.05], ["viewed", 0.2]]
    simulator.add_messages(
        [{"provider": "wamm", "credential": t, "msg_id": str(i), "life": life}
         for t in (WAMM_TOKEN, WAMM_REVOKED) for i in range(1, 6)]
        + [{"provider": "greenapi", "credential": ID_INSTANCE, "api_token": GREEN_TOKEN, "msg_id": m,
            "chat_id": "79000001@c.us", "life": [["read", 0.1]]} for m in ("BAE50001", CANARY["msgid"])]
        + [{"provider": "wbiztool", "credential": WBIZ_KEY, "client_id": 77, "msg_id": "1", "life": [[1, 0.1]]},
           {"provider": "wbiztool", "credential": WBIZ_KEY, "client_id": 77, "msg_id": "9", "life": [[2, 0.1]],
            "error": f"Invalid phone number {CANARY['detail']}"}]
    )  # fmt: skip
    simulator.configure(revoked=[WAMM_REVOKED], fault_5xx=0.2, fault_malformed=0.1, seed=3)


#: the trackers the run registers (the misrouted request is never consumed)
TRACKED = (
    [{"provider": "wamm", "account": a, "msg_id": str(i)} for a in ("shop", "revoked", "down") for i in range(1, 5)]
    + [{"provider": "greenapi", "account": "support", "msg_id": m, "chat_id": "79000001@c.us"}
       for m in ("BAE50001", CANARY["msgid"], "BAE5UNKNOWN")]
    + [{"provider": "wbiztool", "account": "billing", "msg_id": m} for m in ("1", "9", "12")]
)  # fmt: skip

#: requests that carry a credential where none belongs: (task, args, kwargs, rejected entries)
HOSTILE: list[tuple[str, list[Any], dict[str, Any], int]] = [
    ("statuswatch.track", [], {"provider": "wamm", "account": "shop", "msg_id": "5", "token": WAMM_TOKEN}, 1),
    ("statuswatch.track", [], {"provider": "wamm", "account": WAMM_TOKEN, "msg_id": "5"}, 1),
    ("statuswatch.track", [], {"provider": "wamm", "account": "shop", "msg_id": WAMM_TOKEN}, 1),
    ("statuswatch.track", [], {"provider": GREEN_TOKEN, "account": "support", "msg_id": "BAE5"}, 1),
    ("statuswatch.track", [], {"provider": "greenapi", "account": "support", "msg_id": "B", "chat_id": GREEN_TOKEN}, 1),
    ("statuswatch.track", [], {"provider": "wbiztool", "account": "billing", "msg_id": WBIZ_KEY}, 1),
    ("statuswatch.track", [], {"provider": "wbiztool", "account": "billing", "msg_id": "5", "until": WBIZ_KEY}, 1),
    ("statuswatch.track", [WAMM_REVOKED], {}, 1),
    ("statuswatch.untrack", [], {"provider": "wamm", "account": "shop", "msg_id": WAMM_UNREACHABLE}, 1),
    ("statuswatch.track_many", [], {"items": [
        {"provider": "wamm", "account": "shop", "msg_id": "6", "api_key": WBIZ_KEY},
        {"provider": "greenapi", "account": GREEN_TOKEN, "msg_id": "BAE5", "chat_id": "79000001@c.us"},
        {"provider": "wamm", "account": "shop", "msg_id": "7"},
    ]}, 2),
]  # fmt: skip


class Audited(Deployment):
    """The harness's deployment, with Flower, and tasks sent by id."""

    def start_flower(self, port: int) -> None:
        self._spawn("flower", [sys.executable, "-m", "celery", "-A", "worker", "flower", f"--port={port}"])

    def send(self, name: str, task_id: str, args: list[Any] | None = None, **options: Any) -> None:
        self.producer.send_task(name, args=args or [], task_id=task_id, **options)

    def cli_at_debug(self, *argv: str) -> str:
        """A ``statuswatch`` command with the root logger at DEBUG: stdout and stderr together.

        The command line sets up no logging of its own (only warnings would print); run at
        DEBUG, urllib3 logs each gateway request it makes, URL and all."""
        done = subprocess.run(
            [sys.executable, "-c", DEBUG_DRIVER, *argv],
            cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode in (0, 1), done.stdout + done.stderr
        return done.stdout + done.stderr


def flower_get(port: int, path: str) -> Any:
    response = requests.get(f"http://127.0.0.1:{port}{path}", auth=AUTH, timeout=10)
    response.raise_for_status()
    return response.json()


def flower_tasks(port: int) -> dict[str, dict[str, Any]]:
    with contextlib.suppress(requests.RequestException):
        tasks: dict[str, dict[str, Any]] = flower_get(port, "/api/tasks")
        return tasks
    return {}


def state_of(tasks: dict[str, dict[str, Any]], task_id: str) -> str | None:
    task = tasks.get(task_id)
    return None if task is None else task.get("state")


# -- the audit ---------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver that fails each event's first attempt: a retry is signed again."""
    with Receiver(fail_first=1, failures=("500",)) as running:
        yield running


def test_no_credential_reaches_any_corpus_and_every_planted_canary_does(
    tmp_path: Path, namespace: str, simulator: SimulatorClient, closed_port: int, receiver: Receiver
) -> None:
    gateway_messages(simulator)
    workdir = tmp_path / f"deployment-{CANARY['path']}"  # beat and doctor print paths under it
    workdir.mkdir()
    flower_port = free_port()
    deployment = Audited(
        workdir, namespace, accounts(simulator.url, closed_port),
        STATUSWATCH_DEFAULT_EXPIRES_S="4", FLOWER_BASIC_AUTH=":".join(AUTH),
        STATUSWATCH_CALLBACK_SECRET=CALLBACK_SECRET, STATUSWATCH_CALLBACK_ALLOW_NETWORKS="127.0.0.0/8",
    )  # fmt: skip
    ids = {kind: f"{kind}-{RUN}-{uuid.uuid4().hex[:8]}" for kind in ("meta", "stray", "exc", "reject")}
    hostile_ids = {f"hostile{i}-{RUN}-{uuid.uuid4().hex[:8]}" for i in range(len(HOSTILE))}
    producers = set(hostile_ids)
    needles = {f for s in SECRETS for f in forms(s)} | set(CANARY.values())
    worker = f"w1-{CANARY['node']}"
    corpora: dict[str, str] = {}
    monitor = None
    try:
        monitor = Monitor(namespace, needles)
        # A statuswatch request on a queue no worker reads: the worker (at start), doctor and
        # the metrics name that queue; the message stays in the broker for the final dump.
        # Its "body" canary lies past the 1024 characters of Celery's argument repr in the
        # headers: only the message's base64 body holds it, so finding it proves the decoding.
        note = {"note": CANARY["meta"], "pad": "x" * 1100, "tail": CANARY["body"]}
        stray = {"provider": "wamm", "account": "shop", "msg_id": "8", "meta": note}
        deployment.send("statuswatch.track", ids["stray"], kwargs=stray, queue=f"stray-{CANARY['queue']}")
        deployment.start_worker(worker, loglevel="DEBUG")
        deployment.start_beat(loglevel="DEBUG")
        deployment.start_flower(flower_port)
        deployment.wait_ready([worker])

        # Flower turns task events on in the workers it watches (every 5 s): wait until it
        # shows a task, so it sees every task sent from here on.
        def flower_sees_tasks() -> bool:
            return any(t.get("state") == "SUCCESS" for t in flower_tasks(flower_port).values())

        deployment.wait_for(flower_sees_tasks, 40, "Flower to show a succeeded task")

        for kwargs in TRACKED:
            deployment.track(**kwargs)
        meta = {"provider": "wamm", "account": "shop", "msg_id": "5", "meta": {"note": CANARY["meta"]},
                "callback_url": receiver.url}  # fmt: skip
        deployment.send("statuswatch.track", ids["meta"], kwargs=meta)
        bad = {"provider": "wamm", "account": f"{CANARY['reject']}/x", "msg_id": "1"}
        deployment.send("statuswatch.track", ids["reject"], kwargs=bad)
        for task_id, (name, args, kwargs, _) in zip(sorted(hostile_ids), HOSTILE, strict=True):
            deployment.send(name, task_id, args, kwargs=kwargs)
        # A task that raises, with the canary in the exception's text (a keyword it does not take).
        deployment.send("statuswatch.housekeeping", ids["exc"], kwargs={CANARY["exc"]: 1})

        rejected = 1 + sum(n for *_, n in HOSTILE)
        deployment.wait_for(
            lambda: deployment.redis.xlen(deployment.keys.rejected) == rejected, 20, f"{rejected} rejections"
        )
        deployment.wait_all_finished(len(TRACKED) + 2, 30)  # + the canary's and track_many's good item

        watched = {ids["meta"], ids["reject"], ids["exc"], *hostile_ids}

        def flower_saw_them_end() -> bool:
            tasks = flower_tasks(flower_port)
            return all(state_of(tasks, t) in ("SUCCESS", "FAILURE") for t in watched)

        deployment.wait_for(flower_saw_them_end, 20, "Flower to show the sent tasks ended")

        deployment.wait_for(
            lambda: (
                any(r.answered == "500" for r in receiver.attempts)
                and any(r.event.get("outcome") == "settled" for r in receiver.delivered)
            ),
            30,
            "the webhook's final event",
        )
        corpora["webhook receiver"] = "\n".join(
            f"{r.path} {r.event_id} {r.signature} {r.body.decode('utf-8', 'replace')}" for r in receiver.attempts
        )
        corpora["doctor"] = deployment.cli_at_debug("doctor")
        corpora["metrics"] = deployment.cli_at_debug("metrics", "--once")
        tasks = flower_get(flower_port, "/api/tasks")
        checks = sorted(t for t, v in tasks.items() if v.get("name") == "statuswatch.check")[:3]
        corpora["flower /api/tasks"] = scrubbed(json.dumps(tasks), producers)
        workers: list[Any] = []

        def flower_inspected_the_worker() -> bool:
            workers[:] = [flower_get(flower_port, "/api/workers?refresh=1")]
            return worker in json.dumps(workers[0])

        deployment.wait_for(flower_inspected_the_worker, 20, "Flower's /api/workers to show the worker")
        corpora["flower /api/workers"] = scrubbed(json.dumps(workers[0]), producers)
        corpora["flower /api/task/info"] = "\n".join(
            scrubbed(json.dumps(flower_get(flower_port, f"/api/task/info/{t}")), producers)
            for t in (ids["meta"], ids["exc"], ids["reject"], sorted(hostile_ids)[0], *checks)
        )
        corpora["events stream"] = str(deployment.redis.xrange(deployment.keys.events))
        corpora["rejected stream"] = str(deployment.redis.xrange(deployment.keys.rejected))
        corpora["redis: namespace"] = "\n".join(dump_prefix(deployment.redis, f"{namespace}:"))
        broker_keys = dump_prefix(deployment.redis, deployment.settings.broker_key_prefix)
        corpora["redis: broker keys"] = expand("\n".join(broker_keys), producers)
        # results are ignored (config/celery.py): no backend key anywhere, inside or out
        sent = [ids["meta"], ids["reject"], ids["exc"], *hostile_ids]
        assert not deployment.redis.exists(*(f"celery-task-meta-{t}" for t in sent))
    finally:
        deployment.stop()  # first: MONITOR and the logs get what the processes do until they exit
        commands = monitor.stop() if monitor else []
    corpora["broker (MONITOR)"] = "\n".join(expand(line, producers) for line in commands)
    # Flower's own log holds its start-up and failed inspections, never a task's content: no
    # canary can reach it. It is searched for the secrets all the same.
    for name in (worker, "beat", "flower"):
        corpora[f"log: {name}"] = deployment.log(name)

    worker_log = corpora[f"log: {worker}"]
    planted = {
        "broker (MONITOR)": ["meta", "body", "queue", "exc", "msgid"],
        f"log: {worker}": ["meta", "reject", "exc", "queue", "msgid"],
        "log: beat": ["path"],
        "doctor": ["queue", "path"],
        "metrics": ["queue"],
        "redis: namespace": ["meta", "reject", "msgid", "detail", "url", "queue"],
        "redis: broker keys": ["meta", "body", "queue"],
        "events stream": ["msgid"],
        "rejected stream": ["reject"],
        "flower /api/tasks": ["meta", "exc"],
        "flower /api/workers": ["node"],
        "flower /api/task/info": ["meta", "exc", "reject"],
        "webhook receiver": ["meta"],  # the producer's meta comes back with each event
    }
    missing = [f"{kind} in {corpus}" for corpus, kinds in planted.items() for kind in kinds
               if CANARY[kind] not in corpora.get(corpus, "")]  # fmt: skip
    assert not missing, f"the audit would not see a secret there: canaries missing: {missing}"
    assert not any(CANARY["body"] in line for line in commands), "the body canary should be in base64 only"
    unacked = f"HSET {deployment.settings.broker_key_prefix}unacked "
    assert any(line.startswith(unacked) and CANARY["meta"] in line for line in commands), "kombu's unacked copies"
    for corpus in (f"log: {worker}", "log: beat", "doctor", "metrics"):
        assert "DEBUG" in corpora[corpus], f"{corpus} should be at DEBUG"
    assert "Traceback (most recent call last)" in worker_log

    found = [
        f"{corpus}: {form!r} ...{text[max(0, i - 120) : i + 80]!r}..."
        for corpus, text in corpora.items()
        for form in sorted({f for s in SECRETS for f in forms(s)})
        if (i := text.find(form)) != -1
    ]
    assert not found, "credentials found:\n" + "\n".join(found)

    # gateway URLs are logged at DEBUG, the tokens in them masked
    assert "msg_state/***/" in worker_log and "getMessage/***" in worker_log
    assert "msg_state/***/" in corpora["doctor"] and "getStateInstance/***" in corpora["doctor"]
