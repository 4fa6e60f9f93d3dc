"""Run the simulator as `python -m worker.simulator` in a child process (a core of its own)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .client import SimulatorClient, simulator_url

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.02
#: the directory that holds the `worker` package, so the child imports this very copy
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class SimulatorProcess:
    """A simulator child process; `stop` sends SIGTERM, then kills it after a timeout."""

    def __init__(
        self, host: str, port: int, config: dict[str, Any], cpu: int | None = None, nice: int | None = None
    ) -> None:
        self.host = host
        self._dir = tempfile.mkdtemp(prefix="statuswatch-simulator-")
        port_file = os.path.join(self._dir, "port")
        command = [
            sys.executable,
            "-m",
            "worker.simulator",
            "--host",
            host,
            "--port",
            str(port),
            "--port-file",
            port_file,
            "--config",
            json.dumps(config),
        ]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        if nice is not None:
            command += ["--nice", str(nice)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        try:
            self.port = self._wait_for_port(port_file)
            self.client.health()
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return simulator_url(self.host, self.port)

    @property
    def client(self) -> SimulatorClient:
        return SimulatorClient(self.url)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> int:
        """Stop the child (SIGTERM, then SIGKILL after STOP_TIMEOUT_S); return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)
        return int(self.process.returncode)

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_for_port(self, port_file: str) -> int:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the simulator exited with code {self.process.returncode}")
            try:
                with open(port_file) as file:
                    return int(file.read())
            except (FileNotFoundError, ValueError):
                time.sleep(POLL_S)
        raise RuntimeError(f"the simulator did not start within {START_TIMEOUT_S} s")


def start_process(
    host: str = "127.0.0.1", port: int = 0, *, cpu: int | None = None, nice: int | None = None, **config: Any
) -> SimulatorProcess:
    """Start the simulator in a child process and wait until it answers; `config` as for
    `/_sim/config`; `cpu` pins the child to that core (Linux); `nice` sets its priority
    (a negative one, for a gateway that a busy test machine must not slow, needs root)."""
    return SimulatorProcess(host, port, config, cpu, nice)
