"""Each Lua script's KEYS and ARGV as ``worker/scripts.py`` names them, held against the
script's header comment: ``-- KEYS[n] name ...`` and ``-- ARGV[n] name ...``, in order.

A field typed ``tuple[...]`` is a run of values: its header entry reads ``[n..]``, and the
entries after it (whose positions depend on the run's length) name their position freely.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any, get_origin, get_type_hints

import pytest

from worker.scripts import SCRIPTS, ExpireArgs, ExpireKeys, ObserveKeys, Script, TrackerKeys, flatten

LUA = resources.files("worker") / "lua"
HEADER = re.compile(r"^-- (KEYS|ARGV)\[([^\]]+)\]\s+(\w+)", re.MULTILINE)
LITERAL = re.compile(r"\b(KEYS|ARGV)\[(\d+)\]")


def lua(name: str) -> str:
    return (LUA / f"{name}.lua").read_text(encoding="utf-8")


def listed(name: str, kind: str) -> list[tuple[str, str]]:
    """(position, name) of each header entry of ``kind``, in order."""
    return [(index, field) for k, index, field in HEADER.findall(lua(name)) if k == kind]


def fields(definition: type[tuple[Any, ...]]) -> list[tuple[str, bool]]:
    """(name, is a run) of each field of a definition, in order."""
    hints = get_type_hints(definition)
    return [(name, get_origin(hints[name]) is tuple) for name in definition._fields]  # type: ignore[attr-defined]


def definition(script: Script[Any, Any], kind: str) -> type[tuple[Any, ...]]:
    return script.keys if kind == "KEYS" else script.args


def test_every_script_has_a_definition() -> None:
    scripts = {p.name.removesuffix(".lua") for p in LUA.iterdir() if p.name.endswith(".lua")}
    assert scripts - {"_states"} == {s.name for s in SCRIPTS}


@pytest.mark.parametrize("kind", ["KEYS", "ARGV"])
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_the_header_names_the_definitions_fields_in_order(script: Script[Any, Any], kind: str) -> None:
    want = fields(definition(script, kind))
    header = listed(script.name, kind)
    assert [name for _, name in header] == [name for name, _ in want], f"{script.name}.lua {kind}"
    fixed = True  # positions are numbers until the first run
    for position, ((index, name), (_, run)) in enumerate(zip(header, want, strict=True), start=1):
        if fixed:
            assert index == (f"{position}.." if run else str(position)), f"{script.name}.lua {kind}[{index}] {name}"
        else:
            assert not index.isdigit(), f"{script.name}.lua {kind}[{index}] {name}: after a run, no fixed position"
        fixed = fixed and not run


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_the_body_reads_no_fixed_position_its_definition_lacks(script: Script[Any, Any]) -> None:
    body = re.sub(r"--[^\n]*", "", lua(script.name))
    for kind in ("KEYS", "ARGV"):
        named = fields(definition(script, kind))
        fixed = next((i for i, (_, run) in enumerate(named) if run), len(named))
        read = {int(n) for k, n in LITERAL.findall(body) if k == kind}
        assert read <= set(range(1, fixed + 1)), f"{script.name}.lua reads {kind} {sorted(read)}, defines {fixed}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_the_preludes_tracker_key_check_runs_only_on_the_nine_tracker_keys(script: Script[Any, Any]) -> None:
    """``check_tracker_keys`` (``_states.lua``) reads KEYS[1..9] as ``TrackerKeys`` orders them
    (``ObserveKeys`` begins with the same nine)."""
    if "check_tracker_keys()" in lua(script.name):
        assert script.keys in (TrackerKeys, ObserveKeys)
    assert ObserveKeys._fields[:9] == TrackerKeys._fields


def test_a_run_is_flattened_in_its_place() -> None:
    keys = ExpireKeys(due="d", inflight="i", active="a", events="e", stats="s", notify="n", since="w",
                      trackers=("t1", "o1"))
    assert flatten(keys) == ["d", "i", "a", "e", "s", "n", "w", "t1", "o1"]
    assert flatten(ExpireArgs(retention_ms=1, events_maxlen=2, lease_ms=3, outbox_ttl_ms=4, outbox_max=5,
                              tracker_ids=())) == [1, 2, 3, 4, 5]
