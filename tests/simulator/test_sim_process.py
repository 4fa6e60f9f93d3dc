"""The simulator as a child process (`python -m worker.simulator`) and its clean shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from worker.simulator import start_process
from worker.simulator.process import PACKAGE_ROOT

pytestmark = pytest.mark.timeout(30)


def test_start_process_serves_with_its_config_and_stops_on_sigterm():
    with start_process(rate_limits={"wamm": 1}, credentials=["T"]) as sim:
        with requests.Session() as http:
            http.trust_env = False
            codes = [http.get(f"{sim.url}/api2/msg_get_last/T/1").status_code for _ in range(2)]
        assert codes == [200, 429]
        assert sim.client.stats()["total"] == 2
    assert sim.process.returncode == 0


def test_the_cli_writes_its_port_and_exits_cleanly_on_sigint(tmp_path):
    port_file = tmp_path / "port"
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "worker.simulator", "--port", "0", "--port-file", str(port_file)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()  # printed once the port file is written
        port = int(port_file.read_text())
        assert line.strip().endswith(f"http://127.0.0.1:{port}")
        child.send_signal(signal.SIGINT)
        started = time.monotonic()
        assert child.wait(10) == 0
        assert time.monotonic() - started < 5
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
