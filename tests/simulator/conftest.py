"""Fixtures for the simulator tests: a simulator on a hand-driven clock, an HTTP session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from worker.simulator import Clock, RunningSimulator, SimulatorClient, start_in_thread

#: 2023-11-14 22:13:20 UTC
START_S = 1_700_000_000.0


@pytest.fixture
def clock() -> Clock:
    """Frozen at START_S until a test advances it."""
    return Clock(start_s=START_S)


@pytest.fixture
def sim(clock: Clock) -> Iterator[RunningSimulator]:
    with start_in_thread(clock=clock) as running:
        yield running


@pytest.fixture
def control(sim: RunningSimulator) -> SimulatorClient:
    return sim.client


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # never through a proxy from the environment
        yield session
