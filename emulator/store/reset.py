"""Emptying the project's tables for the emulator's reset: all of them, or only the executions."""

from __future__ import annotations

from emulator.store.db import Database

_PROJECT_TABLES = ("executions", "builds", "deployments", "variables", "functions")


async def clear_project(db: Database) -> list[str]:
    """Delete every function, variable, deployment, build and execution in one transaction.

    Returns:
        The IDs of the deleted deployments (whose workers and files the caller removes).
    """
    rows = await db.fetch_all("SELECT id FROM deployments")
    # One script, one trip to the database thread: no other statement runs in between.
    deletes = " ".join(f"DELETE FROM {table};" for table in _PROJECT_TABLES)
    await db.conn.executescript(f"BEGIN; {deletes} COMMIT;")
    return [row["id"] for row in rows]


async def clear_executions(db: Database) -> int:
    """Delete every execution; returns how many there were."""
    return await db.write("DELETE FROM executions")


async def existing_deployments(db: Database, deployment_ids: list[str]) -> set[str]:
    """Those of `deployment_ids` that have a record."""
    if not deployment_ids:
        return set()
    marks = ", ".join("?" * len(deployment_ids))
    rows = await db.fetch_all(f"SELECT id FROM deployments WHERE id IN ({marks})", deployment_ids)
    return {str(row["id"]) for row in rows}
