"""One mapping says what a failed gateway call means, for the check, the batch sync and the
request counters alike."""

from __future__ import annotations

import pytest

from worker.disposition import Disposition, disposition_of, unforeseen
from worker.errors import (
    AccountError,
    MessageError,
    NotFound,
    NotReady,
    ProviderError,
    RateLimited,
    TransientError,
    UnexpectedAnswer,
)
from worker.redact import Redactor

P = {"provider": "wamm"}


@pytest.mark.parametrize(
    ("exc", "disposition", "counted_as", "retried"),
    [
        (RateLimited("429", retry_after_s=3, **P), Disposition.THROTTLED, "throttled", False),
        (AccountError("bad token", **P), Disposition.ACCOUNT, "account", False),
        (MessageError("bad id", **P), Disposition.MESSAGE, "message", False),
        (NotFound("no such message", **P), Disposition.MESSAGE, "message", False),
        (UnexpectedAnswer("an answer about 999", **P), Disposition.UNEXPECTED, "unexpected", False),
        (TransientError("HTTP 502", **P), Disposition.TRANSIENT, "transient", True),
        (NotReady("starting", **P), Disposition.TRANSIENT, "transient", True),
        (ProviderError("no observation", **P), Disposition.TRANSIENT, "transient", True),
        (KeyError("msg_data"), Disposition.UNFORESEEN, "unexpected", False),
        (RecursionError(), Disposition.UNFORESEEN, "unexpected", False),
    ],
)
def test_each_exception_has_one_disposition(
    exc: BaseException, disposition: Disposition, counted_as: str, retried: bool
) -> None:
    assert disposition_of(exc) is disposition
    assert disposition.request_result == counted_as
    assert disposition.retried_in_place is retried


def test_an_unforeseen_exception_is_kept_redacted_and_cut() -> None:
    text = unforeseen(KeyError("tok-123 " + "x" * 1000), Redactor(["tok-123"]))
    assert text.startswith("unexpected KeyError: '*** xx") and len(text) == 200
