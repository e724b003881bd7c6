"""The `deployments` and `builds` tables."""

from __future__ import annotations

from emulator.models import Build, Deployment
from emulator.queries import ListQuery
from emulator.store.db import Database
from emulator.store.listing import Table
from emulator.store.records import Column, Record

TABLE = Table(
    name="deployments",
    columns={
        "$id": "id",
        "$createdAt": "created_at",
        "$updatedAt": "updated_at",
        "entrypoint": "entrypoint",
        "size": "size",
        "buildId": "build_id",
        "activate": "activate",
    },
)

DEPLOYMENTS = Record(
    "deployments",
    Deployment,
    [
        Column("id", "id"),
        Column("created_at", "created_at", "datetime"),
        Column("updated_at", "updated_at", "datetime"),
        Column("function_id", "function_id"),
        Column("entrypoint", "entrypoint"),
        Column("size", "size", "int"),
        Column("build_id", "build_id"),
        Column("activate", "activate", "bool"),
        Column("path", "path"),
        Column("chunks_total", "chunks_total", "int"),
        Column("chunks_uploaded", "chunks_uploaded", "int"),
    ],
).with_search()

BUILDS = Record(
    "builds",
    Build,
    [
        Column("id", "id"),
        Column("created_at", "created_at", "datetime"),
        Column("updated_at", "updated_at", "datetime"),
        Column("deployment_id", "deployment_id"),
        Column("runtime", "runtime"),
        Column("status", "status"),
        Column("stdout", "stdout"),
        Column("stderr", "stderr"),
        Column("started_at", "started_at", "datetime"),
        Column("duration", "duration", "int"),
        Column("path", "path"),
    ],
)


class DeploymentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _attach_builds(self, deployments: list[Deployment]) -> list[Deployment]:
        ids = [d.build_id for d in deployments if d.build_id]
        if ids:
            rows = await self.db.fetch_all(
                f"SELECT * FROM builds WHERE id IN ({', '.join('?' * len(ids))})", ids
            )
            builds = {b.id: b for b in (BUILDS.from_row(r) for r in rows)}
            for deployment in deployments:
                deployment.build = builds.get(deployment.build_id)
        return deployments

    async def insert(self, deployment: Deployment) -> None:
        await DEPLOYMENTS.insert(self.db, deployment)

    async def save(self, deployment: Deployment) -> None:
        await DEPLOYMENTS.update(self.db, deployment)

    async def get(self, deployment_id: str) -> Deployment | None:
        deployment = await DEPLOYMENTS.get(self.db, deployment_id)
        if deployment is None:
            return None
        return (await self._attach_builds([deployment]))[0]

    async def delete(self, deployment_id: str) -> None:
        await DEPLOYMENTS.delete(self.db, deployment_id)

    async def for_function(self, function_id: str) -> list[Deployment]:
        rows = await self.db.fetch_all(
            "SELECT * FROM deployments WHERE function_id = ? ORDER BY seq", [function_id]
        )
        return await self._attach_builds([DEPLOYMENTS.from_row(r) for r in rows])

    async def deactivate_others(self, function_id: str, keep: str) -> None:
        await self.db.write(
            "UPDATE deployments SET activate = 0 WHERE function_id = ? AND id != ? AND activate = 1",
            [function_id, keep],
        )

    async def page(
        self, function_id: str, query: ListQuery, search: str | None
    ) -> tuple[int, list[Deployment]]:
        total, deployments = await DEPLOYMENTS.page(
            self.db, TABLE, query, search, {"function_id": function_id}
        )
        return total, await self._attach_builds(deployments)

    # builds

    async def insert_build(self, build: Build) -> None:
        await BUILDS.insert(self.db, build)

    async def save_build(self, build: Build) -> None:
        await BUILDS.update(self.db, build)

    async def get_build(self, build_id: str) -> Build | None:
        return await BUILDS.get(self.db, build_id)

    async def delete_build(self, build_id: str) -> None:
        await BUILDS.delete(self.db, build_id)

    async def unfinished_builds(self) -> list[Build]:
        rows = await self.db.fetch_all(
            "SELECT * FROM builds WHERE status IN ('processing', 'building') ORDER BY seq"
        )
        return [BUILDS.from_row(r) for r in rows]
