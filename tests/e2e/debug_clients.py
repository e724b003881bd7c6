"""Two real debugger clients, as small as the tests need: Chrome DevTools Protocol over the Node
inspector's WebSocket (with a minimal RFC 6455 client), and the Debug Adapter Protocol over
debugpy's socket (Content-Length framed JSON). Both offer the same few steps: set a breakpoint,
wait for the pause (file, line, local variables), resume, detach.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import httpx

TIMEOUT = 30.0


def connect(port: int, timeout: float = TIMEOUT) -> socket.socket:
    """A connection to 127.0.0.1:`port`, retried while nothing listens there yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        sock.settimeout(timeout)
        return sock


@dataclass(frozen=True)
class Pause:
    """Where an execution stopped: the file as the debugger names it, the line (1-based), and the
    local variables of the top frame (their values as the debugger shows them)."""

    path: str
    line: int
    locals: dict[str, str]


class WebSocket:
    """Text messages over one client WebSocket (unfragmented sends, masked as clients must)."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        assert parsed.port is not None
        self.sock = connect(parsed.port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {parsed.path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self._buffer = b""
        head = self._read_until(b"\r\n\r\n")
        assert head.split(b"\r\n", 1)[0].split()[1] == b"101", head

    def send(self, text: str) -> None:
        payload = text.encode()
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x81, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def receive(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            opcode, size = first & 0x0F, second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", self._read(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", self._read(8))
            payload = self._read(size)
            if opcode == 0x8:
                raise ConnectionError("the WebSocket was closed")
            if opcode == 0x9:  # ping: answer, keep reading
                self.sock.sendall(
                    struct.pack("!BB", 0x8A, 0x80 | len(payload)) + b"\0" * 4 + payload
                )
                continue
            message += payload
            if first & 0x80:
                return message.decode()

    def close(self) -> None:
        self.sock.close()

    def _read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the connection was closed")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the connection was closed")
            self._buffer += chunk
        head, self._buffer = self._buffer.split(marker, 1)
        return head


class NodeInspector:
    """A Chrome DevTools Protocol client of the Node inspector on 127.0.0.1:`port`."""

    def __init__(self, port: int) -> None:
        deadline = time.monotonic() + TIMEOUT
        while True:  # until the inspector answers (a worker may be starting)
            try:
                connect(port).close()
                targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=TIMEOUT).json()
                self.ws = WebSocket(targets[0]["webSocketDebuggerUrl"])
                break
            except (OSError, httpx.HTTPError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._id = 0
        self._events: list[dict[str, Any]] = []
        self._scripts: dict[str, str] = {}  # script ID -> URL, from Debugger.scriptParsed
        self.call("Runtime.enable")
        self.call("Debugger.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == self._id:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result
            self._events.append(message)

    def event(self, method: str) -> dict[str, Any]:
        for index, message in enumerate(self._events):
            if message.get("method") == method:
                return self._events.pop(index)
        while True:
            message = self._receive()
            if message.get("method") == method:
                return message
            self._events.append(message)

    def _receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.ws.receive())
        if message.get("method") == "Debugger.scriptParsed":
            self._scripts[message["params"]["scriptId"]] = message["params"]["url"]
        return message

    def set_breakpoint(self, path: str, line: int) -> None:
        found = self.call("Debugger.setBreakpointByUrl", url=f"file://{path}", lineNumber=line - 1)
        assert found["locations"], f"no script at {path}"

    def wait_paused(self) -> Pause:
        paused = self.event("Debugger.paused")["params"]
        frame = paused["callFrames"][0]
        values: dict[str, str] = {}
        for scope in frame["scopeChain"]:  # the innermost blocks, then the function's own
            if scope["type"] not in ("block", "local"):
                continue
            props = self.call(
                "Runtime.getProperties", objectId=scope["object"]["objectId"], ownProperties=True
            )
            for prop in props["result"]:
                if "value" in prop and prop["name"] not in values:
                    shown = prop["value"].get("value", prop["value"].get("description"))
                    values[prop["name"]] = str(shown)
        url = self._scripts[frame["location"]["scriptId"]]
        path = unquote(urlparse(url).path)
        return Pause(path, frame["location"]["lineNumber"] + 1, values)

    def resume(self) -> None:
        self.call("Debugger.resume")

    def detach(self) -> None:
        """Go away without resuming, as a closed DevTools window does."""
        self.ws.close()


class Debugpy:
    """A Debug Adapter Protocol client of debugpy on 127.0.0.1:`port`, attaching as VS Code does."""

    def __init__(self, port: int) -> None:
        self.sock = connect(port)
        self._buffer = b""
        self._seq = 0
        self._events: list[dict[str, Any]] = []
        self.thread_id = 0
        self._configured = False
        self.request(
            "initialize",
            clientID="tests",
            adapterID="debugpy",
            pathFormat="path",
            linesStartAt1=True,
            columnsStartAt1=True,
        )
        self._seq += 1
        self._attach_seq = self._seq
        self._send({"seq": self._seq, "type": "request", "command": "attach", "arguments": {}})
        self.wait_event("initialized")

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def _read(self) -> dict[str, Any]:
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        head, rest = self._buffer.split(b"\r\n\r\n", 1)
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        self._buffer = rest
        while len(self._buffer) < length:
            self._fill()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        message: dict[str, Any] = json.loads(body)
        return message

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("debugpy closed the connection")
        self._buffer += chunk

    def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        self._seq += 1
        seq = self._seq
        self._send({"seq": seq, "type": "request", "command": command, "arguments": arguments})
        while True:
            message = self._read()
            if message.get("type") == "response" and message.get("request_seq") == seq:
                assert message["success"], message
                body: dict[str, Any] = message.get("body", {})
                return body
            self._events.append(message)

    def wait_event(self, name: str) -> dict[str, Any]:
        for index, message in enumerate(self._events):
            if message.get("event") == name:
                return self._events.pop(index)
        while True:
            message = self._read()
            if message.get("event") == name:
                return message
            self._events.append(message)

    def set_breakpoint(self, path: str, line: int) -> None:
        body = self.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": line}])
        assert body["breakpoints"][0]["verified"], body
        if not self._configured:
            self.request("configurationDone")
            self._configured = True

    def wait_paused(self) -> Pause:
        stopped = self.wait_event("stopped")["body"]
        self.thread_id = stopped["threadId"]
        frame = self.request("stackTrace", threadId=self.thread_id)["stackFrames"][0]
        scopes = self.request("scopes", frameId=frame["id"])["scopes"]
        local = next(s for s in scopes if s.get("presentationHint") == "locals")
        found = self.request("variables", variablesReference=local["variablesReference"])
        values = {v["name"]: v["value"] for v in found["variables"]}
        return Pause(frame["source"]["path"], frame["line"], values)

    def resume(self) -> None:
        self.request("continue", threadId=self.thread_id)

    def detach(self) -> None:
        """Disconnect without ending the program, as VS Code's detach does."""
        self.request("disconnect", terminateDebuggee=False)
        self.sock.close()
