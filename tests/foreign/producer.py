"""Another service's producer: a plain Celery app that knows statuswatch only by its contract.

Run as a separate process (``python -I producer.py``) with a JSON plan on stdin:
``{"broker": URL, "routes": bool, "sends": [{"task": NAME, "kwargs": {...}, "queue": Q|null}]}``.
It imports nothing of statuswatch, and says so before it exits.
"""

import json
import sys

from celery import Celery

plan = json.load(sys.stdin)
app = Celery("another-service", broker=plan["broker"])
if plan.get("routes"):
    # the one line docs/contract.md gives a producer instead of queue= on every call
    app.conf.task_routes = {"statuswatch.*": {"queue": "statuswatch.track"}}
for send in plan["sends"]:
    options = {"queue": send["queue"]} if send.get("queue") else {}
    app.send_task(send["task"], args=send.get("args"), kwargs=send.get("kwargs"), **options)

ours = sorted(m for m in sys.modules if m.split(".")[0] in {"config", "tasks", "worker", "statuswatch_client"})
print(json.dumps({"sent": len(plan["sends"]), "statuswatch_modules": ours}))
