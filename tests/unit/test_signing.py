"""The signature check, the worker's ``verify`` and the snippet docs/contract.md gives
receivers (run from the document's text), against hostile headers: each is a plain False."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from worker.notify import signing

SECRET = "whsec-unit-7d1e"
BODY = b'{"event_id":"1-0"}'
Verify = Callable[[str, bytes, str], bool]


def documented_verify() -> Verify:
    """The verification snippet of docs/contract.md, run as a receiver would paste it."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text(encoding="utf-8")
    [snippet] = [block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify(" in block]
    scope: dict[str, Any] = {}
    exec(snippet, scope)
    verify: Verify = scope["verify"]
    return verify


VERIFIERS = {"worker": signing.verify, "documented": documented_verify()}
GOOD_T = str(int(time.time()))
GOOD_V1 = signing.sign(SECRET, int(GOOD_T), BODY)

HOSTILE = [
    "t=\u00b2," + f"v1={GOOD_V1}",  # '²'.isdigit() is True, int('²') raises
    "t=\u0661\u0662\u0663," + f"v1={GOOD_V1}",  # Arabic-Indic digits: int() takes them
    f"t={GOOD_T},v1=\u00e9\u00e9",  # non-ASCII: compare_digest on str raises TypeError
    f"t={GOOD_T},v1=\udc80",  # a lone surrogate (a header decoded with surrogateescape)
    f"t={GOOD_T},v1=" + "\u0100" * 64,
    "t=" + "9" * 400 + f",v1={GOOD_V1}",
    f"t={GOOD_T},t={GOOD_T},v1={GOOD_V1}",
    f"t=-{GOOD_T},v1={GOOD_V1}",
    f"t={GOOD_T}.0,v1={GOOD_V1}",
    "", "t=", "v1=", ",,,", "=", "t==", f"t={GOOD_T}",
]  # fmt: skip


@pytest.mark.parametrize("who", sorted(VERIFIERS))
@pytest.mark.parametrize("header", HOSTILE)
def test_a_hostile_header_is_refused_without_an_exception(who: str, header: str) -> None:
    assert VERIFIERS[who](header, BODY, SECRET) is False


@pytest.mark.parametrize("who", sorted(VERIFIERS))
def test_a_real_header_verifies(who: str) -> None:
    header = signing.signature_header([SECRET, "old"], BODY)
    assert VERIFIERS[who](header, BODY, SECRET) is True
    assert VERIFIERS[who](f"t={GOOD_T}, v1={GOOD_V1}", BODY, SECRET) is True
    assert VERIFIERS[who](header, BODY + b" ", SECRET) is False
