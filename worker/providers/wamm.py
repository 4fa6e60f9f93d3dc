"""WAMM.chat (api2): ``msg_state`` for one message, ``msg_get_last`` for the newest 100.

Sources: the gateway's API pages, msg_state
https://1mhub.ru/en/help/poluchenie-statusa-soobscheniy and msg_get_last
https://1mhub.ru/en/help/poluchenie-soobschenii (WAMM.chat's documentation, also at
https://wamm.chat/help/ in Russian). The token is a path segment
(``/api2/msg_state/{token}/?msg_id=N``); errors arrive as strings in ``err`` inside HTTP
200; ``msg_id`` comes back as a string.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from config import Account
from worker.errors import AccountError, MessageError, NotFound, ProviderError, TransientError, UnexpectedAnswer
from worker.providers.base import Adapter, MessageRef, normalise, same_id
from worker.providers.http import Http
from worker.states import Observation, State

#: raw ``state`` values (normalised: lower case, single spaces) -> canonical state.
#: ``received`` marks an incoming message and ``no info`` says nothing: both stay unmapped.
STATES: Mapping[str, State] = {
    "sending": State.PENDING,
    "sent": State.SENT,
    "delivered": State.DELIVERED,
    "viewed": State.READ,
    "not sent": State.FAILED,
    "failed": State.FAILED,
    "noaccount": State.FAILED,  # documented "noAccount"; "NoAccount" seen in the wild
    "notingroup": State.FAILED,
    "deleted": State.DELETED,
}

#: documented ``err`` strings (the msg_state and msg_get_last pages) -> what they mean
ERRORS: Mapping[str, type[ProviderError]] = {
    "token fail": AccountError,
    "acc not authorized": AccountError,
    "msg_id fail": MessageError,
    "msg not be": NotFound,
    "msgs not be": NotFound,  # msg_get_last: nothing to list; ``recent`` answers []
    "col fail or more 100": MessageError,  # our request is wrong (we always ask for 100)
}

#: format of ``date_ins`` / ``date_upd`` (the msg_get_last page)
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


#: the most ``msg_get_last`` returns in one answer
MAX_COL = 100


class Wamm(Adapter):
    name = "wamm"

    def __init__(self, account: Account, http: Http) -> None:
        self.base = f"{account.base_url}/api2"
        self._token = quote(account.credentials["token"], safe="")
        self.http = http

    def probe(self) -> str:
        # No documented "who am I": ask for message 0; "msg not be" means the token works.
        with contextlib.suppress(NotFound):
            self.fetch(MessageRef("0"))
        return "token accepted"

    def fetch(self, ref: MessageRef) -> Observation:
        reply = self.http.request("GET", f"{self.base}/msg_state/{self._token}/", params={"msg_id": ref.msg_id})
        data = self._payload(reply.body, "msg_state")
        if not isinstance(data, dict) or not isinstance(data.get("state"), str):
            raise TransientError("wamm: msg_state: answer without msg_data.state", provider=self.name)
        answered = data.get("msg_id")  # absent: accepted, as nothing says it always comes
        if answered is not None and not same_id(answered, ref.msg_id):
            raise UnexpectedAnswer(
                f"wamm: msg_state: an answer about message {self.http.text(answered, 40)!r}, not {ref.msg_id!r}",
                provider=self.name,
            )
        return observation(data["state"])

    def recent(self, window_s: float) -> list[tuple[str, Observation]]:
        """The newest 100 outgoing messages (``col`` is at most 100; ``window_s`` cannot widen it).

        Incoming items (``from_me`` "0", state ``received``) are skipped even though we ask
        for outgoing ones only; ``date_upd`` becomes the observation's ``provider_ts``.
        """
        reply = self.http.request(
            "GET", f"{self.base}/msg_get_last/{self._token}/", params={"col": MAX_COL, "from_me": 1}
        )
        try:
            items = self._payload(reply.body, "msg_get_last")
        except NotFound:  # "msgs not be": nothing sent lately
            return []
        if not isinstance(items, list):
            raise TransientError("wamm: msg_get_last: msg_data is not a list", provider=self.name)
        return [
            (str(item["msg_id"]), observation(item["state"], parse_date(item.get("date_upd"))))
            for item in items
            if isinstance(item, dict)
            and str(item.get("from_me")) == "1"
            and isinstance(item.get("state"), str)
            and item.get("msg_id") is not None
        ]

    def _payload(self, body: Any, method: str) -> Any:
        if not isinstance(body, dict) or "err" not in body:
            raise TransientError(f"wamm: {method}: answer without 'err'", provider=self.name)
        err = body["err"]
        if err == 0 or err == "0":
            return body.get("msg_data")
        error = ERRORS.get(normalise(str(err)), UnexpectedAnswer)  # never proof of anything
        raise error(f"wamm: {method}: err {self.http.text(err)!r}", provider=self.name)


def observation(raw: str, provider_ts: float | None = None) -> Observation:
    """The observation of one raw WAMM ``state``."""
    return Observation(state=STATES.get(normalise(raw)), raw=raw, provider_ts=provider_ts)


def parse_date(value: Any) -> float | None:
    """A ``YYYY-MM-DD HH:MM:SS`` date in epoch seconds; None when absent or not in that form.

    The msg_get_last page names no time zone (unconfirmed): read as UTC, as the simulator
    writes it.
    """
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
