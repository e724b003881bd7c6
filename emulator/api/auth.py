"""Who is calling: the project header, the API key, and the scope check."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from starlette.requests import Request

from emulator.config import Settings
from emulator.errors import (
    FunctionNotFound,
    GeneralUnauthorizedScope,
    ProjectNotFound,
    UserJwtInvalid,
)

GUEST_SCOPES = frozenset({"execution.write"})


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request."""

    is_key: bool
    roles: tuple[str, ...] = field(default=("any", "guests"))
    user_id: str = ""

    @property
    def role_label(self) -> str:
        return "applications" if self.is_key else "guests"

    @property
    def sees_logs(self) -> bool:
        """API keys (and console admins) see stdout/stderr; everyone else gets them blanked."""
        return self.is_key


def authorize(request: Request, settings: Settings, scope: str) -> Caller:
    """Resolve the caller and check that it holds `scope`, in 1.3's order.

    Raises:
        ProjectNotFound: the project header names another project.
        GeneralUnauthorizedScope: the caller lacks `scope`.
    """
    project = request.headers.get("x-appwrite-project") or request.query_params.get("project")
    key = request.headers.get("x-appwrite-key", "")
    if project and project != settings.project_id:
        raise ProjectNotFound()
    jwt = request.headers.get("x-appwrite-jwt", "")
    if jwt:
        # The emulator has no accounts (README: "Where the emulator knowingly differs from Appwrite 1.3"), so no JWT can verify.
        reason = "Signature failed" if jwt.count(".") == 2 else "Incomplete segments"
        raise UserJwtInvalid(f"Failed to verify JWT. Invalid token: {reason}")
    is_key = bool(project) and bool(key) and hmac.compare_digest(key, settings.api_key)
    caller = Caller(is_key=True, roles=("any",)) if is_key else Caller(is_key=False)
    if not is_key and scope not in GUEST_SCOPES:
        raise GeneralUnauthorizedScope(f"User (role: {caller.role_label}) missing scope ({scope})")
    if not project:
        # No project header means 1.3's `console` project, which has no functions: a guest may
        # pass the scope check (execution.write) but never finds the function.
        raise FunctionNotFound()
    return caller
