"""The README's first command, small: it finishes, prints its summary, leaves nothing behind —
against the configured Redis, and on a machine where no Redis answers (it starts its own).
``statuswatch up`` and the demo stop everything they started on Ctrl-C and SIGTERM."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_embedded import gone
from worker.embedded import answers, free_port, port_is_free
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
STATUSWATCH = [sys.executable, "-m", "worker.cli"]


def demo_processes() -> list[int]:
    """Processes (ours) started by a demo: they carry its namespace in their environment."""
    return processes_with(b"STATUSWATCH_NAMESPACE=statuswatch-demo-")


def processes_with(marker: bytes) -> list[int]:
    """Live processes whose environment holds ``marker`` (every child inherits it)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker in environ:  # a zombie's environment reads empty: exited
            found.append(int(pid))
    return found


@pytest.fixture
def no_redis_env() -> Iterator[tuple[dict[str, str], int, bytes]]:
    """A new user's environment: nothing answers at the configured Redis URL (a free loopback
    port), none of the test session's settings, and a marker that every child inherits.
    Afterwards, kills whatever carries the marker (a failed test leaves nothing behind)."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    marker = f"STATUSWATCH_TEST_RUN={uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSWATCH_")}
    env |= {"STATUSWATCH_REDIS_URL": url, "STATUSWATCH_BROKER_URL": url, "PYTHONPATH": str(ROOT)}
    env |= dict([marker.split("=")])
    assert not answers(url)
    yield env, port, marker.encode()
    for pid in processes_with(marker.encode()):
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def started(
    cmd: list[str], cwd: Path, env: dict[str, str], out: Path, err: Path, start_new_session: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """``cmd`` running with its output in files; SIGKILLed (its group too) if the test fails first."""
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=stdout, stderr=stderr, start_new_session=start_new_session
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                (os.killpg if start_new_session else os.kill)(proc.pid, signal.SIGKILL)
                proc.wait(10)


def private_redis_pid(output: str) -> int:
    """The pid of the private redis-server from the line that says which Redis is used (its
    environment cannot be read: redis-server writes its process title over it)."""
    line = output.splitlines()[0]
    assert "started a private redis-server" in line, line
    return int(line.split(" pid ", 1)[1].split(")", 1)[0])


def wait_for_output(path: Path, text: str, proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = path.read_text(errors="replace")
        if text in out:
            return out
        assert proc.poll() is None, f"exited with {proc.returncode}:\n{out}"
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} within {timeout_s} s:\n{path.read_text(errors='replace')}")


def test_demo_runs_and_cleans_up() -> None:
    before = set(demo_processes())
    result = subprocess.run(
        [*STATUSWATCH, "demo", "--messages", "60", "--deadline", "6"],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "outcome    state      trackers" in result.stdout
    assert "60/60" in result.stdout
    assert set(demo_processes()) - before == set()


def test_demo_with_no_redis_starts_a_private_one_and_leaves_nothing(
    tmp_path: Path, no_redis_env: tuple[dict[str, str], int, bytes]
) -> None:
    env, port, marker = no_redis_env
    result = subprocess.run(
        [*STATUSWATCH, "demo", "--messages", "40", "--deadline", "5"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"redis: none answered at redis://127.0.0.1:{port}/0; started a private redis-server")
    assert f"data in {tmp_path / '.statuswatch' / 'redis'}/" in first
    assert "40/40" in result.stdout
    assert "\r" not in result.stdout  # not a terminal: plain lines
    assert "outcome    state      trackers" in result.stdout
    assert (tmp_path / ".statuswatch" / "redis" / "redis.log").exists()
    assert processes_with(marker) == []
    assert gone(private_redis_pid(result.stdout))
    assert port_is_free(port)


def test_up_serves_tracking_and_ctrl_c_stops_everything(
    tmp_path: Path, no_redis_env: tuple[dict[str, str], int, bytes]
) -> None:
    env, port, marker = no_redis_env
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with started(
        [*STATUSWATCH, "up", "--simulator"], tmp_path, env, out, err, start_new_session=True
    ) as up:  # its own process group, as a shell gives a foreground job
        text = wait_for_output(out, "Ctrl-C stops everything", up, 60)
        redis_pid = private_redis_pid(text)
        assert answers(f"redis://127.0.0.1:{port}/0")
        assert len(processes_with(marker)) >= 4  # statuswatch, simulator, worker, beat

        # the printed commands work from another shell
        sim_url = text.split("simulator: ", 1)[1].split()[0]
        SimulatorClient(sim_url).add_messages(
            [{"provider": "wamm", "credential": "local-simulator-token", "msg_id": "1001", "life": [["delivered", 0]]}]
        )
        exports = text.split("  export ", 1)[1].splitlines()[0]
        shell_env = {k: v for k, v in env.items() if not k.startswith("STATUSWATCH_")}
        shell_env |= dict(pair.split("=", 1) for pair in exports.split())
        track = [*STATUSWATCH, "track", "wamm", "sim", "1001", "--until", "delivered"]
        subprocess.run(track, env=shell_env, check=True, capture_output=True, timeout=30)
        status_cmd = [*STATUSWATCH, "status", "wamm", "sim", "1001", "--json"]
        record: dict[str, object] = {}
        deadline = time.monotonic() + 30
        while record.get("outcome") != "settled" and time.monotonic() < deadline:
            time.sleep(0.2)
            result = subprocess.run(status_cmd, env=shell_env, capture_output=True, text=True, timeout=30)
            record = json.loads(result.stdout)
        assert record["outcome"] == "settled" and record["state"] == "delivered", record

        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        assert up.wait(60) == 130
    assert "stopped by SIGINT" in err.read_text()
    assert processes_with(marker) == []
    assert gone(redis_pid)
    assert port_is_free(port)


@pytest.mark.timeout(90)
def test_sigterm_stops_the_demo_and_everything_it_started(
    tmp_path: Path, no_redis_env: tuple[dict[str, str], int, bytes]
) -> None:
    env, port, marker = no_redis_env
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with started([*STATUSWATCH, "demo", "--messages", "200", "--deadline", "60"], tmp_path, env, out, err) as demo:
        redis_pid = private_redis_pid(wait_for_output(out, "checks/s", demo, 60))
        demo.send_signal(signal.SIGTERM)  # to statuswatch alone, as a process manager would
        assert demo.wait(60) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in err.read_text()
    assert processes_with(marker) == []
    assert gone(redis_pid)
    assert port_is_free(port)


def test_demo_in_a_terminal_shows_a_live_line_and_ctrl_c_stops_everything(
    tmp_path: Path, no_redis_env: tuple[dict[str, str], int, bytes]
) -> None:
    """Run as a person would: in a terminal (a pty), stopped by typing Ctrl-C."""
    env, port, marker = no_redis_env
    controller, terminal = pty.openpty()
    termios.tcsetwinsize(terminal, (24, 100))

    def take_the_terminal() -> None:  # runs in the child, after setsid: the pty becomes its terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    demo = subprocess.Popen(
        [*STATUSWATCH, "demo", "--messages", "300", "--deadline", "60"],
        cwd=tmp_path,
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
        preexec_fn=take_the_terminal,
    )
    os.close(terminal)
    screen = b""
    try:
        deadline = time.monotonic() + 60
        while screen.count(b"checks/s") < 2 and time.monotonic() < deadline:
            screen += read_terminal(controller)
        redraws = screen.split(b"\r[")[1:]
        assert len(redraws) >= 2, screen  # one line, redrawn in place, that fits the terminal's width
        assert all(len(line.split(b"\r")[0]) < 100 for line in redraws), screen
        os.write(controller, b"\x03")  # Ctrl-C: the terminal signals its foreground group
        assert demo.wait(60) == 130
        screen += read_terminal(controller)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(10)
        os.close(controller)
    assert b"stopped by SIGINT" in screen, screen
    assert processes_with(marker) == []
    assert gone(private_redis_pid(screen.decode(errors="replace")))
    assert port_is_free(port)


def read_terminal(controller: int) -> bytes:
    """What the terminal shows within about 0.2 s (nothing once its last process has gone)."""
    ready, _, _ = select.select([controller], [], [], 0.2)
    try:
        return os.read(controller, 65536) if ready else b""
    except OSError:  # EIO: no process has the terminal open any more
        return b""
