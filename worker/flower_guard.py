"""Flower listens on loopback unless told otherwise, and never elsewhere without a password.

Flower shows every task and can revoke them or shut workers down, and its default address
is every interface. ``celery -A worker flower`` imports this app before it runs the
``flower`` command, so ``app.py`` calls :func:`guard_flower_command`, which wraps that
command: Flower's own option parsing runs first (``FLOWER_*`` environment variables,
``flowerconfig.py``, then the command line, in Flower's order), then the address Flower
would bind is checked before it binds anything. Off loopback, Flower starts only with basic
auth credentials from the environment (``FLOWER_BASIC_AUTH``, Flower's own variable), never
from the command line, where ``ps`` shows them to every user of the machine.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

#: where Flower listens when neither --address, FLOWER_ADDRESS nor flowerconfig.py says
LOOPBACK = "127.0.0.1"
#: the variable that must hold ``user:password[,user:password...]`` off loopback
AUTH_ENV = "FLOWER_BASIC_AUTH"
#: exit code of a refused start (a usage error: nothing was started)
REFUSED_EXIT = 2


def guard_flower_command() -> None:
    """When this process is ``celery ... flower``, check Flower's address before it starts.

    A no-op anywhere else (worker, beat, the statuswatch CLI, tests): the Celery command line
    is a click group whose chosen subcommand is known while it loads the app.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.invoked_subcommand != "flower" or not isinstance(ctx.command, click.Group):
        return
    command = ctx.command.get_command(ctx, "flower")
    if command is None or command.callback is None:
        return
    start = command.callback

    @functools.wraps(start)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        # KeyError if Flower renames its argument: fail closed rather than start unchecked.
        check_flower_options(kwargs["tornado_argv"], os.environ)
        return start(*args, **kwargs)

    command.callback = guarded


def check_flower_options(tornado_argv: Sequence[str], environ: Mapping[str, str]) -> None:
    """Resolve Flower's options as Flower will, defaulting the address to loopback; exit if unsafe.

    Raises:
        SystemExit: with ``REFUSED_EXIT``, after printing why and what to set.
    """
    from flower.command import apply_env_options, apply_options  # type: ignore[import-untyped]
    from tornado.options import options

    options.address = LOOPBACK  # Flower's own default is "" (every interface)
    apply_env_options()
    apply_options(sys.argv[0], list(tornado_argv))
    reason = refusal(options.address, options.port, options.unix_socket, environ.get(AUTH_ENV))
    if reason is not None:
        print(reason, file=sys.stderr, flush=True)
        raise SystemExit(REFUSED_EXIT)


def refusal(address: str, port: int, unix_socket: str, basic_auth: str | None) -> str | None:
    """Why Flower must not start on ``address`` with ``basic_auth`` (the variable's value), or None."""
    if unix_socket or is_loopback(address):
        return None
    problem = credentials_problem(basic_auth)
    if problem is None:
        return None
    if not address:
        where = f"every interface (address '', port {port})"
    else:
        where = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return (
        f"statuswatch: refusing to start Flower on {where}, which other machines can reach: {problem}. "
        f"Set {AUTH_ENV}=user:password (several: comma-separated) in the environment, "
        f"or listen on loopback (--address={LOOPBACK}, the default)."
    )


def credentials_problem(basic_auth: str | None) -> str | None:
    """What is wrong with a ``FLOWER_BASIC_AUTH`` value, or None when every entry is user:password."""
    if not basic_auth:
        return f"{AUTH_ENV} is not set (credentials on the command line do not count: ps shows them)"
    for entry in basic_auth.split(","):
        user, colon, password = entry.partition(":")
        if not (user and colon and password):
            return f"{AUTH_ENV} holds an entry that is not user:password"
    return None


def is_loopback(address: str) -> bool:
    """``localhost`` or a loopback IP (127.0.0.0/8, ::1); any other name counts as reachable."""
    host = address.strip().removeprefix("[").removesuffix("]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
