import pytest

from config import PollPolicy
from worker.schedule import error_backoff_s, next_check_delay_s

POLICY = PollPolicy(first_s=2.0, factor=2.0, max_s=60.0, jitter=0.1)


@pytest.mark.parametrize(
    ("checks", "draw", "expected"),
    [
        (0, 0.5, 2.0), (1, 0.5, 4.0), (4, 0.5, 32.0), (5, 0.5, 60.0), (500, 0.5, 60.0),
        (0, 0.0, 1.8), (0, 1.0, 2.2), (5, 0.0, 54.0),
    ],
)  # fmt: skip
def test_next_check_delay(checks: int, draw: float, expected: float) -> None:
    assert next_check_delay_s(checks, POLICY, draw) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("errors", "draw", "expected"),
    [(1, 1.0, 5.0), (2, 1.0, 10.0), (3, 0.0, 10.0), (10, 1.0, 60.0), (1, 0.0, 2.5)],
)
def test_error_backoff(errors: int, draw: float, expected: float) -> None:
    assert error_backoff_s(errors, 5.0, 60.0, draw) == pytest.approx(expected)
