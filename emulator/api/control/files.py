"""Control routes: the files of a project-mode function's folder, for the console's code editor.

Only files under the folder appwrite.json names; a save is an editor's save (the watcher deploys).
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.api.endpoint import Call, JSONResponse, endpoint
from emulator.api.functions import FUNCTION_ID
from emulator.api.params import Param
from emulator.backend import sources
from emulator.validators import Text

PATH = Param("path", Text(1024))


@endpoint("emulator.write")
async def list_folders(call: Call) -> Response:
    """Which functions have a project folder (and where)."""
    folders = [
        {"functionId": function_id, "path": str(path)}
        for function_id, path in sorted(call.ctx.folders.items())
    ]
    return JSONResponse({"total": len(folders), "folders": folders})


@endpoint("emulator.write", [FUNCTION_ID])
async def list_files(call: Call) -> Response:
    files = await sources.list_files(call.ctx, call.params["functionId"])
    documents = [f.to_document() for f in files]
    return JSONResponse({"total": len(documents), "files": documents})


@endpoint("emulator.write", [FUNCTION_ID, PATH])
async def get_file(call: Call) -> Response:
    p = call.params
    content = await sources.read_file(call.ctx, p["functionId"], p["path"])
    return JSONResponse({"path": p["path"], "content": content})


@endpoint("emulator.write", [FUNCTION_ID, PATH, Param("content", Text(0, min_length=0))])
async def update_file(call: Call) -> Response:
    """Save the file (created when new); the project watcher deploys the folder again."""
    p = call.params
    saved = await sources.write_file(call.ctx, p["functionId"], p["path"], p["content"])
    return JSONResponse(saved.to_document())


_BASE = "/v1/emulator/functions/{functionId}/files"
routes: list[BaseRoute] = [
    Route("/v1/emulator/folders", list_folders, methods=["GET"]),
    Route(_BASE, list_files, methods=["GET"]),
    Route(_BASE + "/{path:path}", get_file, methods=["GET"]),
    Route(_BASE + "/{path:path}", update_file, methods=["PUT"]),
]
