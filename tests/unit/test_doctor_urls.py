"""doctor prints store and broker URLs without their passwords, however the URL carries them."""

from __future__ import annotations

import pytest
from statuswatch_client.contract import safe_url


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


def test_the_client_shows_task_events_a_callback_url_without_its_secrets() -> None:
    """Flower and task events show a task's ``kwargsrepr``: the client masks callback URLs
    there, and sends the real URL in the arguments."""
    from statuswatch_client.client import Client

    sent: list[dict[str, object]] = []

    class App:
        def send_task(self, name: str, **options: object) -> None:
            sent.append({"name": name, **options})

    url = "https://hooks:s3cret@example.test/in?token=p@ss&x=1"
    Client(App()).track("wamm", "shop", "7", callback_url=url)
    Client(App()).track_many([{"provider": "wamm", "account": "shop", "msg_id": str(i), "callback_url": url}
                              for i in range(3)])  # fmt: skip
    single, bulk = sent
    assert single["kwargs"]["callback_url"] == url  # type: ignore[index]
    shown = str(single["kwargsrepr"])
    assert "https://hooks:***@example.test/in?token=***&x=***" in shown
    assert "s3cret" not in shown and "p@ss" not in shown
    assert bulk["kwargsrepr"] == repr({"items": "<3 requests>"})
