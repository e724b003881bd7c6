"""Appwrite's error types: one class per `type`, with its HTTP code and default message pinned.

Raise them anywhere below the HTTP layer; `app.py` renders every one as
`{"message", "code", "type", "version"}`.
"""

from __future__ import annotations

from typing import ClassVar

APPWRITE_VERSION = "1.3.8"


class AppwriteException(Exception):
    """Base of every error that reaches the client as an Appwrite error body."""

    type: ClassVar[str] = "general_unknown"
    code: ClassVar[int] = 500
    default_message: ClassVar[str] = "Server Error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        self.headers: dict[str, str] = {}  # extra response headers (e.g. X-RateLimit-*)
        super().__init__(self.message)

    def to_json(self) -> dict[str, object]:
        return {
            "message": self.message,
            "code": self.code,
            "type": self.type,
            "version": APPWRITE_VERSION,
        }


class GeneralUnknown(AppwriteException):
    pass


class GeneralServerError(AppwriteException):
    type = "general_server_error"
    default_message = "Server Error"


class GeneralArgumentInvalid(AppwriteException):
    type = "general_argument_invalid"
    code = 400
    default_message = "Invalid argument"


class GeneralCursorNotFound(AppwriteException):
    type = "general_cursor_not_found"
    code = 400
    default_message = "Cursor not found"


class GeneralRouteNotFound(AppwriteException):
    type = "general_route_not_found"
    code = 404
    default_message = "Not Found"


class GeneralUsageDisabled(AppwriteException):
    type = "general_usage_disabled"
    code = 501
    default_message = (
        "Usage stats is not configured. Please check the value of the _APP_USAGE_STATS "
        "environment variable of your Appwrite server."
    )


class UserJwtInvalid(AppwriteException):
    type = "user_jwt_invalid"
    code = 401
    default_message = "Failed to verify JWT."


class GeneralUnauthorizedScope(AppwriteException):
    type = "general_unauthorized_scope"
    code = 401
    default_message = "The current user or API key does not have the required scopes to access the requested resource."


class GeneralRateLimitExceeded(AppwriteException):
    type = "general_rate_limit_exceeded"
    code = 429
    default_message = (
        "Rate limit for the current endpoint has been exceeded. Please try again after some time."
    )


class GeneralUnknownOrigin(AppwriteException):
    type = "general_unknown_origin"
    code = 403
    default_message = "Invalid Origin."

    @classmethod
    def for_host(cls, host: str) -> GeneralUnknownOrigin:
        return cls(
            f"Invalid Origin. Register your new client ({host}) as a new Web platform on your "
            "project console dashboard"
        )


class GeneralRequestBodyTooLarge(AppwriteException):
    """Answered by the HTTP layer before the request reaches an operation (1.3's HTTP server
    answers a bare 413 there)."""

    type = "general_request_body_too_large"
    code = 413
    default_message = "The request body is too large."


class GeneralRequestHeadersTooLarge(AppwriteException):
    """Answered by the HTTP server itself, before the request reaches the app."""

    type = "general_request_headers_too_large"
    code = 431
    default_message = "The request line and headers are too large."


class ProjectNotFound(AppwriteException):
    type = "project_not_found"
    code = 404
    default_message = (
        "Project with the requested ID could not be found. Please check the value of the "
        "X-Appwrite-Project header to ensure the correct project ID is being used."
    )


class UserUnauthorized(AppwriteException):
    type = "user_unauthorized"
    code = 401
    default_message = "The current user is not authorized to perform the requested action."


class FunctionNotFound(AppwriteException):
    type = "function_not_found"
    code = 404
    default_message = "Function with the requested ID could not be found."


class FunctionAlreadyExists(AppwriteException):
    type = "function_already_exists"
    code = 409
    default_message = "Function with the requested ID already exists."


class FunctionRuntimeUnsupported(AppwriteException):
    type = "function_runtime_unsupported"
    code = 404
    default_message = "The requested runtime is either inactive or unsupported. Please check the value of the _APP_FUNCTIONS_RUNTIMES environment variable."


class DeploymentNotFound(AppwriteException):
    type = "deployment_not_found"
    code = 404
    default_message = "Deployment with the requested ID could not be found."


class BuildNotFound(AppwriteException):
    type = "build_not_found"
    code = 404
    default_message = "Build with the requested ID could not be found."


class BuildNotReady(AppwriteException):
    type = "build_not_ready"
    code = 400
    default_message = "Build with the requested ID is building and not ready for execution."


class BuildInProgress(AppwriteException):
    type = "build_in_progress"
    code = 400
    default_message = (
        "Build with the requested ID is already in progress. Please wait before you can retry."
    )


class ExecutionNotFound(AppwriteException):
    type = "execution_not_found"
    code = 404
    default_message = "Execution with the requested ID could not be found."


class VariableNotFound(AppwriteException):
    type = "variable_not_found"
    code = 404
    default_message = "Variable with the requested ID could not be found."


class VariableAlreadyExists(AppwriteException):
    type = "variable_already_exists"
    code = 409
    default_message = "Variable with the same ID already exists in your project."


class StorageFileEmpty(AppwriteException):
    type = "storage_file_empty"
    code = 400
    default_message = "Empty file passed to the endpoint."


class StorageFileTypeUnsupported(AppwriteException):
    type = "storage_file_type_unsupported"
    code = 400
    default_message = "The given file extension is not supported."


class StorageInvalidContentRange(AppwriteException):
    type = "storage_invalid_content_range"
    code = 400
    default_message = (
        "The content range is invalid. Please check the value of the Content-Range header."
    )


class StorageInvalidFileSize(AppwriteException):
    type = "storage_invalid_file_size"
    code = 400
    default_message = (
        "The file size is either not valid or exceeds the maximum allowed size. Please check the "
        "file or the value of the _APP_STORAGE_LIMIT environment variable."
    )


class StorageInvalidFile(AppwriteException):
    type = "storage_invalid_file"
    code = 403
    default_message = "The uploaded file is invalid. Please check the file and try again."


class StorageFileNotFound(AppwriteException):
    type = "storage_file_not_found"
    code = 404
    default_message = "The requested file could not be found."
