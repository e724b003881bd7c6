"""Hostile and malformed input: the ASGI app in-process, and the real `serve` command on a free
port for what only the HTTP server sees (header sizes, `Server` headers, bodies on the wire)."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator

import pytest
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import Settings
from tests.conftest import API_KEY, PROJECT_ID
from tests.e2e.conftest import Server, start_server

KEY_HEADERS = {"X-Appwrite-Project": PROJECT_ID, "X-Appwrite-Key": API_KEY}
AS_GUEST = {"X-Appwrite-Key": ""}
CORS_ORIGIN = "https://app.example.com"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        test_client.headers.update(KEY_HEADERS)
        yield test_client


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`appwrite-emulator serve` in its own process, allowing one extra CORS origin."""
    root = tmp_path_factory.mktemp("live")
    project = root / "project"
    project.mkdir()
    server = start_server(project, root / "data", "--cors-origin", CORS_ORIGIN)
    try:
        yield server
    finally:
        server.stop()


def address(server: Server) -> tuple[str, int]:
    host, port = server.endpoint.split("//")[1].split("/")[0].split(":")
    return host, int(port)


def raw_exchange(server: Server, head: bytes, body_chunks: Iterable[bytes] = ()) -> bytes:
    """Send `head` (and then `body_chunks` while the server listens) on a fresh connection; return
    everything the server answered before closing or going quiet for 5 s."""
    with socket.create_connection(address(server), timeout=5) as sock:
        try:
            sock.sendall(head)
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: read what it said
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
                if _complete(received):
                    break
        except (TimeoutError, ConnectionResetError):
            pass
        return received


def _complete(received: bytes) -> bool:
    head, separator, body = received.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
