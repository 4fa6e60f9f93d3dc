"""A local simulator of the WAMM.chat, WBizTool and GREEN-API status endpoints (and WBizTool's
send, for its daily limit), for tests, demos and benchmarks: one asyncio HTTP/1.1 server
speaking the three gateway APIs as their public documentation describes them (the sources
are named in each of ``worker/providers/``' adapters and ``gateways/`` here), plus a JSON control API under
`/_sim/`.

    with start_in_thread(latency_s=0.05) as sim:
        sim.client.add_messages([{"provider": "wamm", "credential": "TOKEN", "msg_id": "1",
                                  "life": [["sent", 0], ["delivered", 2], ["viewed", 5]]}])
        requests.get(f"{sim.url}/api2/msg_state/TOKEN/1")

Control API:
    POST /_sim/messages  {"messages": [...]}  -> {"added": n}
    POST /_sim/config    merge of settings    -> {"config": {...}}   (GET reads it)
    GET  /_sim/stats                          -> totals, per credential, max per second, ...
    POST /_sim/reset     forget messages, accounts, stats and config
    POST /_sim/clock     {"advance_s": s}     -> {"now": epoch_s}    (move time forward)
    GET  /_sim/health
    GET  /_sim/push                           -> the pushes: queued, answered:<status>, faults drawn

Account states in /_sim/config (a change replaces that key's whole value):
    revoked, unauthorized, quota_exceeded, correspondents_exceeded: [credential, ...]
    refusals: {api_key: "Invalid whatsapp client" | "Higher Subscription Required" | "Auth Error 2"}
    daily_send_limit: {api_key: messages WBizTool's /send_msg/ accepts per UTC day, then 429}

Pushes (`push.py`; set before the messages are added): push {credential: {url, token}},
notifications [GREEN-API idInstance], push_duplicate, push_reorder, push_unknown, push_resend
(shares of pushes), push_resend_s, push_attempts, push_reorder_s, push_timeout_s,
notification_wait_max_s.
"""

from .app import Simulator
from .client import SimulatorClient, SimulatorError
from .model import Clock
from .process import SimulatorProcess, start_process
from .server import RunningSimulator, serve, start_in_thread

__all__ = [
    "Clock",
    "RunningSimulator",
    "Simulator",
    "SimulatorClient",
    "SimulatorError",
    "SimulatorProcess",
    "serve",
    "start_in_thread",
    "start_process",
]
