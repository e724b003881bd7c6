"""Form and query-string parameters folded the way PHP folds them, with PHP's bounds."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from emulator.api.params import MAX_INPUT_NESTING, MAX_INPUT_VARS, php_params


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("q[]", "a"), ("q[]", "b")], {"q": ["a", "b"]}),
        ([("q[0]", "a"), ("q[1]", "b")], {"q": ["a", "b"]}),
        # A map in the order the keys came, whatever their numbers.
        ([("q[5]", "a"), ("q[1]", "b")], {"q": ["a", "b"]}),
        ([("q[1]", "a"), ("q[1]", "b")], {"q": ["b"]}),
        # `[]` takes the next number after the largest one so far.
        ([("q[5]", "a"), ("q[]", "b"), ("q[2]", "c"), ("q[]", "d")], {"q": ["a", "b", "c", "d"]}),
        ([("q[a]", "x"), ("q[0]", "y")], {"q": {"a": "x", "0": "y"}}),
        ([("d[a][b]", "1"), ("d[a][c]", "2")], {"d": {"a": {"b": "1", "c": "2"}}}),
        # A later plain value replaces an array, and the other way round.
        ([("q[]", "a"), ("q", "b")], {"q": "b"}),
        ([("q", "b"), ("q[]", "a")], {"q": ["a"]}),
        # Not an index: an unclosed bracket becomes part of the name, trailing text is ignored.
        ([("a[b", "1")], {"a_b": "1"}),
        ([(" a.b c[x.y", "1")], {"a_b_c_x_y": "1"}),
        ([("a[x][y", "1")], {"a": {"x": "1"}}),
        ([("a[x]junk", "1")], {"a": {"x": "1"}}),
        ([("[x]", "1"), ("", "2")], {}),
        # Only canonical integers are numeric keys.
        ([("q[01]", "a"), ("q[-0]", "b")], {"q": {"01": "a", "-0": "b"}}),
    ],
)
def test_folds_like_php(pairs: list[tuple[str, str]], expected: dict[str, Any]) -> None:
    assert php_params(pairs) == expected


@pytest.mark.parametrize("index", ["30000000", "100000000000", "9223372036854775807"])
def test_a_large_index_costs_nothing(index: str) -> None:
    tracemalloc.start()
    try:
        result = php_params([(f"data[{index}]", "x"), ("queries[]", "limit(1)")])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == {"data": ["x"], "queries": ["limit(1)"]}
    assert peak < 1_000_000


def test_an_append_after_the_largest_index_is_dropped() -> None:
    assert php_params([("q[9223372036854775807]", "a"), ("q[]", "b")]) == {"q": ["a"]}


def test_an_unclosed_bracket_past_the_limit_counts_as_a_level() -> None:
    assert php_params([("d" + "[a]" * MAX_INPUT_NESTING + "[b", "1")]) == {}


def test_nesting_up_to_the_limit_is_kept() -> None:
    key = "d" + "[a]" * MAX_INPUT_NESTING
    value: Any = php_params([(key, "1")])["d"]
    for _ in range(MAX_INPUT_NESTING):
        value = value["a"]
    assert value == "1"


@pytest.mark.parametrize("depth", [MAX_INPUT_NESTING + 1, 500, 100_000])
def test_deeper_nesting_drops_the_variable(depth: int) -> None:
    pairs = [("data", "kept?"), ("data" + "[a]" * depth, "1"), ("async", "true")]
    # As in PHP, the whole variable goes, with what an earlier pair had set.
    assert php_params(pairs) == {"async": "true"}


def test_variables_past_the_limit_are_dropped() -> None:
    pairs = [(f"v{i}", "x") for i in range(MAX_INPUT_VARS + 5)]
    assert len(php_params(pairs)) == MAX_INPUT_VARS
    many = [("queries[]", f"limit({i})") for i in range(MAX_INPUT_VARS + 5)]
    assert php_params(many)["queries"][-1] == f"limit({MAX_INPUT_VARS - 1})"
