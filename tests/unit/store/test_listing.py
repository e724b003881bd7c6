"""List queries as SQL: any number of filters and values the query parser accepts runs on SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from emulator.models import Execution, Function
from emulator.queries import EXECUTIONS_SCHEMA, FUNCTIONS_SCHEMA, MAX_VALUES, parse_queries
from emulator.store.db import Database
from emulator.store.executions import ExecutionStore
from emulator.store.functions import FunctionStore


def _values(real: list[str], prefix: str) -> str:
    junk = [f'"{prefix}{i}"' for i in range(MAX_VALUES - len(real))]
    return ", ".join([*(f'"{value}"' for value in real), *junk])


def _ids(queries: list[str], tmp_path: Path) -> tuple[int, list[str]]:
    async def scenario() -> tuple[int, list[str]]:
        db = await Database.open(tmp_path / "e.sqlite3")
        store = FunctionStore(db)
        now = datetime(2024, 1, 1, tzinfo=UTC)
        for i in range(6):
            await store.insert(
                Function(f"f{i}", f"func-{i}", "python-3.9", now, now, timeout=10 * (i + 1))
            )
        try:
            total, found = await store.page(parse_queries(queries, FUNCTIONS_SCHEMA), None)
        finally:
            await db.close()
        return total, [fn.id for fn in found]

    return asyncio.run(scenario())


def test_a_thousand_filters_of_a_hundred_values_each(tmp_path: Path) -> None:
    kinds = [
        f'equal("$id", [{_values(["f1", "f3", "f4"], "x")}])',
        f'notEqual("name", [{_values(["func-0", "func-1"], "y")}])',
        f'startsWith("name", [{_values(["func-"], "z")}])',
        f'endsWith("name", [{_values(["1", "3"], "w")}])',
        f'search("name", [{_values(["func"], "v")}])',
        f'lessThan("timeout", [{", ".join(["45"] + ["0"] * (MAX_VALUES - 1))}])',
        'greaterThanEqual("timeout", [20, 1000])',
        'equal("enabled", [true, false])',
    ]
    queries = [kinds[i % len(kinds)] for i in range(1000)]
    assert _ids(queries, tmp_path) == (2, ["f1", "f3"])


@pytest.mark.parametrize(
    "query", ['equal("$id", "f2")', 'lessThanEqual("timeout", 30)', 'isNotNull("name")']
)
def test_a_thousand_single_value_filters(query: str, tmp_path: Path) -> None:
    total, ids = _ids([query] * 999 + ['startsWith("name", "func-2")'], tmp_path)
    assert (total, ids) == (1, ["f2"])


def test_a_thousand_orders_with_a_cursor(tmp_path: Path) -> None:
    queries = ['orderDesc("timeout")', 'orderAsc("name")'] * 499 + ['cursorAfter("f4")', "limit(2)"]
    assert _ids(queries, tmp_path) == (6, ["f3", "f2"])


@pytest.mark.parametrize(
    "queries",
    [
        [],  # the first page, oldest first, with its total
        ['orderDesc("$createdAt")'],
        ['equal("status", ["failed"])'],
        ['cursorAfter("e000050")'],
    ],
)
def test_execution_lists_read_an_index_in_order(queries: list[str], tmp_path: Path) -> None:
    """Lists of a function's executions stay fast however many are stored: every query a list
    runs finds the function's rows through an index, in the order asked (no scan of the table,
    no sort of all the function's rows; rows with the same `$createdAt` may be put in order among
    themselves)."""

    async def scenario() -> list[str]:
        db = await Database.open(tmp_path / "e.sqlite3")
        store = ExecutionStore(db)
        now = datetime(2024, 1, 1, tzinfo=UTC)
        for i in range(100):
            await store.insert(Execution(f"e{i:06d}", "fn", "dep", "http", "completed", now, now))
        ran: list[str] = []
        db.conn.raw.set_trace_callback(ran.append)
        await store.page("fn", parse_queries(queries, EXECUTIONS_SCHEMA), None)
        db.conn.raw.set_trace_callback(None)
        plans = []
        for sql in ran:
            if sql.lstrip().upper().startswith("SELECT"):
                rows = db.conn.raw.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
                plans += [str(row[3]) for row in rows]
        await db.close()
        return plans

    plans = asyncio.run(scenario())
    assert plans
    for step in plans:
        assert not step.startswith("SCAN executions"), plans
        assert "TEMP B-TREE FOR ORDER BY" not in step, plans
