"""HTTP handlers of the deployment and build operations."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.responses import Response
from starlette.routing import Route

from emulator.api.endpoint import Call, JSONResponse, endpoint, no_content
from emulator.api.functions import FUNCTION_ID, QUERIES, SEARCH
from emulator.api.headers import parse_content_range, parse_upload_id
from emulator.api.params import Param
from emulator.backend import deployments as backend
from emulator.models import list_document
from emulator.queries import DEPLOYMENTS_SCHEMA, parse_queries
from emulator.validators import UID, Boolean, Text, to_bool

DEPLOYMENT_ID = Param("deploymentId", UID())


@endpoint(
    "functions.write",
    [
        FUNCTION_ID,
        Param("entrypoint", Text(1028)),
        Param("code", optional=True),
        Param("activate", Boolean(loose=True), convert=to_bool),
    ],
)
async def create_deployment(call: Call) -> Response:
    p = call.params
    upload = p["code"] if isinstance(p["code"], UploadFile) else None
    code = upload.file if upload else None
    filename = (upload.filename or "") if upload else ""
    # 1.3 checks the function and the file before it reads the chunk headers.
    await backend.check_upload(call.ctx, p["functionId"], code, filename)
    content_range = parse_content_range(call.request.headers.get("content-range"))
    upload_id = parse_upload_id(call.request.headers.get("x-appwrite-id"), content_range)
    deployment = await backend.create_deployment(
        call.ctx,
        p["functionId"],
        entrypoint=p["entrypoint"],
        activate=p["activate"],
        code=code,
        filename=filename,
        content_range=content_range,
        upload_id=upload_id,
    )
    # Right after the upload request the build does not exist yet: 1.3 shows status "".
    return JSONResponse(deployment.to_document(status=""), status_code=202)


@endpoint("functions.read", [FUNCTION_ID, QUERIES, SEARCH])
async def list_deployments(call: Call) -> Response:
    p = call.params
    query = parse_queries(p["queries"], DEPLOYMENTS_SCHEMA)
    total, deployments = await backend.list_deployments(
        call.ctx, p["functionId"], query, p["search"]
    )
    documents = [d.to_document(build_time=True) for d in deployments]
    return JSONResponse(list_document("deployments", total, documents))


@endpoint("functions.read", [FUNCTION_ID, DEPLOYMENT_ID])
async def get_deployment(call: Call) -> Response:
    p = call.params
    deployment = await backend.get_deployment(call.ctx, p["functionId"], p["deploymentId"])
    return JSONResponse(deployment.to_document())


@endpoint("functions.write", [FUNCTION_ID, DEPLOYMENT_ID])
async def update_deployment(call: Call) -> Response:
    p = call.params
    fn = await backend.update_deployment(call.ctx, p["functionId"], p["deploymentId"])
    return JSONResponse(fn.to_document())


@endpoint("functions.write", [FUNCTION_ID, DEPLOYMENT_ID])
async def delete_deployment(call: Call) -> Response:
    p = call.params
    await backend.delete_deployment(call.ctx, p["functionId"], p["deploymentId"])
    return no_content()


@endpoint("functions.write", [FUNCTION_ID, DEPLOYMENT_ID, Param("buildId", UID())])
async def create_build(call: Call) -> Response:
    p = call.params
    await backend.create_build(call.ctx, p["functionId"], p["deploymentId"], p["buildId"])
    return no_content()


_BASE = "/v1/functions/{functionId}/deployments"
routes = [
    Route(_BASE, create_deployment, methods=["POST"]),
    Route(_BASE, list_deployments, methods=["GET"]),
    Route(_BASE + "/{deploymentId}", get_deployment, methods=["GET"]),
    Route(_BASE + "/{deploymentId}", update_deployment, methods=["PATCH"]),
    Route(_BASE + "/{deploymentId}", delete_deployment, methods=["DELETE"]),
    Route(_BASE + "/{deploymentId}/builds/{buildId}", create_build, methods=["POST"]),
]
