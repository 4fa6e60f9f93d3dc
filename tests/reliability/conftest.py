"""The reliability suite runs on the integration tests' deployment and simulator."""

from tests.integration.conftest import deployment, simulator

__all__ = ["deployment", "simulator"]
