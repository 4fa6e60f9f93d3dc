"""Producer API: ``from tasks import track``.

Other services need not import this at all: they send ``statuswatch.track`` by name
(``app.send_task("statuswatch.track", kwargs={...})``), and the worker validates again.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from config import Accounts, load_accounts, load_settings
from tasks.tracking import check_task, dispatch_task, track_task
from worker.keys import tracker_id
from worker.tracking import parse_track_request


def track(provider: str, account: str, msg_id: str | int, **options: Any) -> str:
    """Validate a track request, then enqueue it; returns the tracker id.

    Options: ``until`` ("delivered" | "read"), ``expires_in`` (seconds), ``chat_id``,
    ``kind``, ``callback_url``, ``callback_task``, ``meta``. Account aliases are checked
    against the accounts file where ``STATUSWATCH_ACCOUNTS_FILE`` is set.

    Raises:
        ValueError: naming the field that is wrong; nothing was enqueued.
    """
    settings = load_settings()
    accounts = _accounts(settings.accounts_file, _mtime(settings.accounts_file)) if settings.accounts_file else None
    request = parse_track_request(
        {"provider": provider, "account": account, "msg_id": msg_id, **options},
        accounts,
        settings.default_expires_s,
    )
    track_task.apply_async(kwargs=request.as_kwargs())
    return tracker_id(request.provider, request.account, request.msg_id)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@functools.lru_cache(maxsize=4)
def _accounts(path: Path, mtime_ns: int) -> Accounts:
    """The accounts file, parsed once per version of it (producers call ``track`` in bulk)."""
    return load_accounts(path)


__all__ = ["check_task", "dispatch_task", "track", "track_task"]
