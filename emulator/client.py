"""A small blocking client of the emulator's REST API on the standard library alone (no SDK
needed): calls with the API key, JSON in and out, Appwrite error answers raised as `EmulatorError`.
"""

from __future__ import annotations

import http.client
import json
import secrets
import urllib.parse
from collections.abc import Mapping
from typing import Any


class EmulatorError(Exception):
    """The emulator answered a request with an Appwrite error.

    Attributes:
        message, code, type: the error body's fields (`type` like `function_not_found`).
        response: the whole decoded body.
    """

    def __init__(self, message: str, code: int, type: str, response: Any = None) -> None:
        super().__init__(f"{code} {type}: {message}")
        self.message, self.code, self.type, self.response = message, code, type, response


class ApiClient:
    """Calls `http://HOST:PORT/v1/...` as the project's API key; one connection per call."""

    def __init__(
        self, host: str, port: int, project_id: str, api_key: str, timeout: float = 120.0
    ) -> None:
        self.host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        self.port = port
        self.timeout = timeout
        self.headers = {"X-Appwrite-Project": project_id, "X-Appwrite-Key": api_key}

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """One call; `params` is the JSON body, or the query string of a GET.

        Returns:
            The decoded JSON answer; None for an empty one (204).

        Raises:
            EmulatorError: the emulator answered with an error.
        """
        if method == "GET":
            query = urllib.parse.urlencode(params or {}, doseq=True)
            return self._send(method, path + (f"?{query}" if query else ""), None, "")
        body = json.dumps(params or {}).encode()
        return self._send(method, path, body, "application/json")

    def upload(self, path: str, fields: Mapping[str, str], file_field: str, data: bytes) -> Any:
        """A multipart POST: text `fields` plus `data` as the gzip file `file_field`."""
        boundary = secrets.token_hex(16)
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in fields.items()
        ]
        head = "".join(parts) + (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
            'filename="code.tar.gz"\r\nContent-Type: application/gzip\r\n\r\n'
        )
        body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return self._send("POST", path, body, f"multipart/form-data; boundary={boundary}")

    def _send(self, method: str, path: str, body: bytes | None, content_type: str) -> Any:
        headers = {**self.headers, "Content-Type": content_type} if content_type else self.headers
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request(method, "/v1" + path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        is_json = response.getheader("Content-Type", "").startswith("application/json")
        decoded = json.loads(raw) if raw and is_json else None
        if response.status >= 400:
            error = decoded if isinstance(decoded, dict) else {}
            message = str(error.get("message", raw[:500].decode("utf-8", "replace")))
            raise EmulatorError(message, response.status, str(error.get("type", "")), decoded)
        return decoded
