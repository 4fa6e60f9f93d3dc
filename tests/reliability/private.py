"""A deployment on a private Redis (broker and store, a port of 6390-6399, data in a temporary
folder) with the simulator in a process of its own: the set-up of the chaos and soak runs."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.integration.conftest import wamm_accounts
from tests.integration.harness import Deployment
from tests.reliability.faults import RedisServer, take_port
from tests.reliability.scenario import stop
from worker.simulator import SimulatorClient, start_process


@contextlib.contextmanager
def private_deployment(
    name: str, settings: Mapping[str, str], latency_s: float, persistence: str = "everysec"
) -> Iterator[tuple[Deployment, SimulatorClient, RedisServer]]:
    """The deployment ``name`` (its WAMM account ``shop`` on the simulator), the simulator's
    client and the Redis server; everything stopped and removed on the way out."""
    with (
        tempfile.TemporaryDirectory(prefix=f"statuswatch-{name}-") as tmp,
        start_process(latency_s=latency_s) as sim,
    ):
        server = RedisServer(take_port(set()), Path(tmp) / "redis", persistence)
        server.start()
        try:
            env = {**settings, "STATUSWATCH_REDIS_URL": server.url, "STATUSWATCH_BROKER_URL": server.url}
            deployment = Deployment(Path(tmp), name, wamm_accounts(sim.url), **env)
            try:
                yield deployment, sim.client, server
            finally:
                stop(deployment)
        finally:
            server.stop()
