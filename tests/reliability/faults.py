"""Faults to inject: a private ``redis-server`` to SIGKILL and start again, and a loopback
TCP proxy to cut. Both use loopback ports of this suite's own range, every wait is bounded,
and each stops what it started."""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import redis

from worker.embedded import find_server, port_is_free, stop_process

LOOPBACK = "127.0.0.1"
#: loopback ports this suite may listen on (private Redis servers and proxies)
PORTS = range(6390, 6400)
START_TIMEOUT_S = 15.0


def take_port(taken: set[int]) -> int:
    """A free port of ``PORTS`` not in ``taken`` (added to it)."""
    for port in PORTS:
        if port not in taken and port_is_free(port):
            taken.add(port)
            return port
    raise RuntimeError(f"no free loopback port in {PORTS.start}-{PORTS.stop - 1}")


#: Redis persistence settings by name: the append-only file fsynced every second (what
#: statuswatch recommends), at every write, none at all, or RDB snapshots only
PERSISTENCE = {
    "everysec": ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
    "always": ["--appendonly", "yes", "--appendfsync", "always", "--save", ""],
    "none": ["--appendonly", "no", "--save", ""],
    "rdb": ["--appendonly", "no", "--save", "60 1000"],
}


class RedisServer:
    """A private ``redis-server`` with its data in ``data_dir``, ``noeviction``, and the
    append-only file fsynced every second unless ``persistence`` names another setting."""

    def __init__(self, port: int, data_dir: Path, persistence: str = "everysec") -> None:
        self.port = port
        self.data_dir = data_dir
        self.persistence = PERSISTENCE[persistence]
        self.url = f"redis://{LOOPBACK}:{port}/0"
        self.binary = find_server()[0]
        self.process: subprocess.Popen[bytes] | None = None
        data_dir.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        """Start the server on the same port and data (it replays its AOF); wait for PING."""
        assert self.process is None, "already running"
        cmd = [
            self.binary, "--port", str(self.port), "--bind", LOOPBACK, "--dir", str(self.data_dir),
            *self.persistence, "--maxmemory-policy", "noeviction", "--logfile", "redis.log",
        ]  # fmt: skip
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis(host=LOOPBACK, port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{self.log()[-2000:]}")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server not ready within {START_TIMEOUT_S} s")
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: whatever the last fsync did not reach the disk is gone."""
        assert self.process is not None, "not running"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 10.0)
            self.process = None

    def log(self) -> str:
        path = self.data_dir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target``. ``cut()`` closes every connection
    through it and stops listening (a new connection is refused) until ``restore()``: to the
    clients the server is gone, while the server itself keeps running and keeps its data."""

    POLL_S = 0.1

    def __init__(self, port: int, target: int) -> None:
        self.port = port
        self.target = target
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self.connections = 0

    def start(self) -> TcpProxy:
        self.restore()
        self._spawn(self._accept_loop)
        return self

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, []
        if listener is not None:
            listener.close()
        for pair in pairs:
            for sock in pair:
                _close(sock)

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen(64)
        listener.settimeout(self.POLL_S)
        with self._lock:
            self._listener = listener

    def close(self) -> None:
        self._closed.set()
        self.cut()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            listener = self._listener
            if listener is None:
                time.sleep(self.POLL_S)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):  # timed out, or closed by cut()
                continue
            try:
                server = socket.create_connection((LOOPBACK, self.target), timeout=2)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    _close(client)
                    _close(server)
                    continue
                self._pairs.append((client, server))
                self.connections += 1
            self._spawn(self._pump, client, server)

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        peers = {client: server, server: client}
        try:
            while not self._closed.is_set():
                readable, _, _ = select.select(list(peers), [], [], self.POLL_S)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):  # reset, or closed by cut()
            return
        finally:
            _close(client)
            _close(server)
            with self._lock:
                if (client, server) in self._pairs:
                    self._pairs.remove((client, server))


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
