"""Which browser origins may use the emulator: loopback ones always, others when configured.

1.3 only lets registered web platforms write without an API key (403 `general_unknown_origin`),
and reflects only those in CORS. The emulator has no platforms: any port of `localhost`,
`127.0.0.1` and `[::1]` is allowed, plus the origins given with `--cors-origin` (`*`: any).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.requests import Request

from emulator.config import Settings, normalize_origin
from emulator.errors import GeneralUnknownOrigin

_LOOPBACK = re.compile(r"https?://(?:localhost|127\.0\.0\.1|\[::1\])(?::[0-9]{1,5})?")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def origin_allowed(origin: str, configured: Collection[str]) -> bool:
    """Whether a browser page at `origin` may call the API (and see its answers).

    Args:
        origin: the request's `Origin` header.
        configured: normalized extra origins (`Settings.cors_origins`); `*` allows any.
    """
    origin = normalize_origin(origin)
    return bool(_LOOPBACK.fullmatch(origin)) or origin in configured or "*" in configured


def check_origin(request: Request, settings: Settings) -> None:
    """1.3's origin check, which comes after the project check and before the scope check: a
    write without an API key from a browser origin that is not allowed is refused. Requests
    without an `Origin` (not from a browser) and reads pass.

    Raises:
        GeneralUnknownOrigin: with the origin's host in the message.
    """
    origin = request.headers.get("origin")
    if origin is None or request.method not in _WRITES or request.headers.get("x-appwrite-key"):
        return
    project = request.headers.get("x-appwrite-project") or request.query_params.get("project")
    if project and project != settings.project_id:
        return  # project_not_found wins
    if not origin_allowed(origin, settings.cors_origins):
        try:
            host = urlsplit(origin.strip()).hostname or ""
        except ValueError:
            host = ""
        raise GeneralUnknownOrigin.for_host(host)
