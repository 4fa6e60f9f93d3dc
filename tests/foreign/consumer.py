"""Another service's callback task: a plain Celery worker that knows statuswatch only by its
contract (docs/contract.md, "Callback tasks"). Run as ``python -I consumer.py BROKER PREFIX
QUEUE OUT`` (no PYTHONPATH, no current directory): with the deployment's broker key prefix
PREFIX ("" for none) it consumes QUEUE with one thread and appends each event it gets to
OUT, one JSON line each. It imports nothing of statuswatch."""

import json
import sys

from celery import Celery

broker, prefix, queue, out = sys.argv[1:5]
app = Celery("billing", broker=broker)
if prefix:
    app.conf.broker_transport_options = {"global_keyprefix": prefix}
app.conf.accept_content = ["json"]
app.conf.worker_hijack_root_logger = False


@app.task(name="billing.on_status")
def on_status(event):
    with open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")


ours = sorted(m for m in sys.modules if m.split(".")[0] in {"config", "tasks", "worker", "statuswatch_client"})
assert not ours, ours
app.worker_main(["worker", "-Q", queue, "-P", "solo", "-c", "1", "-l", "WARNING", "--without-heartbeat",
                 "--without-gossip", "--without-mingle", "-n", f"billing-{queue}@%h"])
