"""Flower: refused off loopback without credentials from the environment; and the Procfile's
worker, beat and flower, run by honcho, show the public tasks succeeding with clean arguments."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
import requests

from tests.integration.conftest import WAMM_TOKEN, wamm_accounts
from tests.integration.harness import deployment_env
from worker.flower_guard import REFUSED_EXIT, is_loopback, refusal
from worker.local import write_accounts
from worker.simulator import SimulatorClient

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AUTH = ("ops", "flower-pw-8c1e")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any FLOWER_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra}


@pytest.mark.parametrize(
    ("address", "port"),
    [("127.0.0.1", 1), ("127.8.9.10", 1), ("::1", 1), ("[::1]", 1), ("localhost", 1), ("LocalHost", 1)],
)
def test_loopback_addresses_need_no_credentials(address: str, port: int) -> None:
    assert is_loopback(address)
    assert refusal(address, port, "", None) is None


@pytest.mark.parametrize(
    ("address", "basic_auth", "where", "allowed"),
    [
        ("0.0.0.0", None, "0.0.0.0:5555", False),
        ("", None, "every interface", False),
        ("::", None, "[::]:5555", False),
        ("flower.internal", None, "flower.internal:5555", False),
        ("0.0.0.0", "", "0.0.0.0:5555", False),
        ("0.0.0.0", "ops", "0.0.0.0:5555", False),
        ("0.0.0.0", "ops:", "0.0.0.0:5555", False),
        ("0.0.0.0", ":pw", "0.0.0.0:5555", False),
        ("0.0.0.0", "ops:pw,admin", "0.0.0.0:5555", False),
        ("0.0.0.0", "ops:pw", "", True),
        ("10.0.0.5", "ops:pw,admin:p:w", "", True),
    ],
)
def test_other_addresses_need_basic_auth_from_the_environment(
    address: str, basic_auth: str | None, where: str, allowed: bool
) -> None:
    reason = refusal(address, 5555, "", basic_auth)
    if allowed:
        assert reason is None
    else:
        assert reason is not None and where in reason and "FLOWER_BASIC_AUTH" in reason


def test_a_unix_socket_needs_no_credentials() -> None:
    assert refusal("0.0.0.0", 5555, "/run/flower.sock", None) is None


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--address=0.0.0.0"], {}),
        ([], {"FLOWER_ADDRESS": "0.0.0.0"}),
        (["--address=0.0.0.0"], {"FLOWER_BASIC_AUTH": "ops"}),
        (["--address=0.0.0.0", "--basic-auth=ops:on-the-command-line"], {}),
    ],
    ids=["address-argument", "FLOWER_ADDRESS", "malformed-credentials", "credentials-on-command-line"],
)
def test_flower_refuses_to_start_off_loopback_without_credentials(args: list[str], env: dict[str, str]) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "celery", "-A", "worker", "flower", f"--port={port}", *args]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=clean_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    bound = False
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            bound = bound or listening(port)
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = (b.decode() for b in proc.communicate(timeout=10))

    assert proc.returncode == REFUSED_EXIT, (proc.returncode, out, err)
    assert not bound and "Visit me" not in out + err
    assert f"refusing to start Flower on 0.0.0.0:{port}" in err
    assert "Set FLOWER_BASIC_AUTH=user:password" in err


class Honcho:
    """``honcho start`` of some Procfile processes, stopped with everything it started."""

    def __init__(self, workdir: Path, env_file: Path, namespace: str, processes: list[str]) -> None:
        self.env_file = env_file
        self.namespace = namespace
        self.log_path = workdir / "honcho.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*self.honcho, "--no-colour", "start", *processes],
            cwd=ROOT,
            env=clean_env(PYTHONUNBUFFERED="1"),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def honcho(self) -> list[str]:
        return [sys.executable, "-m", "honcho", "-f", str(ROOT / "Procfile"), "-e", str(self.env_file)]

    def run(self, *command: str) -> str:
        """``honcho run``: one command with the Procfile's environment file."""
        done = subprocess.run(
            [*self.honcho, "run", *command], cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"honcho exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}:\n{self.log()[-4000:]}")

    def stop(self) -> int | None:
        """SIGTERM to honcho (it stops its processes, SIGKILL after 5 s); then kill any survivor."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        finally:
            # honcho starts each process in a session of its own: find them by this test's namespace
            for pid in self.survivors():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self._log.close()
        return self.proc.returncode

    def survivors(self) -> list[int]:
        marker = f"\0STATUSWATCH_NAMESPACE={self.namespace}\0".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                with contextlib.suppress(OSError):
                    if marker in b"\0" + (entry / "environ").read_bytes():
                        found.append(int(entry.name))
        return found


@pytest.fixture
def flower_port() -> int:
    return free_port()


@pytest.fixture
def honcho(
    tmp_path: Path, namespace: str, real_redis: redis.Redis, simulator: SimulatorClient, flower_port: int
) -> Iterator[Honcho]:
    accounts = write_accounts(tmp_path / "accounts.toml", wamm_accounts(simulator.url))  # type: ignore[attr-defined]
    env = deployment_env(
        namespace,
        accounts,
        STATUSWATCH_BEAT_SCHEDULE=str(tmp_path / "beat-schedule"),
        FLOWER_PORT=str(flower_port),
        FLOWER_BASIC_AUTH=":".join(AUTH),
    )
    env_file = tmp_path / "statuswatch.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    running = Honcho(tmp_path, env_file, namespace, ["worker", "beat", "flower"])
    try:
        yield running
    finally:
        running.stop()
        assert not running.survivors()
    # real_redis's teardown deletes the namespace's keys and its broker keys (same prefix)


def flower_tasks(port: int) -> tuple[str, dict[str, dict[str, Any]]]:
    """Flower's task list: the raw JSON text and its parsed form."""
    response = requests.get(f"http://127.0.0.1:{port}/api/tasks", auth=AUTH, timeout=5)
    response.raise_for_status()
    return response.text, response.json()


