"""The command line as an operator meets it: --json everywhere, one line and a non-zero exit
for every error (Redis or the broker unreachable included), never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.harness import Deployment
from worker.embedded import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "args",
    [
        ("status", "wamm", "shop", "1"),
        ("stats",),
        ("rejected",),
        ("events",),
        ("track", "wamm", "shop", "1"),
        ("untrack", "wamm", "shop", "1"),
    ],
)
def test_an_unreachable_redis_or_broker_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    down = f"redis://:hunter2-password@127.0.0.1:{free_port()}/0"
    env = {**os.environ, "STATUSWATCH_REDIS_URL": down, "STATUSWATCH_BROKER_URL": down}
    env.pop("STATUSWATCH_ACCOUNTS_FILE", None)
    done = cli(env, *args)
    assert done.returncode == 1 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("statuswatch: ") and "Connection refused" in line and "Traceback" not in line
    assert "hunter2" not in line


@pytest.mark.parametrize(
    "args", [("rejected", "--count", "-5"), ("events", "--count", "0"), ("track", "wamm", "shop", "x")]
)
def test_bad_arguments_are_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    done = cli(dict(os.environ), *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(("statuswatch", "usage"))


def test_every_command_speaks_json(deployment: Deployment) -> None:
    env = deployment.env
    deployment.start_worker("w1")
    deployment.wait_ready(["w1"])
    tracked = json.loads(cli(env, "track", "wamm", "shop", "4242", "--json").stdout)
    assert tracked == {"tracker": "wamm:shop:4242", "enqueued": True}
    deployment.wait_for(lambda: deployment.store.get("wamm:shop:4242") is not None, 20, "the tracker")
    untracked = json.loads(cli(env, "untrack", "wamm", "shop", "4242", "--json").stdout)
    assert untracked == {"tracker": "wamm:shop:4242", "enqueued": True}
    deployment.wait_for(lambda: deployment.store.get("wamm:shop:4242").outcome.value == "cancelled", 20, "cancelled")
    [status] = [json.loads(line) for line in cli(env, "status", "wamm", "shop", "4242", "--json").stdout.splitlines()]
    assert (status["msg_id"], status["outcome"]) == ("4242", "cancelled")
    deployment.producer.send_task("statuswatch.track", kwargs={"provider": "wamm", "account": "nobody", "msg_id": 1})
    deployment.wait_for(lambda: deployment.fleet.rejected() != [], 20, "the rejection")
    [rejected] = [json.loads(line) for line in cli(env, "rejected", "--json").stdout.splitlines()]
    assert rejected["reason"].startswith("account: unknown account 'nobody'")
    assert "active" in json.loads(cli(env, "stats", "--json").stdout)
    doctor = [json.loads(line) for line in cli(env, "doctor", "--json").stdout.splitlines()]
    assert doctor[-1]["verdict"] in ("ready", "NOT READY")
    assert {"level", "what", "detail"} <= set(doctor[0])
