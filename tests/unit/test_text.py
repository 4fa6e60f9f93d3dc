"""worker/text.py: gateway text cut to a bound, and made harmless for a terminal; and the
CLI's `status`, which prints gateway text, through it."""

from __future__ import annotations

import pytest
import redis

from worker.keys import Keys
from worker.states import Observation, State
from worker.store import Store
from worker.text import MAX_CHARS, clip, printable
from worker.tracking import parse_track_request

HOSTILE = "sent\x1b[2J\x1b]0;owned\x07\r\x9b31m\u202etxt.exe\x00"


def test_clip() -> None:
    assert clip("short") == "short"
    assert clip("x" * MAX_CHARS) == "x" * MAX_CHARS
    assert clip("x" * 5_000_000) == "x" * (MAX_CHARS - 1) + "…"


def test_printable_escapes_control_and_bidi_characters_only() -> None:
    shown = printable(HOSTILE)
    assert shown == "sent\\x1b[2J\\x1b]0;owned\\x07\\x0d\\x9b31m\\u202etxt.exe\\x00"
    assert all(c.isprintable() for c in shown)
    for text in ("delivered", "доставлено", "已读 ✓✓", "not sent", "👍🏽"):
        assert printable(text) == text


def test_status_prints_a_gateways_escape_sequences_escaped(
    real_redis: redis.Redis, namespace: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from worker.cli import main

    store = Store(real_redis, Keys(namespace), retention_s=60)
    request = parse_track_request({"provider": "wamm", "account": "shop", "msg_id": "1001"}, None, 3600)
    store.register("wamm:shop:1001", request, State.READ, 0)
    store.observe("wamm:shop:1001", Observation(State.SENT, HOSTILE), ceiling=State.READ, next_delay_s=60)
    monkeypatch.setenv("STATUSWATCH_NAMESPACE", namespace)
    assert main(["status", "wamm", "shop", "1001"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out and "\u202e" not in out
    assert out.count("sent\\x1b[2J") == 2  # the raw state, and its history entry
