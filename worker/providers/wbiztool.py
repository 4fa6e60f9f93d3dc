"""WBizTool api/v1: ``message/status/<id>/`` for one message.

Sources: the Message Status API page, https://wbiztool.com/docs/message-status-api, and the
gateway's official Python client, ``wbiztool-client`` 1.1.0 (https://pypi.org/project/wbiztool-client/:
its client module and tests). Credentials are body fields (``client_id`` int, ``api_key``),
sent as JSON like client 1.1.0 does; refusals come as ``"status": 0`` inside HTTP 200, and
an unknown id is ``status 0`` too, told apart only by ``message``. WBizTool never reports
more than "sent". Its status answer does not name the message it is about (the status
page), so, unlike WAMM's and GREEN-API's, it cannot be checked against the id asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from config import Account
from worker.errors import AccountError, MessageError, NotFound, ProviderError, TransientError, UnexpectedAnswer
from worker.providers.base import Adapter, MessageRef, normalise
from worker.providers.http import Http
from worker.states import Observation, State

#: ``status`` code -> canonical state (the status page); other codes stay unmapped
STATES: Mapping[int, State] = {
    0: State.PENDING,
    1: State.SENT,
    2: State.FAILED,
    3: State.CANCELLED,
    4: State.EXPIRED,
}

#: ``message`` (normalised) of a ``status 0`` answer that is a refusal, not a pending message
#: (client 1.1.0 and its tests: logical refusals come as HTTP 200 ``{"status": 0, "message": ...}``)
REFUSALS: Mapping[str, type[ProviderError]] = {
    "unknown message id": NotFound,  # [pypi wbiztool-client 1.1.0 client.py docstring]
    "invalid whatsapp client": AccountError,  # the account's connected number is not usable
    "higher subscription required": AccountError,  # the account's plan does not allow it
    # a refusal of a request's fields (schedule_msg): not the account's fault; the request is
    # wrong and asking again will not change it
    "scheduled date & time is not in valid format": MessageError,
    "invalid phone number": MessageError,  # HTTP 400 "invalid input" [pypi 1.1.0 tests]
}
#: start of ``message`` when the credentials are refused (HTTP 400/403, or 200 "Auth Error 2")
AUTH_ERROR = "auth error"


class WbizTool(Adapter):
    name = "wbiztool"

    def __init__(self, account: Account, http: Http) -> None:
        self.base = f"{account.base_url}/api/v1"
        self._client_id = account.credentials["client_id"]
        self._api_key = account.credentials["api_key"]
        self.http = http

    def probe(self) -> str:
        """``POST /me/``: the credentials check of client 1.1.0 (``check_credentials``)."""
        reply = self.http.request("POST", f"{self.base}/me/", json=self._auth_fields())
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.status != 200 or body.get("status") != 1:
            raise AccountError(
                f"wbiztool: me: HTTP {reply.status} {self.http.text(body.get('message', ''))!r}", provider=self.name
            )
        return f"credentials accepted ({self.http.text(str(body.get('name', '')).strip()) or 'no name'})"

    def fetch(self, ref: MessageRef) -> Observation:
        # ids are integers: client 1.1.0 refuses others locally, the server answers an HTML 404
        if not (ref.msg_id.isascii() and ref.msg_id.isdigit()):
            raise MessageError("wbiztool: message/status: the message id is not an integer", provider=self.name)
        reply = self.http.request("POST", f"{self.base}/message/status/{int(ref.msg_id)}/", json=self._auth_fields())
        body = reply.body if isinstance(reply.body, dict) else {}
        message = str(body.get("message", ""))
        refusal = REFUSALS.get(normalise(message))
        where = f"wbiztool: message/status: HTTP {reply.status} {self.http.text(message)!r}"
        if normalise(message).startswith(AUTH_ERROR) or refusal is AccountError or reply.status in (401, 403):
            raise AccountError(where, provider=self.name)
        if reply.status in (400, 404):
            # a refusal it words as we know, else an answer that says nothing about the message
            # (ids are integers, so a 404 is not our URL missing a pattern)
            raise (refusal or UnexpectedAnswer)(where, provider=self.name)
        code = body.get("status")
        if reply.status != 200 or not isinstance(code, int) or isinstance(code, bool):
            raise TransientError(f"{where}: answer without an integer 'status'", provider=self.name)
        if code == 0 and refusal is not None:
            raise refusal(f"{where}: a refusal, not a state", provider=self.name)
        return observation(code, body.get("error"))

    def _auth_fields(self) -> dict[str, Any]:
        try:
            client_id = int(self._client_id)
        except ValueError:
            raise AccountError("wbiztool: client_id is not an integer", provider=self.name) from None
        return {"client_id": client_id, "api_key": self._api_key}


def observation(code: int, error: Any = None) -> Observation:
    """The observation of one ``status`` code; a non-empty ``error`` (failed only) goes in ``detail``."""
    detail = {"error": error} if isinstance(error, str) and error else None
    return Observation(state=STATES.get(code), raw=str(code), detail=detail)
