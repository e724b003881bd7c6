"""The web console: `GET /console` serves its page and `/console/...` its scripts and styles
(files of the package's `console/` folder); `GET /` redirects to it.

The page talks to the public API with the API key. The key is written into the page only when
both ends are this machine: the emulator listens on a loopback address, the request comes from
one and names one in `Host` (so a site that rebinds its name to 127.0.0.1 gets no key), and it is
not a cross-site request. Anywhere else the page asks for the key and keeps it in the browser's
session storage. Console responses carry no CORS headers, so other origins cannot read them.
"""

from __future__ import annotations

import html
import ipaddress
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator.config import Settings
from emulator.errors import APPWRITE_VERSION

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache, no-store, must-revalidate",
}


def is_loopback(host: str) -> bool:
    """A loopback address or `localhost` (brackets and a port allowed: `[::1]:8800`)."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def may_embed_key(settings: Settings, request: Request) -> bool:
    """Whether this request may receive a page that holds the API key (see the module's doc)."""
    client = request.client.host if request.client else ""
    if not (is_loopback(settings.host) and is_loopback(client)):
        return False
    if not is_loopback(request.headers.get("host", "")):
        return False
    if request.headers.get("sec-fetch-site", "none") not in ("none", "same-origin"):
        return False
    origin = request.headers.get("origin")
    return origin is None or is_loopback(origin.split("://", 1)[-1])


def render_page(settings: Settings, with_key: bool) -> str:
    page = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    values = {
        "{{PROJECT_ID}}": settings.project_id,
        "{{API_KEY}}": settings.api_key if with_key else "",
        "{{VERSION}}": APPWRITE_VERSION,
    }
    for placeholder, value in values.items():
        page = page.replace(placeholder, html.escape(value, quote=True))
    return page


def _asset(relative: str) -> Path | None:
    """A file of the console folder with a known type, or None (never outside the folder)."""
    if not relative or "\\" in relative or relative.startswith("/"):
        return None
    path = (CONSOLE_DIR / relative).resolve()
    if not path.is_relative_to(CONSOLE_DIR) or path.suffix not in MEDIA_TYPES:
        return None
    return path if path.is_file() else None


async def console_response(request: Request) -> Response:
    path = request.url.path.rstrip("/") or "/"
    if path == "/":
        return RedirectResponse("/console", status_code=307)
    if request.method not in ("GET", "HEAD"):
        return PlainTextResponse("Method Not Allowed", status_code=405, headers=SECURITY_HEADERS)
    settings: Settings = request.app.state.ctx.settings
    if path == "/console":
        page = render_page(settings, may_embed_key(settings, request))
        return Response(page, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)
    asset = _asset(path.removeprefix("/console/"))
    if asset is None:
        return PlainTextResponse("Not Found", status_code=404, headers=SECURITY_HEADERS)
    return Response(
        asset.read_bytes(), media_type=MEDIA_TYPES[asset.suffix], headers=SECURITY_HEADERS
    )


class ServeConsole:
    """ASGI middleware that answers `/`, `/console` and `/console/...` itself, before the API's
    headers (CORS) are added; every other request goes on to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path in ("/", "/console", "/console/") or path.startswith("/console/"):
                response = await console_response(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
