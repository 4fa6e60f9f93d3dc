"""GREEN-API: ``getMessage`` for chat messages, ``getStatusStatistic`` for Status posts.

Sources, the gateway's documentation (https://green-api.com/en/docs/), named below by page:
request format (``/request-format/``), GetMessage (``/api/journals/GetMessage/``),
GetStatusStatistic (``/api/statuses/GetStatusStatistic/``), status values
(``/api/receiving/notifications-format/outgoing-message/OutgoingMessageStatus/``), common
errors (``/api/common-errors/``), the 466 body (``/api/466-error-example-body``),
GetStateInstance (``/api/account/GetStateInstance/``) and LastOutgoingMessages
(https://green-api.org.il/en/docs/api/journals/LastOutgoingMessages). URL
``{apiUrl}/waInstance{idInstance}/{method}/{apiTokenInstance}``: the token is a path
segment, never a header or a body field. Errors are HTTP statuses (common errors); 401 and
403 may come with a body that is not JSON: the status alone says what they mean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from config import Account
from worker.errors import (
    AccountError,
    MessageError,
    NotFound,
    NotReady,
    ProviderError,
    TransientError,
    UnexpectedAnswer,
)
from worker.providers.base import Adapter, MessageRef, normalise, same_id
from worker.providers.http import Http, Reply
from worker.states import Observation, State, rank

#: ``statusMessage`` / viewer ``status`` (normalised: lower case) -> canonical state.
#: An empty status (an open bug, gh green-api/issues#1086) and unknown values stay unmapped.
STATES: Mapping[str, State] = {
    "pending": State.PENDING,
    "sent": State.SENT,
    "delivered": State.DELIVERED,
    "read": State.READ,
    "failed": State.FAILED,  # webhook only: journals never record it (status values)
    "noaccount": State.FAILED,
    "notingroup": State.FAILED,
    "yellowcard": State.FAILED,  # never actually sent
}

#: HTTP status -> error, whatever the body: wrong token, wrong instance, monthly quota (common errors)
STATUS_ERRORS: Mapping[int, type[ProviderError]] = {
    401: AccountError,
    403: AccountError,
    466: AccountError,  # do not retry: the quota is monthly
    404: TransientError,  # wrong verb (we send the right one) or an instance-side bug (issues#926)
}

#: words of an HTTP 400 body -> error, checked in order (common errors)
BAD_REQUEST_ERRORS: tuple[tuple[str, type[ProviderError]], ...] = (
    ("not authorized", AccountError),  # "instance account not authorized": scan the QR again
    ("expired", AccountError),  # "Instance account is expired…"
    ("is deleted", AccountError),  # "Instance is deleted"
    ("starting process", TransientError),  # "instance in starting process try later"
    ("chat limit", AccountError),  # "You have used up the chat limit on your tariff…" (2021 docs)
    # "fix request" (common errors): the gateway refused the request we built for this message (its
    # chatId / idMessage), so asking again cannot help. That is the message's problem, not the
    # account's, and not "the gateway does not know the message": a MessageError, never NotFound.
    ("bad request data", MessageError),
    ("validation failed", MessageError),
    ("unexpected token", MessageError),  # "Unexpected token … in JSON"
    # unconfirmed: the docs do not show getMessage's answer for an unknown id; this is the
    # simulator's (a 400 {"message": "message not found"}), and a 2023 copy of the docs'
    ("message not found", NotFound),
    ("id message notfound", NotFound),
)
# Any other 400 is an UnexpectedAnswer: it says nothing about the message (common errors), and
# journals answered 400 "Internal Server Error" for days (issues#790). Read as "the
# request for this message is wrong", it failed delivered trackers.
#: the keys of a 466 body, one per quota (the 466 body, note the spelling QUOTE_)
QUOTA_KEYS = ("invokeStatus", "correspondentsStatus")


#: ``getStateInstance`` states (GetStateInstance) -> the error of the credentials check (None:
#: ready) and what the state means to whoever reads ``statuswatch doctor``
INSTANCE_STATES: Mapping[str, tuple[type[ProviderError] | None, str]] = {
    "authorized": (None, "instance authorized"),
    "starting": (NotReady, "starting (can take up to 5 minutes): not ready yet"),
    "sleepMode": (NotReady, "sleep mode (the phone is off; obsolete state): not ready yet"),
    "notAuthorized": (AccountError, "not authorized: scan the QR code in the GREEN-API console"),
    "blocked": (AccountError, "blocked by WhatsApp"),
    "yellowCard": (AccountError, "WhatsApp suspended its sending for spam (yellowCard): reboot the instance"),
}

#: the widest window of ``lastOutgoingMessages``, minutes (its default: a day)
MAX_MINUTES = 1440


class GreenApi(Adapter):
    name = "greenapi"

    def __init__(self, account: Account, http: Http) -> None:
        self.base = f"{account.base_url}/waInstance{account.credentials['id_instance']}"
        self._token = quote(account.credentials["api_token_instance"], safe="")
        self.http = http

    def probe(self) -> str:
        """``getStateInstance``: the instance's state (GetStateInstance), told apart as ready,
        not ready yet (``NotReady``), or unusable until someone acts (``AccountError``)."""
        body = self._call("getStateInstance", "GET")
        state = body.get("stateInstance") if isinstance(body, dict) else None
        if body is None:  # the answer while the instance is being created
            raise NotReady("greenapi: instance has no state yet (being created): not ready yet", provider=self.name)
        known = INSTANCE_STATES.get(state) if isinstance(state, str) else None
        if known is None:
            unknown = self.http.text(state, 40)
            raise UnexpectedAnswer(f"greenapi: instance state {unknown!r} is unknown here", provider=self.name)
        error, meaning = known
        if error is not None:
            raise error(f"greenapi: instance {state}: {meaning}", provider=self.name)
        return meaning

    def fetch(self, ref: MessageRef) -> Observation:
        if ref.kind == "status_post":
            return self._status_post(ref)
        if ref.kind != "message":
            raise MessageError(f"greenapi: no status source for a {ref.kind!r}", provider=self.name)
        if not ref.chat_id:
            raise MessageError("greenapi: getMessage needs the chat id of the message", provider=self.name)
        body = self._call("getMessage", "POST", json={"chatId": ref.chat_id, "idMessage": ref.msg_id})
        if not isinstance(body, dict):
            raise TransientError("greenapi: getMessage: answer is not an object", provider=self.name)
        answered = body.get("idMessage")  # absent: accepted, as nothing says it always comes
        if answered is not None and not same_id(answered, ref.msg_id):
            raise UnexpectedAnswer(
                f"greenapi: getMessage: an answer about message {self.http.text(answered, 40)!r}, not {ref.msg_id!r}",
                provider=self.name,
            )
        raw = body.get("statusMessage")  # only outgoing messages have one
        # its ``timestamp`` is when the message was accepted, not when its status last
        # changed (that is lastOutgoingMessages' ``timestamp``): no provider_ts from it
        return observation(raw if isinstance(raw, str) else "")

    def recent(self, window_s: float) -> list[tuple[str, Observation]]:
        """Chat messages sent in the last ``window_s`` (``lastOutgoingMessages``, at most a day).

        Journals lag up to two minutes and never record ``failed`` (GetMessage, status values). Each
        item's ``timestamp`` (the time of the last action on it) is its ``provider_ts``.
        """
        minutes = max(1, min(MAX_MINUTES, math.ceil(window_s / 60)))
        body = self._call("lastOutgoingMessages", "GET", params={"minutes": minutes})
        if not isinstance(body, list):
            raise TransientError("greenapi: lastOutgoingMessages: answer is not a list", provider=self.name)
        return [
            (str(item["idMessage"]), observation(str(item.get("statusMessage") or ""), _epoch_s(item.get("timestamp"))))
            for item in body
            if isinstance(item, dict) and item.get("idMessage")
        ]

    def _status_post(self, ref: MessageRef) -> Observation:
        body = self._call("getStatusStatistic", "GET", params={"idMessage": ref.msg_id})
        if not isinstance(body, list) or not all(isinstance(v, dict) for v in body):
            raise TransientError("greenapi: getStatusStatistic: answer is not a list of viewers", provider=self.name)
        return post_observation(body)

    def receive_notification(self, timeout_s: int) -> tuple[int, Any] | None:
        """The first notification of the instance's queue as (receiptId, body); None when none
        came within ``timeout_s`` (the gateway's long poll, 5 to 60 s: ReceiveNotification,
        ``/api/receiving/technology-http-api/ReceiveNotification/``). It stays first in the
        queue until ``delete_notification`` (kept 24 hours)."""
        body = self._call("receiveNotification", "GET", params={"receiveTimeout": timeout_s})
        if body is None:
            return None
        receipt = body.get("receiptId") if isinstance(body, dict) else None
        if isinstance(receipt, bool) or not isinstance(receipt, int):
            raise TransientError("greenapi: receiveNotification: an answer without a receiptId", provider=self.name)
        return receipt, body.get("body")

    def delete_notification(self, receipt_id: int) -> bool:
        """Drop a notification from the queue (DeleteNotification); False: it was gone already."""
        body = self._call("deleteNotification", "DELETE", suffix=f"/{int(receipt_id)}")
        return isinstance(body, dict) and body.get("result") is True

    def _call(self, method: str, verb: str, suffix: str = "", **kwargs: Any) -> Any:
        reply = self.http.request(verb, f"{self.base}/{method}/{self._token}{suffix}", **kwargs)
        if reply.status != 200:
            raise self._error(method, reply)
        return reply.body

    def _error(self, method: str, reply: Reply) -> ProviderError:
        text = _message(reply.body) or reply.text
        where = f"greenapi: {method}: HTTP {reply.status} {self.http.text(text)!r}"
        error = STATUS_ERRORS.get(reply.status)
        if error is None and reply.status == 400:
            found = [e for words, e in BAD_REQUEST_ERRORS if words in normalise(text)]
            error = found[0] if found else UnexpectedAnswer
            if error is MessageError:
                where += ": the gateway refused the request for this message"
            elif error is UnexpectedAnswer:
                where += ": not a refusal statuswatch knows"
        return (error or TransientError)(where, provider=self.name)


def _message(body: Any) -> str:
    """What an error body says: its ``message``, or the quotas a 466 says are exceeded."""
    if isinstance(body, dict):
        quotas = [body[key] for key in QUOTA_KEYS if isinstance(body.get(key), dict)]
        exceeded = [str(q.get("status")) for q in quotas if "EXCEEDED" in str(q.get("status", ""))]
        return str(body.get("message") or ", ".join(exceeded) or body)
    return "" if body is None else str(body)


def _epoch_s(value: Any) -> float | None:
    """A UNIX ``timestamp`` (integer seconds) as a float; None when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def observation(raw: str, provider_ts: float | None = None) -> Observation:
    """The observation of one raw GREEN-API status."""
    return Observation(state=STATES.get(normalise(raw)), raw=raw, provider_ts=provider_ts)


def post_observation(viewers: list[dict[str, Any]]) -> Observation:
    """A Status post is as far as its least advanced viewer; an unmapped status ranks lowest.

    Its ``provider_ts`` is the latest viewer ``timestamp``: the last change among them.
    """
    if not viewers:
        return Observation(state=None, raw="")  # nobody yet, or the open bug (issues#929)
    seen = [observation(str(v.get("status", ""))) for v in viewers]
    least = min(seen, key=lambda o: -1 if o.state is None else rank(o.state))
    detail = {str(v.get("participant", "")): o.raw for v, o in zip(viewers, seen, strict=True)}
    times = [t for t in (_epoch_s(v.get("timestamp")) for v in viewers) if t is not None]
    return Observation(state=least.state, raw=least.raw, detail=detail, provider_ts=max(times, default=None))
