"""`python -m worker.simulator --host 127.0.0.1 --port 0 --port-file PATH [--config JSON]`:
serve until SIGTERM/SIGINT; print the URL and write the bound port to PATH once listening."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .server import serve


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m worker.simulator", description="Local WAMM / WBizTool / GREEN-API simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument(
        "--config", type=_config, default={}, help="JSON object as for POST /_sim/config, or @path to a JSON file"
    )
    parser.add_argument("--cpu", type=int, help="pin the process to this core (Linux)")
    parser.add_argument(
        "--nice", type=int, help="run at this nice value (below 0 needs root): a gateway on a machine of its own"
    )
    return parser.parse_args(argv)


def _config(text: str) -> dict[str, Any]:
    if text.startswith("@"):
        with open(text[1:]) as file:
            text = file.read()
    config = json.loads(text)
    if not isinstance(config, dict):
        raise argparse.ArgumentTypeError("--config must be a JSON object")
    return config


def _write_port(path: str, port: int) -> None:
    """Write atomically: a reader never sees a half-written file."""
    partial = f"{path}.tmp"
    with open(partial, "w") as file:
        file.write(str(port))
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if args.nice is not None:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)

    def ready(port: int) -> None:
        if args.port_file:
            _write_port(args.port_file, port)
        print(f"statuswatch simulator listening on http://{args.host}:{port}", flush=True)

    serve(args.host, args.port, args.config, ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
