from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Deployment
from worker.local import AccountTables
from worker.simulator import SimulatorClient, start_in_thread

WAMM_TOKEN = "wamm-tok-3f9c1a7e5b"


def wamm_accounts(url: str, token: str = WAMM_TOKEN) -> AccountTables:
    return {"shop": {"provider": "wamm", "token": token, "base_url": url}}


@pytest.fixture
def simulator() -> Iterator[SimulatorClient]:
    with start_in_thread() as running:
        yield SimulatorClient(running.url)


@pytest.fixture
def deployment(tmp_path: Path, namespace: str, simulator: SimulatorClient) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path, namespace, wamm_accounts(simulator.url))  # type: ignore[attr-defined]
    yield deployment
    deployment.stop()
