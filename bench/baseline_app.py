"""The idiomatic Celery way to poll a rate-limited gateway, as the baseline of bench_limits.

One task per message: Celery's own ``rate_limit`` (per worker process, per task type, so
the fleet's rate is divided by hand among the workers and knows nothing of tokens), a
429 answered with ``self.retry(countdown=...)``, and a state that is not final polled again
with growing ``self.retry`` countdowns. Same Celery settings as statuswatch.
"""

from __future__ import annotations

import os
import time

import redis
import requests
from celery import Celery

from config import load_settings
from config.celery import CHECK_QUEUE, celery_settings

FINAL = {"viewed", "not sent", "failed", "noAccount", "deleted"}

app = Celery("bench-baseline")
app.config_from_object(celery_settings(load_settings()))
app.conf.task_routes = {"baseline.check": {"queue": CHECK_QUEUE, "routing_key": CHECK_QUEUE}}
store = redis.Redis.from_url(os.environ["STATUSWATCH_REDIS_URL"], decode_responses=True)
DONE_KEY = os.environ["BASELINE_DONE_KEY"]
session = requests.Session()
session.trust_env = False


@app.task(  # type: ignore[untyped-decorator]
    bind=True, name="baseline.check", rate_limit=os.environ["BASELINE_RATE_LIMIT"], max_retries=None
)
def check(self, base_url: str, token: str, msg_id: str, deadline: float, first_s: float, max_s: float) -> None:
    """Ask once; retry later unless the message is final or the deadline has passed."""
    reply = session.get(f"{base_url}/api2/msg_state/{token}/", params={"msg_id": msg_id}, timeout=10)
    if reply.status_code == 429:
        raise self.retry(countdown=1)
    state = reply.json().get("msg_data", {}).get("state", "")
    if state in FINAL or time.time() > deadline:
        store.hset(DONE_KEY, f"{token}:{msg_id}", state)
        return
    raise self.retry(countdown=min(first_s * 2**self.request.retries, max_s))
