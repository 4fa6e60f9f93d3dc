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
#: hostile headers, as templates: ``{t}`` is now (at the test's run, so a suite that takes
#: longer than the tolerance still reaches each one's own flaw), ``{v1}`` its good digest
HOSTILE_TEMPLATES = [
    "t=\u00b2," + "v1={v1}",  # '²'.isdigit() is True, int('²') raises
    "t=\u0661\u0662\u0663," + "v1={v1}",  # Arabic-Indic digits: int() takes them
    "t={t},v1=\u00e9\u00e9",  # non-ASCII: compare_digest on str raises TypeError
    "t={t},v1=\udc80",  # a lone surrogate (a header decoded with surrogateescape)
    "t={t},v1=" + "\u0100" * 64,
    "t=" + "9" * 400 + ",v1={v1}",
    "t={t},t={t},v1={v1}",
    "t=-{t},v1={v1}",
    "t={t}.0,v1={v1}",
    "", "t=", "v1=", ",,,", "=", "t==", "t={t}",
]  # fmt: skip


def good() -> tuple[str, str]:
    """A timestamp of now and its digest of BODY."""
    t = int(time.time())
    return str(t), signing.sign(SECRET, t, BODY)


@pytest.mark.parametrize("who", sorted(VERIFIERS))
@pytest.mark.parametrize("template", HOSTILE_TEMPLATES)
def test_a_hostile_header_is_refused_without_an_exception(who: str, template: str) -> None:
    t, v1 = good()
    header = template.replace("{t}", t).replace("{v1}", v1)
    assert VERIFIERS[who](header, BODY, SECRET) is False


@pytest.mark.parametrize("who", sorted(VERIFIERS))
def test_a_real_header_verifies(who: str) -> None:
    header = signing.signature_header([SECRET, "old"], BODY)
    assert VERIFIERS[who](header, BODY, SECRET) is True
    t, v1 = good()
    assert VERIFIERS[who](f"t={t}, v1={v1}", BODY, SECRET) is True
    assert VERIFIERS[who](header, BODY + b" ", SECRET) is False
