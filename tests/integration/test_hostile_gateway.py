"""A real worker and beat against a hostile WAMM (a loopback server): every tracker ends at
its deadline in a bounded, truthful state, nothing is followed elsewhere, no task fails."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.conftest import wamm_accounts
from tests.integration.harness import Deployment
from tests.stub import Seen, stub_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOKEN = "wamm-tok-hostile-e2e-91c4"
NESTED = b"[" * 100_000 + b"]" * 100_000


def test_a_hostile_gateway_ends_every_tracker_at_its_deadline_and_no_task_fails(
    tmp_path: Path, namespace: str
) -> None:
    seen_by_id: dict[str, int] = {}
    with stub_server(lambda seen: (200, {"err": 0, "msg_data": {"state": "viewed"}})) as elsewhere:

        def answer(seen: Seen) -> tuple[int, object] | tuple[int, object, dict[str, str]]:
            parts = urlsplit(seen.path)
            if "/msg_get_last/" in parts.path:
                return 200, {"err": "msgs not be"}
            msg_id = parse_qs(parts.query).get("msg_id", [""])[0]
            seen_by_id[msg_id] = seen_by_id.get(msg_id, 0) + 1
            if msg_id == "1":
                return 200, NESTED  # RecursionError out of the check before
            if msg_id == "2":
                return 307, b"", {"Location": f"{elsewhere.url}/api2/msg_state/{TOKEN}/?msg_id=2"}
            if msg_id == "3":
                return 200, {"err": 0, "msg_data": {"msg_id": "999", "state": "viewed"}}  # another message
            if msg_id == "4":
                return 200, {"err": "Internal Server Error"}  # an err nobody documents
            if msg_id == "5":  # shown as delivered, then "not found" for ever
                state = {"err": 0, "msg_data": {"msg_id": "5", "state": "delivered"}}
                return 200, state if seen_by_id["5"] == 1 else {"err": "msg not be"}
            return 200, {"err": 0, "msg_data": {"msg_id": msg_id, "state": "\x1b[2J" + "z" * 500_000}}

        with stub_server(answer) as gateway:
            deployment = Deployment(
                tmp_path, namespace, wamm_accounts(gateway.url, TOKEN), STATUSWATCH_NOT_FOUND_GRACE_S="0"
            )
            try:
                ids = ["1", "2", "3", "4", "5", "6"]
                for msg_id in ids:
                    deployment.track(provider="wamm", account="shop", msg_id=msg_id, expires_in=4)
                deployment.start_worker("w1")
                deployment.start_beat()
                deployment.wait_all_finished(len(ids), timeout_s=40)
                trackers = deployment.trackers("wamm", "shop", ids)
                stats = deployment.fleet.stats()
                log = deployment.log("w1")
            finally:
                deployment.stop()
    assert {m: t.outcome.value for m, t in trackers.items()} == dict.fromkeys(ids, "timed_out")
    assert {m: t.state.value for m, t in trackers.items()} == {**dict.fromkeys(ids, "pending"), "5": "delivered"}
    assert all(t.errors >= 1 for m, t in trackers.items() if m != "6")
    assert "999" in trackers["3"].fields["error"] and "HTTP 307" in trackers["2"].fields["error"]
    assert len(trackers["6"].raw_state) == 200
    assert elsewhere.requests == []
    assert all(seen_by_id[m] >= 2 for m in ids)  # each was checked again, with backoff, until its deadline
    assert stats.get("errors:unexpected", 0) == 0 and "Traceback" not in log
