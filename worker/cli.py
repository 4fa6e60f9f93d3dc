"""The ``statuswatch`` command line: the top of the house (it may import everything).

statuswatch track PROVIDER ACCOUNT MSG_ID [--until read] [--expires-in S] [--chat-id C] [--json]
statuswatch untrack PROVIDER ACCOUNT MSG_ID [--json]
statuswatch status PROVIDER ACCOUNT MSG_ID... [--json]
statuswatch events [--count N] [--follow] [--json] [--group G --consumer C [--from-start]]
statuswatch rejected [--count N] [--json]
statuswatch stats [--json]
statuswatch doctor [--json]
statuswatch metrics [--host H] [--port P] [--once]
statuswatch demo [--messages N] [--workers N]
statuswatch up [--simulator] [--workers N]
statuswatch webhooks [--host H] [--port P]
statuswatch notifications
statuswatch simulate [--host H] [--port P]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from config import ConfigError, load_settings
from worker.embedded import EmbeddedRedisError
from worker.inspection import cmd_events, cmd_rejected, cmd_stats, cmd_status, load_engine
from worker.states import TARGETS


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except (ConfigError, ValueError) as exc:
        print(f"statuswatch: {exc}", file=sys.stderr)
        return 2
    except EmbeddedRedisError as exc:
        print(f"statuswatch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # Redis or the broker unreachable, mostly: one line, never a traceback
        print(f"statuswatch: {_unreachable(exc)}", file=sys.stderr)
        return 1
    return result


def _unreachable(exc: BaseException) -> str:
    """One line for an error of a service the command talks to (no URL password, no traceback)."""
    from redis.exceptions import RedisError
    from statuswatch_client.contract import safe_url

    text = " ".join(str(exc).split())[:300]
    try:
        settings = load_settings()
    except ConfigError:
        return f"{type(exc).__name__}: {text}"
    if isinstance(exc, RedisError):
        return f"Redis at {safe_url(settings.redis_url)}: {type(exc).__name__}: {text}"
    if type(exc).__module__.startswith(("kombu", "amqp")) or isinstance(exc, OSError):
        return f"broker at {safe_url(settings.broker_url)}: {type(exc).__name__}: {text}"
    return f"{type(exc).__name__}: {text}"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="statuswatch", description="Message delivery-status tracker.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    _add_tracking(sub)
    _add_inspection(sub)
    _add_running(sub)
    return parser


def _add_tracking(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands that enqueue track and untrack requests."""
    p = sub.add_parser("track", help="validate and enqueue one track request")
    p.add_argument("provider")
    p.add_argument("account")
    p.add_argument("msg_id")
    p.add_argument("--until", choices=[t.value for t in TARGETS], default="read")
    p.add_argument("--expires-in", type=float, help="tracking deadline, seconds from now")
    p.add_argument("--chat-id", help="GREEN-API chat id (getMessage needs it)")
    p.add_argument("--kind", choices=["message", "status_post"])
    p.add_argument("--callback-url")
    p.add_argument("--callback-task")
    p.add_argument("--meta", type=json.loads, help="a small JSON object kept with the tracker")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_track)

    p = sub.add_parser("untrack", help="stop tracking a message (its tracker ends cancelled)")
    p.add_argument("provider")
    p.add_argument("account")
    p.add_argument("msg_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_untrack)


def _add_inspection(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands that read the store (``worker.inspection``)."""
    p = sub.add_parser("status", help="state, outcome and history of tracked messages")
    p.add_argument("provider")
    p.add_argument("account")
    p.add_argument("msg_ids", nargs="+", metavar="MSG_ID")
    p.add_argument("--json", action="store_true", help="one JSON object per line per id")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("events", help="the stream of state changes")
    p.add_argument("--count", type=_positive, default=20)
    p.add_argument("--follow", action="store_true", help="keep printing new events")
    p.add_argument("--json", action="store_true")
    p.add_argument("--group", help="read as a consumer of this group (created if needed), acknowledging each")
    p.add_argument("--consumer", help="the consumer's name within --group")
    p.add_argument("--from-start", action="store_true", help="a new group starts at the oldest entry, not the next")
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("rejected", help="track requests the worker refused, newest first")
    p.add_argument("--count", type=_positive, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_rejected)

    p = sub.add_parser("stats", help="active trackers and the due schedule")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)


def _add_running(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands that check or run a deployment, or parts of one."""
    p = sub.add_parser("doctor", help="check settings, accounts, Redis, broker and every account's credentials")
    p.add_argument("--json", action="store_true", help="one JSON object per verdict, then the verdict")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("demo", help="run simulator, worker and beat; track messages; watch them settle")
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--deadline", type=float, default=30.0, help="tracking deadline of each message, s")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("up", help="run Redis (a private one if none answers), worker and beat until Ctrl-C")
    p.add_argument("--simulator", action="store_true", help="also run the gateway simulator, with an account on it")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("metrics", help="serve the fleet's Prometheus metrics (one process per deployment)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    p.add_argument("--port", type=int, default=9808, help="port of /metrics (default 9808)")
    p.add_argument("--once", action="store_true", help="print one scrape to stdout and exit")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("webhooks", help="receive the gateways' pushes (GREEN-API, WAMM.chat webhooks)")
    p.add_argument("--host", help="address (default STATUSWATCH_WEBHOOKS_ADDRESS, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default STATUSWATCH_WEBHOOKS_PORT, 8080)")
    p.set_defaults(func=cmd_webhooks)
    p = sub.add_parser("notifications", help="read GREEN-API notification queues (receiveNotification)")
    p.set_defaults(func=cmd_notifications)

    p = sub.add_parser("simulate", help="run the local gateway simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8900)
    p.set_defaults(func=cmd_simulate)


def cmd_track(args: argparse.Namespace) -> int:
    from tasks import track

    options = {
        "until": args.until, "expires_in": args.expires_in, "chat_id": args.chat_id, "kind": args.kind,
        "callback_url": args.callback_url, "callback_task": args.callback_task, "meta": args.meta,
    }  # fmt: skip
    tid = track(args.provider, args.account, args.msg_id, **{k: v for k, v in options.items() if v is not None})
    print(json.dumps({"tracker": tid, "enqueued": True}) if args.json else f"enqueued {tid}")
    return 0


def cmd_untrack(args: argparse.Namespace) -> int:
    from tasks import untrack

    tid = untrack(args.provider, args.account, args.msg_id)
    print(json.dumps({"tracker": tid, "enqueued": True}) if args.json else f"enqueued the end of {tid}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from worker.doctor import diagnose

    def connect_broker(settings: Any) -> None:
        from celery import Celery

        from config.celery import celery_settings

        app = Celery("statuswatch-doctor", set_as_current=False)
        app.config_from_object(celery_settings(settings))
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=5)

    failed = False
    for verdict in diagnose(connect_broker):
        print(json.dumps(dataclasses.asdict(verdict)) if args.json else verdict, flush=True)
        failed |= verdict.level == "FAIL"
    ready = "NOT READY" if failed else "ready"
    print(json.dumps({"verdict": ready}) if args.json else f"verdict: {ready}")
    return 1 if failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from worker.demo import run_demo

    if args.messages < 1 or args.workers < 1:
        raise ValueError("--messages and --workers must be at least 1")
    return _stopping_on_signals(lambda: run_demo(args.messages, args.deadline, args.workers))


def cmd_up(args: argparse.Namespace) -> int:
    from worker.up import run_up

    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    return _stopping_on_signals(lambda: run_up(args.workers, args.simulator))


def _stopping_on_signals(run: Callable[[], int]) -> int:
    """Run ``run`` so that SIGINT, SIGTERM or SIGHUP unwind it, its clean-up stopping what it
    started, and later signals do not cut that clean-up short; 128 + the signal on a signal."""
    caught: list[int] = []

    def unwind(signum: int, frame: object) -> None:
        if not caught:
            caught.append(signum)
            raise KeyboardInterrupt

    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, unwind) for signum in stops}
    try:
        return run()
    except KeyboardInterrupt:
        signum = caught[0] if caught else signal.SIGINT
        name = signal.Signals(signum).name
        print(f"\nstatuswatch: stopped by {name}; everything it started has exited", file=sys.stderr)
        return 128 + signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def cmd_metrics(args: argparse.Namespace) -> int:
    from worker import metrics

    engine = load_engine()
    if args.once:
        sys.stdout.write(metrics.render(engine))
        return 0
    server = metrics.serve(engine, args.host, args.port)
    print(f"metrics on http://{args.host}:{server.server_port}/metrics (Ctrl-C stops it)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        server.shutdown()


def cmd_webhooks(args: argparse.Namespace) -> int:
    from worker.push.process import run_webhooks

    return run_webhooks(args.host, args.port)


def cmd_notifications(args: argparse.Namespace) -> int:
    from worker.push.process import run_notifications

    return run_notifications()


def cmd_simulate(args: argparse.Namespace) -> int:
    from worker.simulator import serve

    def ready(port: int) -> None:
        print(f"simulator on http://{args.host}:{port} (Ctrl-C stops it)", flush=True)

    serve(args.host, args.port, ready=ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
