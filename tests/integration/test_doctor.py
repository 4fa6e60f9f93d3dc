"""``statuswatch doctor`` gives one verdict per line and fails on what would break tracking."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL
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
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        f'[accounts.good]\nprovider = "wamm"\ntoken = "good-wamm-tok"\nbase_url = "{url}"\n'
        f'[accounts.bad]\nprovider = "wamm"\ntoken = "bad-wamm-tok"\nbase_url = "{url}"\n'
        f'[accounts.billing]\nprovider = "wbiztool"\nclient_id = 5\napi_key = "wbiz-key"\nbase_url = "{url}"\n'
        f'[accounts.support]\nprovider = "greenapi"\nid_instance = "1101000001"\n'
        f'api_token_instance = "green-tok"\napi_url = "{url}"\n'
    )
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
