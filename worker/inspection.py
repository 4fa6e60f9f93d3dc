"""The CLI's inspection commands: ``status``, ``events``, ``rejected``, ``stats``.

They read; nothing here writes to Redis. Trackers come from the store, everything else
from ``worker.fleet.Fleet``. ``worker.cli`` holds the parser that calls them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from config import load_settings
from worker.events import event_object
from worker.fleet import Fleet
from worker.groups import EventGroup
from worker.keys import tracker_id
from worker.notify.notifier import delivery_state
from worker.text import printable


def load_engine() -> Any:
    from worker.runtime import Engine

    return Engine.from_settings(load_settings())


def fleet_of(engine: Any) -> Fleet:
    return Fleet(engine.store.redis, engine.store.keys)


def cmd_status(args: argparse.Namespace) -> int:
    engine = load_engine()
    ids = [tracker_id(args.provider, args.account, str(m).strip()) for m in args.msg_ids]
    missing = 0
    for tid, tracker in zip(ids, engine.store.get_many(ids), strict=True):
        msg_id = tid.split(":", 2)[2]
        if tracker is None:
            missing += 1
            record = {"provider": args.provider, "account": args.account, "msg_id": msg_id, "error": "not tracked"}
            print(json.dumps(record) if args.json else f"{msg_id}: not tracked (or retention passed)")
            continue
        data = tracker.as_json()
        delivery = delivery_state(engine.store.redis, engine.store.keys, tid)
        if delivery is not None:
            data["delivery"] = delivery
        if args.json:
            print(json.dumps(data, separators=(",", ":")))
            continue
        why = "".join(f", {k} {printable(data[k])}" for k in ("reason", "error") if data.get(k))
        raw = printable(data["raw_state"]) or "-"  # gateway text: no escape sequence reaches the terminal
        print(f"{msg_id}: {data['state']} (raw {raw}), {data['outcome']}, until {data['until']}{why}")
        for entry in data["history"]:
            print(f"  {_when(entry['at'])}  {entry['state']:<9} {printable(entry['raw_state'])}")
    return 1 if missing == len(ids) else 0


def cmd_events(args: argparse.Namespace) -> int:
    if args.group or args.consumer:
        return _group_events(args)
    for entry in fleet_of(load_engine()).tail_events(args.count, follow=args.follow):
        _print_event(event_object(entry["id"], entry), args.json)
    return 0


def _group_events(args: argparse.Namespace) -> int:
    """``events --group G --consumer C``: read as that consumer, print, acknowledge."""
    if not (args.group and args.consumer):
        print("statuswatch events: --group and --consumer go together", file=sys.stderr)
        return 2
    engine = load_engine()
    group = EventGroup(engine.store.redis, engine.store.keys, args.group, args.consumer,
                       start="0" if args.from_start else "$")  # fmt: skip
    while True:
        events = group.read(args.count, block_ms=1000 if args.follow else None)
        for event in events:
            _print_event(event, args.json)
        group.ack(e["event_id"] for e in events)
        if not args.follow:
            return 0


def _print_event(event: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(event, separators=(",", ":")), flush=True)
        return
    at = _when(event["observed_at"] or 0.0)
    print(f"{at}  {event['tracker']}  {event['previous']} -> {event['state']}  ({event['outcome']})", flush=True)


def cmd_rejected(args: argparse.Namespace) -> int:
    for entry in fleet_of(load_engine()).rejected(args.count):
        task = f"{entry.get('task', 'track')} {entry.get('task_id', '')}".strip()
        print(json.dumps(entry) if args.json else f"{entry['id']}  {task}  {entry['reason']}  {entry['request']}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    engine = load_engine()
    fleet = fleet_of(engine)
    stats: dict[str, Any] = {
        "active": fleet.active_counts(),
        "due": fleet.due_count(),
        "dispatch_lag_s": round(fleet.dispatch_lag_s(), 3),
        "counters": fleet.stats(),
        "per_s": rates(fleet.rollups(count=2), engine.settings.housekeeping_every_s),
    }
    if args.json:
        print(json.dumps(stats))
        return 0
    print(f"due trackers: {stats['due']}   dispatch lag: {stats['dispatch_lag_s']} s")
    if stats["per_s"]:
        print("last rollup period: " + ", ".join(f"{v:g} {k}/s" for k, v in stats["per_s"].items()))
    for group, count in sorted(stats["active"].items()):
        print(f"  {group:<40} {count:>8} active")
    for name, count in sorted(stats["counters"].items()):
        print(f"  {name:<40} {count:>8}")
    return 0


def rates(rollups: list[dict[str, str]], period_s: float) -> dict[str, float]:
    """Checks, gateway requests and finished trackers per second between the two newest
    housekeeping snapshots (empty until there are two)."""
    if len(rollups) < 2:
        return {}
    new, old = rollups
    seconds = (int(new["period"]) - int(old["period"])) * period_s

    def total(row: dict[str, str], prefix: str) -> int:
        return sum(int(v) for k, v in row.items() if k == prefix or k.startswith(prefix + ":"))

    return {
        name: round((total(new, prefix) - total(old, prefix)) / seconds, 2)
        for name, prefix in (("checks", "checks"), ("requests", "requests"), ("finished", "finished"))
    }


def _when(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_s)) + f".{int(epoch_s * 1000) % 1000:03d}Z"
