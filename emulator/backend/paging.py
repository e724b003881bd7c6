"""Lists: a cursor naming no document is 1.3's 400 `general_cursor_not_found`."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from emulator.errors import GeneralCursorNotFound
from emulator.queries import ListQuery
from emulator.store.listing import CursorNotFound

T = TypeVar("T")


async def page(kind: str, query: ListQuery, fetch: Awaitable[T]) -> T:
    """Await `fetch` (a store's page); `kind` names the resource in the error (`Function`, ...).

    Raises:
        GeneralCursorNotFound: `<kind> '<id>' for the 'cursor' value not found.`
    """
    try:
        return await fetch
    except CursorNotFound:
        raise GeneralCursorNotFound(
            f"{kind} '{query.cursor}' for the 'cursor' value not found."
        ) from None
