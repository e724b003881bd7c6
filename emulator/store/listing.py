"""Turn a parsed 1.3 list query into SQL: filters, search, order, cursor, limit/offset, total."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from emulator.dates import format_datetime, parse_datetime
from emulator.queries import Filter, ListQuery, Order
from emulator.store.db import Connection, Row

TOTAL_CAP = 5000


class CursorNotFound(Exception):
    """The query's cursor names no row of the table."""


@dataclass(frozen=True)
class Table:
    """A table seen through the API: attribute name -> column, and which attributes are datetimes."""

    name: str
    columns: Mapping[str, str]
    datetimes: frozenset[str] = frozenset({"$createdAt", "$updatedAt"})


def _value(table: Table, attribute: str, value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if attribute in table.datetimes and isinstance(value, str):
        try:
            return format_datetime(parse_datetime(value))
        except ValueError:
            return value
    return value


_OPERATORS = {
    "equal": "=",
    "notEqual": "!=",
    "lessThan": "<",
    "lessThanEqual": "<=",
    "greaterThan": ">",
    "greaterThanEqual": ">=",
}
_AFFIX = frozenset({"startsWith", "endsWith"})  # their SQL uses the value twice


def _json_scalar(value: Any) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "1e999" if value > 0 else "-1e999"  # SQLite reads these back as infinities
    return json.dumps(value, ensure_ascii=False)


def _match(method: str, column: str, value: str) -> str:
    """The SQL test of one value (an SQL expression) against `column`."""
    if method in _OPERATORS:
        return f"{column} {_OPERATORS[method]} {value}"
    if method == "search":
        return f"appwrite_search({column}, {value})"
    if method == "startsWith":
        return f"substr({column}, 1, length({value})) = {value}"
    return f"substr({column}, -length({value})) = {value}"  # endsWith


def _filter_sql(table: Table, item: Filter) -> tuple[str, list[Any]]:
    """One filter as SQL. Several values are OR-ed, like 1.3's MariaDB adapter; they travel as
    one JSON parameter, so no number of filters and values runs out of SQLite's parameters."""
    column = f"{table.name}.{table.columns[item.attribute]}"
    values = [_value(table, item.attribute, v) for v in item.values]
    method = item.method
    if method == "isNull":
        return f"{column} IS NULL", []
    if method == "isNotNull":
        return f"{column} IS NOT NULL", []
    if method == "between":
        return f"{column} BETWEEN ? AND ?", values[:2]
    if not values:
        return "0", []
    if len(values) == 1:
        return "(" + _match(method, column, "?") + ")", values * (1 + (method in _AFFIX))
    array = "[" + ",".join(_json_scalar(v) for v in values) + "]"
    if method == "equal":
        return f"{column} IN (SELECT value FROM json_each(?))", [array]
    return f"EXISTS (SELECT 1 FROM json_each(?) WHERE {_match(method, column, 'value')})", [array]


def _balanced(parts: Sequence[str], operator: str, empty: str) -> str:
    """`parts` joined by `operator` as a balanced tree: SQLite limits an expression's depth
    (1000), which a flat chain of a thousand conditions would reach."""
    if not parts:
        return empty
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    left = _balanced(parts[:middle], operator, empty)
    right = _balanced(parts[middle:], operator, empty)
    return f"({left} {operator} {right})"


def _orders(table: Table, orders: Sequence[Order]) -> list[tuple[str, bool]]:
    """(column, descending) pairs, ending with the insertion sequence as the tie-breaker.

    An empty attribute means the natural (insertion) order in that direction. A column ordered
    twice keeps its first direction (the second changes nothing), and nothing after `seq` can.
    """
    pairs: list[tuple[str, bool]] = []
    for order in orders:
        column = table.columns[order.attribute] if order.attribute else "seq"
        if all(column != seen for seen, _ in pairs):
            pairs.append((column, order.descending))
        if column == "seq":
            return pairs
    pairs.append(("seq", False))
    return pairs


def _after(orders: list[tuple[str, bool]], cursor: Row) -> tuple[str, list[Any]]:
    """Rows strictly after `cursor` in `orders` (SQLite sorts NULL first ascending, last descending)."""
    alternatives: list[str] = []
    params: list[Any] = []
    for index, (column, descending) in enumerate(orders):
        same = [f"{c} IS ?" for c, _ in orders[:index]]
        same_params = [cursor[c] for c, _ in orders[:index]]
        value = cursor[column]
        if value is None:
            step = "0" if descending else f"{column} IS NOT NULL"
            step_params: list[Any] = []
        elif descending:
            step, step_params = f"({column} < ? OR {column} IS NULL)", [value]
        else:
            step, step_params = f"{column} > ?", [value]
        alternatives.append(_balanced([*same, step], "AND", "1"))
        params += same_params + step_params
    return _balanced(alternatives, "OR", "0"), params


async def list_rows(
    conn: Connection,
    table: Table,
    query: ListQuery,
    *,
    search: str | None = None,
    where: Mapping[str, Any] | None = None,
) -> tuple[int, list[Row]]:
    """The page of rows and the capped total of rows that match the filters.

    Args:
        where: implicit equality filters added by the server (e.g. `function_id`).

    Raises:
        CursorNotFound: the cursor names no row of the table (of any function, as in 1.3).
    """
    cursor_row = None
    if query.cursor is not None:
        async with conn.execute(f"SELECT * FROM {table.name} WHERE id = ?", [query.cursor]) as cur:
            cursor_row = await cur.fetchone()
        if cursor_row is None:
            raise CursorNotFound(query.cursor)
    conditions: list[str] = []
    params: list[Any] = []
    for column, value in (where or {}).items():
        conditions.append(f"{column} = ?")
        params.append(value)
    for item in query.filters:
        sql, values = _filter_sql(table, item)
        conditions.append(sql)
        params += values
    if search is not None:
        conditions.append("appwrite_search(search, ?)")
        params.append(search)
    where_sql = _balanced(conditions, "AND", "1")

    async with conn.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {table.name} WHERE {where_sql} LIMIT {TOTAL_CAP})",
        params,
    ) as cur:
        count_row = await cur.fetchone()
    total = int(count_row[0]) if count_row else 0

    orders = _orders(table, query.orders)
    page_conditions = list(conditions)
    page_params = list(params)
    reverse = cursor_row is not None and query.cursor_before
    if reverse:
        orders = [(column, not descending) for column, descending in orders]
    if cursor_row is not None:
        sql, values = _after(orders, cursor_row)
        page_conditions.append(sql)
        page_params += values
    order_sql = ", ".join(f"{c} {'DESC' if d else 'ASC'}" for c, d in orders)
    async with conn.execute(
        f"SELECT * FROM {table.name} WHERE {_balanced(page_conditions, 'AND', '1')} "
        f"ORDER BY {order_sql} LIMIT ? OFFSET ?",
        [*page_params, query.limit, query.offset],
    ) as cur:
        rows = list(await cur.fetchall())
    if reverse:
        rows.reverse()
    return total, rows
