"""Turn a parsed 1.3 list query into SQL: filters, search, order, cursor, limit/offset, total."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from emulator.dates import format_datetime, parse_datetime
from emulator.queries import Filter, ListQuery, Order

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


def _filter_sql(table: Table, item: Filter) -> tuple[str, list[Any]]:
    column = table.columns[item.attribute]
    values = [_value(table, item.attribute, v) for v in item.values]
    method = item.method
    if method == "isNull":
        return f"{column} IS NULL", []
    if method == "isNotNull":
        return f"{column} IS NOT NULL", []
    if method == "between":
        return f"{column} BETWEEN ? AND ?", values[:2]
    operators = {
        "equal": "=",
        "notEqual": "!=",
        "lessThan": "<",
        "lessThanEqual": "<=",
        "greaterThan": ">",
        "greaterThanEqual": ">=",
    }
    parts: list[str] = []
    params: list[Any] = []
    for value in values:
        if method in operators:
            parts.append(f"{column} {operators[method]} ?")
            params.append(value)
        elif method == "search":
            parts.append(f"appwrite_search({column}, ?)")
            params.append(value)
        elif method == "startsWith":
            parts.append(f"substr({column}, 1, length(?)) = ?")
            params += [value, value]
        elif method == "endsWith":
            parts.append(f"substr({column}, -length(?)) = ?")
            params += [value, value]
    # Like 1.3's MariaDB adapter: several values of one filter are OR-ed.
    return "(" + " OR ".join(parts or ["0"]) + ")", params


def _orders(table: Table, orders: Sequence[Order]) -> list[tuple[str, bool]]:
    """(column, descending) pairs, ending with the insertion sequence as the tie-breaker.

    An empty attribute means the natural (insertion) order in that direction.
    """
    pairs = [(table.columns[o.attribute] if o.attribute else "seq", o.descending) for o in orders]
    if all(column != "seq" for column, _ in pairs):
        pairs.append(("seq", False))
    return pairs


def _after(orders: list[tuple[str, bool]], cursor: aiosqlite.Row) -> tuple[str, list[Any]]:
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
        alternatives.append("(" + " AND ".join([*same, step]) + ")")
        params += same_params + step_params
    return "(" + " OR ".join(alternatives) + ")", params


async def list_rows(
    conn: aiosqlite.Connection,
    table: Table,
    query: ListQuery,
    *,
    search: str | None = None,
    where: Mapping[str, Any] | None = None,
) -> tuple[int, list[aiosqlite.Row]]:
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
    where_sql = " AND ".join(conditions) or "1"

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
        f"SELECT * FROM {table.name} WHERE {' AND '.join(page_conditions) or '1'} "
        f"ORDER BY {order_sql} LIMIT ? OFFSET ?",
        [*page_params, query.limit, query.offset],
    ) as cur:
        rows = list(await cur.fetchall())
    if reverse:
        rows.reverse()
    return total, rows
