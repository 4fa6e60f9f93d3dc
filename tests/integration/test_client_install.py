"""The Python client installs on its own and collides with nothing: a fresh venv with only
``client/`` installed, in a service that has its own ``config.py``, enqueues requests that a
real worker registers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.harness import Deployment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

CLIENT = Path(__file__).resolve().parents[2] / "client"

SERVICE = '''
import importlib.util, json, sys
import config                                   # the service's own module of that name
from statuswatch_client import Client

client = Client(broker_url=config.BROKER_URL, transport_options={"global_keyprefix": config.PREFIX})
if sys.argv[1:] == ["untrack"]:
    print(json.dumps({"untracked": client.untrack("wamm", "shop", 1)}))
    sys.exit(0)
ids = client.track_many([{"provider": "wamm", "account": "shop", "msg_id": n} for n in range(1, 2501)])
one = client.track("wamm", "shop", 5000, until="delivered", meta={"order": 42})
try:
    client.track_many([{"provider": "wamm", "account": "shop", "msg_id": 9007}, {"provider": "wamm", "msg_id": 9008}])
    refused = None
except ValueError as exc:
    refused = str(exc)
print(json.dumps({
    "config": config.__file__, "ids": len(ids), "one": one, "refused": refused,
    "worker": importlib.util.find_spec("worker") is not None,
    "tasks": importlib.util.find_spec("tasks") is not None,
}))
'''


def run(python: Path, service: Path, *args: str) -> dict[str, object]:
    ran = subprocess.run([str(python), "app.py", *args], cwd=service, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr[-3000:]
    report: dict[str, object] = json.loads(ran.stdout.splitlines()[-1])
    return report


def test_the_client_alone_in_a_service_with_its_own_config(tmp_path: Path, deployment: Deployment) -> None:
    source = tmp_path / "client"  # a copy: building in place would write into the checkout
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{source}[redis]"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]

    service = tmp_path / "service"
    service.mkdir()
    prefix = deployment.settings.broker_key_prefix
    (service / "config.py").write_text(f"BROKER_URL = {deployment.settings.broker_url!r}\nPREFIX = {prefix!r}\n")
    (service / "app.py").write_text(textwrap.dedent(SERVICE))
    report = run(python, service)
    assert report["config"] == str(service / "config.py")
    assert (report["worker"], report["tasks"]) == (False, False)
    assert (report["ids"], report["one"]) == (2500, "wamm:shop:5000")
    assert str(report["refused"]).startswith("items[1]: account:")

    deployment.start_worker("w1")
    deployment.wait_ready(["w1"])
    deployment.wait_for(lambda: deployment.tracked() == 2501, timeout_s=60, what="2,501 trackers registered")
    assert deployment.store.get("wamm:shop:9007") is None  # the refused bulk sent nothing, not even item 0
    assert run(python, service, "untrack") == {"untracked": "wamm:shop:1"}
    deployment.wait_for(
        lambda: (t := deployment.store.get("wamm:shop:1")) is not None and t.outcome.value == "cancelled",
        timeout_s=30, what="the untracked message cancelled",
    )  # fmt: skip
    stored = deployment.store.get("wamm:shop:5000")
    assert stored is not None and stored.until.value == "delivered"
    assert json.loads(stored.fields["meta"]) == {"order": 42}