def succeeded(tasks: dict[str, dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [t for t in tasks.values() if t.get("name") == name and t.get("state") == "SUCCESS"]


@pytest.mark.timeout(90)
def test_procfile_worker_beat_and_flower_show_the_tasks_succeed_with_clean_arguments(
    honcho: Honcho, simulator: SimulatorClient, flower_port: int
) -> None:
    ids = ["8100001", "8100002"]
    simulator.add_messages(
        [
            {"provider": "wamm", "credential": WAMM_TOKEN, "msg_id": m, "life": [["sent", 0.0], ["viewed", 0.1]]}
            for m in ids
        ]
    )

    def flower_sees_dispatches() -> bool:
        with contextlib.suppress(requests.RequestException):
            return bool(succeeded(flower_tasks(flower_port)[1], "statuswatch.dispatch"))
        return False

    # A dispatch in Flower's list: the worker runs, beat publishes, and Flower receives the events.
    honcho.wait_for(flower_sees_dispatches, timeout_s=40, what="Flower to list a succeeded statuswatch.dispatch")
    assert requests.get(f"http://127.0.0.1:{flower_port}/api/tasks", timeout=5).status_code == 401

    honcho.run("sh", "-c", " && ".join(f"statuswatch track wamm shop {m} --until read" for m in ids))

    def checks_done() -> bool:
        tasks = flower_tasks(flower_port)[1]
        tracked = " ".join(str(t.get("kwargs")) for t in succeeded(tasks, "statuswatch.track"))
        settled = " ".join(
            str(t.get("result")) for t in succeeded(tasks, "statuswatch.check") if "'settled'" in str(t.get("result"))
        )
        return all(f"'{m}'" in tracked and f"'wamm:shop:{m}'" in settled for m in ids)

    honcho.wait_for(checks_done, timeout_s=20, what="Flower to list both messages tracked and checked to the end")

    text, tasks = flower_tasks(flower_port)
    for secret in (WAMM_TOKEN, quote(WAMM_TOKEN, safe="")):
        assert secret not in text
    for task in succeeded(tasks, "statuswatch.track"):
        assert "shop" in str(task["kwargs"]) and "token" not in str(task["kwargs"]).lower()
    assert {t["name"] for t in tasks.values()} >= {"statuswatch.track", "statuswatch.dispatch", "statuswatch.check"}
    assert "Traceback" not in honcho.log()
