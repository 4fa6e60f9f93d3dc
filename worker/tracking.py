"""What a producer may ask, checked on the worker: the client's contract plus this worker's accounts.

The rules of each field live in ``statuswatch_client.contract``, which the client applies
before it enqueues; the worker applies them again to every message, so a request sent by
name from another service meets the same rules, and adds what only it knows: which
gateways exist and their ids' rules (its gateway table, of which the client keeps a copy),
which accounts exist, and the default deadline.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from statuswatch_client.contract import MessageRef, MsgIdRules, TrackRequest, echo, parse_track, parse_untrack

from config import GATEWAYS, Accounts

__all__ = ["MessageRef", "TrackRequest", "parse_track_request", "parse_untrack_request", "reason_of", "rejection"]


def parse_track_request(kwargs: Mapping[str, Any], accounts: Accounts | None, default_expires_s: float) -> TrackRequest:
    """Validate a track request; the deadline is ``default_expires_s`` where it gives none.

    ``accounts`` is None where no accounts file is configured (a producer elsewhere):
    then the account alias is checked for form only.

    Raises:
        ValueError: naming the first field that is wrong and what is wrong with it.
    """
    request = parse_track(kwargs, msg_id_rules=msg_id_rules())
    if accounts is not None:
        _configured(request.account, request.provider, accounts)
    if request.expires_in_s is None:
        request = dataclasses.replace(request, expires_in_s=default_expires_s)
    return request


def parse_untrack_request(kwargs: Mapping[str, Any], accounts: Accounts | None) -> MessageRef:
    """Validate an untrack request (provider, account, msg_id).

    Raises:
        ValueError: naming the field that is wrong.
    """
    ref = parse_untrack(kwargs, msg_id_rules=msg_id_rules())
    if accounts is not None:
        _configured(ref.account, ref.provider, accounts)
    return ref


def msg_id_rules() -> MsgIdRules:
    """The providers and their ids' rules, from the gateway table (``config/gateways.py``)."""
    return {name: (re.compile(gateway.msg_id), gateway.msg_id_hint) for name, gateway in GATEWAYS.items()}


def _configured(alias: str, provider: str, accounts: Accounts) -> None:
    if alias not in accounts:
        known = sorted(accounts)
        shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
        raise ValueError(f"account: unknown account {echo(alias)}; configured: {shown}")
    if accounts[alias].provider != provider:
        raise ValueError(f"account: {echo(alias)} is a {accounts[alias].provider} account, not {provider}")


#: fields of a refused request quoted in its record (callback_url may carry a receiver's token)
_QUOTED = ("provider", "account", "msg_id", "until", "expires_in", "chat_id", "kind", "callback_task", "callback_queue")
#: longest reason kept or logged
REASON_CHARS = 300


def reason_of(exc: BaseException) -> str:
    """Why a request was refused: the ValueError's text, else only the kind of failure (an
    unexpected exception's text could quote anything)."""
    if isinstance(exc, ValueError) and not isinstance(exc, UnicodeError):
        return str(exc)[:REASON_CHARS]
    return f"invalid request ({type(exc).__name__})"


def rejection(task: str, task_id: str, reason: str, kwargs: object) -> dict[str, str]:
    """The ``rejected`` stream entry of a refused request: the reason and a short quote of
    its known fields (never the values of unknown ones, which may be anything)."""
    quoted = {k: echo(kwargs[k]) for k in _QUOTED if k in kwargs} if isinstance(kwargs, Mapping) else {}
    request = json.dumps(quoted, ensure_ascii=True) if quoted else echo(kwargs)
    return {"task": task, "task_id": task_id, "reason": reason[:REASON_CHARS], "request": request}
