import re
from importlib import resources

import pytest
import redis

from worker.scripts import with_prelude
from worker.states import PROGRESS, TERMINAL, State, is_settled, merge, target

P, S, D, R = State.PENDING, State.SENT, State.DELIVERED, State.READ
F, X, C, E = State.FAILED, State.DELETED, State.CANCELLED, State.EXPIRED


#: (current, observed, merged); None: a raw value with no mapping ('' in Lua)
MERGE_CASES = [
    (P, S, S), (S, D, D), (D, R, R), (P, R, R),
    (R, D, R), (D, S, D), (R, P, R),  # stale answers never move back
    (S, None, S),  # unmapped raw value keeps the state
    (S, F, F), (R, X, X),  # a terminal failure wins over progress
    (F, R, F), (X, F, X), (C, S, C), (E, D, E),  # terminal states freeze
]  # fmt: skip

#: (state, until, ceiling, settled)
SETTLED_CASES = [
    (S, R, R, False), (D, R, R, False), (R, R, R, True),
    (D, D, R, True), (S, D, R, False),
    (S, R, S, True), (P, R, S, False),  # WBizTool: nothing beyond sent
    (F, R, R, True), (C, D, S, True),
]  # fmt: skip

#: a test-only script: the prelude's own merge and is_settled, called as the scripts call them
LUA_RULES = """
if ARGV[1] == 'merge' then return merge(ARGV[2], ARGV[3]) end
return is_settled(ARGV[2], ARGV[3], ARGV[4]) and 1 or 0
"""


@pytest.mark.parametrize(("current", "observed", "expected"), MERGE_CASES)
def test_merge(current: State, observed: State | None, expected: State) -> None:
    assert merge(current, observed) is expected


@pytest.mark.parametrize(("state", "until", "ceiling", "settled"), SETTLED_CASES)
def test_is_settled(state: State, until: State, ceiling: State, settled: bool) -> None:
    assert is_settled(state, until, ceiling) is settled


def test_the_lua_prelude_merges_and_settles_by_the_same_cases(either_redis: redis.Redis) -> None:
    """The same tables through ``_states.lua``'s ``merge`` and ``is_settled``: the rule that
    runs in Redis is the one tested."""
    rules = either_redis.register_script(with_prelude(LUA_RULES))
    for current, observed, expected in MERGE_CASES:
        got = rules(args=["merge", current.value, observed.value if observed else ""])
        assert got == expected.value, f"merge({current}, {observed})"
    for state, until, ceiling, settled in SETTLED_CASES:
        got = rules(args=["is_settled", state.value, until.value, ceiling.value])
        assert got == int(settled), f"is_settled({state}, {until}, {ceiling})"


def test_target_is_capped_by_ceiling() -> None:
    assert target(R, S) is S
    assert target(D, R) is D


def test_lua_prelude_mirrors_states() -> None:
    lua = (resources.files("worker") / "lua" / "_states.lua").read_text()
    ranks = dict(re.findall(r"(\w+) = (\d+)", re.search(r"RANK = \{(.*?)\}", lua).group(1)))
    assert {State(k): int(v) for k, v in ranks.items()} == {s: i for i, s in enumerate(PROGRESS)}
    terminal = re.findall(r"(\w+) = true", re.search(r"TERMINAL = \{(.*?)\}", lua).group(1))
    assert {State(t) for t in terminal} == TERMINAL
