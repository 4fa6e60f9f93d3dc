"""``statuswatch doctor`` gives one verdict per line and fails on what would break tracking."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL
from worker.local import write_accounts
from worker.simulator import SimulatorClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", "doctor"],
        env={**os.environ, "STATUSWATCH_REDIS_URL": REDIS_URL, **env},
        capture_output=True,
        text=True,
        timeout=50,
    )


def test_doctor_checks_every_account_with_one_cheap_call(tmp_path: Path, simulator: SimulatorClient) -> None:
    url = simulator.url
    simulator.configure(
        credentials=[
            "good-wamm-tok",
            "bad-wamm-tok",
            {"provider": "wbiztool", "credential": "wbiz-key", "client_id": 5, "name": "Shop"},
            {"provider": "greenapi", "credential": "1101000001", "api_token": "green-tok"},
        ],
        revoked=["bad-wamm-tok"],
    )
    accounts = write_accounts(
        tmp_path / "accounts.toml",
        {
            "good": {"provider": "wamm", "token": "good-wamm-tok", "base_url": url},
            "bad": {"provider": "wamm", "token": "bad-wamm-tok", "base_url": url},
            "billing": {"provider": "wbiztool", "client_id": 5, "api_key": "wbiz-key", "base_url": url},
            "support": {"provider": "greenapi", "id_instance": "1101000001", "api_token_instance": "green-tok",
                        "api_url": url},
        },
    )  # fmt: skip
    result = doctor({"STATUSWATCH_ACCOUNTS_FILE": str(accounts)})
    lines = result.stdout.splitlines()
    verdicts = {line[6:29].strip(): line[:4].strip() for line in lines if line[:4].strip() in ("ok", "warn", "FAIL")}
    assert verdicts["account good"] == "ok"
    assert verdicts["account bad"] == "FAIL"
    assert verdicts["account billing"] == "ok"
    assert verdicts["account support"] == "ok"
    assert verdicts["redis"] == "ok" and verdicts["broker"] == "ok"
    assert result.returncode == 1 and lines[-1] == "verdict: NOT READY"
    assert "bad-wamm-tok" not in result.stdout + result.stderr
    counts = simulator.stats()["by_credential"]
    assert counts["good-wamm-tok"] == {"msg_state": 1}


def test_doctor_names_a_bad_setting() -> None:
    result = doctor({"STATUSWATCH_LEASE_S": "soon"})
    assert result.returncode == 1
    assert "STATUSWATCH_LEASE_S" in result.stdout


@pytest.mark.parametrize(
    ("state", "level", "says"),
    [
        ({"stateInstance": "authorized"}, "ok", "instance authorized"),
        ({"stateInstance": "starting"}, "warn", "not ready yet"),  # can last minutes
        ({"stateInstance": "sleepMode"}, "warn", "not ready yet"),
        (None, "warn", "not ready yet"),  # the body while the instance is being created
        ({"stateInstance": "notAuthorized"}, "FAIL", "not authorized"),
        ({"stateInstance": "blocked"}, "FAIL", "blocked"),
        ({"stateInstance": "yellowCard"}, "FAIL", "yellowCard"),
        ({"stateInstance": "brand-new"}, "FAIL", "brand-new"),
    ],
)
def test_doctor_tells_a_greenapi_instance_not_ready_yet_from_a_broken_one(
    tmp_path: Path, state: object, level: str, says: str
) -> None:
    """getStateInstance (GREEN-API's GetStateInstance page): `starting` (up to 5 minutes) and `sleepMode` are not
    bad credentials; doctor warns and, with nothing else wrong, exits 0."""
    from tests.stub import stub_server

    with stub_server(lambda seen: (200, state)) as gateway:
        support = {"provider": "greenapi", "id_instance": "1101000001", "api_token_instance": "green-doctor-tok",
                   "api_url": gateway.url}  # fmt: skip
        accounts = write_accounts(tmp_path / "accounts.toml", {"support": support})
        result = doctor({"STATUSWATCH_ACCOUNTS_FILE": str(accounts)})
    [line] = [line for line in result.stdout.splitlines() if "account support" in line]
    assert line.startswith(level) and says in line, line
    failed = any(line.startswith("FAIL") for line in result.stdout.splitlines())
    assert result.returncode == (1 if failed else 0)
    if level != "FAIL":
        assert not failed and result.stdout.splitlines()[-1] == "verdict: ready"


@pytest.mark.parametrize("form", ["?password=", ":@"])
def test_doctor_never_prints_the_redis_password(form: str) -> None:
    password = "redis-pw-4f1e0c"
    url = f"{REDIS_URL}?password={password}" if form == "?password=" else REDIS_URL.replace("://", f"://:{password}@")
    result = doctor({"STATUSWATCH_REDIS_URL": url, "STATUSWATCH_BROKER_URL": url})
    assert "redis" in result.stdout and password not in result.stdout + result.stderr
