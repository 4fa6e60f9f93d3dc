"""The worker's own producer API, used by ``statuswatch track``: ``from tasks import track``.

Services should use the client instead (``from statuswatch_client import Client``): it
installs without the worker's packages. Services without Python send the tasks by name
(docs/contract.md); the worker validates every request again.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from config import Accounts, load_accounts, load_settings
from tasks.tracking import check_task, dispatch_task, track_many_task, track_task, untrack_task
from worker.keys import tracker_id
from worker.tracking import parse_track_request, parse_untrack_request


def track(provider: str, account: str, msg_id: str | int, **options: Any) -> str:
    """Validate a track request, then enqueue it; returns the tracker id.

    Options: ``until`` ("delivered" | "read"), ``expires_in`` (seconds), ``chat_id``,
    ``kind``, ``callback_url``, ``callback_task``, ``meta``. Account aliases are checked
    against the accounts file where ``STATUSWATCH_ACCOUNTS_FILE`` is set.

    Raises:
        ValueError: naming the field that is wrong; nothing was enqueued.
    """
    settings = load_settings()
    request = parse_track_request(
        {"provider": provider, "account": account, "msg_id": msg_id, **options},
        _accounts_of(settings.accounts_file),
        settings.default_expires_s,
    )
    track_task.apply_async(kwargs=request.as_kwargs())
    return tracker_id(request.provider, request.account, request.msg_id)


def untrack(provider: str, account: str, msg_id: str | int) -> str:
    """Enqueue the end of a tracker (outcome ``cancelled``); returns the tracker id.

    Raises:
        ValueError: naming the field that is wrong; nothing was enqueued.
    """
    settings = load_settings()
    ref = parse_untrack_request(
        {"provider": provider, "account": account, "msg_id": msg_id}, _accounts_of(settings.accounts_file)
    )
    untrack_task.apply_async(kwargs={"provider": ref.provider, "account": ref.account, "msg_id": ref.msg_id})
    return tracker_id(ref.provider, ref.account, ref.msg_id)


def _accounts_of(path: Path | None) -> Accounts | None:
    return _accounts(path, _mtime(path)) if path else None


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@functools.lru_cache(maxsize=4)
def _accounts(path: Path, mtime_ns: int) -> Accounts:
    """The accounts file, parsed once per version of it (producers call ``track`` in bulk)."""
    return load_accounts(path)


__all__ = ["check_task", "dispatch_task", "track", "track_many_task", "track_task", "untrack", "untrack_task"]
