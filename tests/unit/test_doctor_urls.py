"""doctor prints store and broker URLs without their passwords, however the URL carries them."""

from __future__ import annotations

import pytest

from worker.doctor import safe_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret-pw@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"),
        ("redis://app:s3cret-pw@127.0.0.1:6379/0", "redis://app:***@127.0.0.1:6379/0"),
        ("redis://s3cret-pw@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"),  # no colon: may be the password
        ("redis://127.0.0.1:6379/0?password=s3cret-pw", "redis://127.0.0.1:6379/0?password=***"),
        (
            "rediss://app@127.0.0.1:6380/1?ssl_cert_reqs=none&password=s3cret-pw",
            "rediss://***@127.0.0.1:6380/1?ssl_cert_reqs=***&password=***",
        ),
        ("unix:///run/redis.sock?db=2&password=s3cret-pw", "unix:///run/redis.sock?db=***&password=***"),
        ("amqp://guest:s3cret-pw@127.0.0.1:5672//", "amqp://guest:***@127.0.0.1:5672//"),
        ("redis://:p@ss?w@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"),  # '@' and '?' in the password
    ],
)
def test_safe_url_hides_every_password(url: str, shown: str) -> None:
    assert safe_url(url) == shown
    assert "s3cret" not in safe_url(url) and "p@ss" not in safe_url(url)
