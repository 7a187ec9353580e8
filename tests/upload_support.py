"""A raw BITS upload client for the upload server tests: every byte on the wire is the test's.

``BitsConnection`` keeps one TCP connection (as the Windows client does) and sends ``BITS_POST``
requests exactly as given; ``Response`` keeps the raw head for byte-exact checks. ``BitsUploader``
runs the protocol on top (Create-Session, fragments, Close) for tests that need a whole upload.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import EngineProcess

PROTOCOL = "{7df0354d-249b-430f-820d-3d2a9bef4931}"


@dataclass
class Response:
    status: int
    head: bytes  # status line and headers, up to and including the blank line
    headers: dict[str, str] = field(default_factory=dict)  # names lower-case
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class BitsConnection:
    """One keep-alive connection to the engine's HTTP port; reconnects when the server closed it."""

    def __init__(
        self, port: int, host: str = "127.0.0.1", timeout: float = 60.0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.port = port
        self.host = host
        self.timeout = timeout
        self.tls = tls
        self.sock: socket.socket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buffer = b""

    def __enter__(self) -> BitsConnection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _connect(self) -> socket.socket:
        if self.sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_hostname="localhost")
            self.sock = sock
            self.buffer = b""
        return self.sock

    def send_raw(self, data: bytes | Iterator[bytes]) -> Response:
        """Send bytes (or chunks) as they are and read one response."""
        sock = self._connect()
        if isinstance(data, bytes):
            sock.sendall(data)
        else:
            for chunk in data:
                sock.sendall(chunk)
        return self.read_response()

    def request(
        self,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes | Iterator[bytes] = b"",
        method: str = "BITS_POST",
    ) -> Response:
        """A request with exactly ``headers`` (plus Host first); body bytes follow the head."""
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
        if isinstance(body, bytes):
            return self.send_raw(head.encode("latin-1") + body)

        def chunks() -> Iterator[bytes]:
            yield head.encode("latin-1")
            yield from body

        return self.send_raw(chunks())

    def read_response(self) -> Response:
        sock = self._connect()
        while b"\r\n\r\n" not in self.buffer:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError(f"connection closed before a response: {self.buffer!r}")
            self.buffer += data
        end = self.buffer.index(b"\r\n\r\n") + 4
        head, self.buffer = self.buffer[:end], self.buffer[end:]
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            data = sock.recv(65536)
            if not data:
                break
            self.buffer += data
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, head, headers, body)


def packet(kind: str, session_id: str | None = None, **extra: str) -> list[tuple[str, str]]:
    """Headers of a body-less packet, Content-Length last (as the Windows client orders them)."""
    headers = [("BITS-Packet-Type", kind)]
    if session_id is not None:
        headers.append(("BITS-Session-Id", session_id))
    headers.extend((name.replace("_", "-"), value) for name, value in extra.items())
    headers.append(("Content-Length", "0"))
    return headers


def fragment_headers(
    session_id: str, first: int, last: int, total: int, length: int | None = None
) -> list[tuple[str, str]]:
    return [
        ("BITS-Packet-Type", "Fragment"),
        ("BITS-Session-Id", session_id),
        ("Content-Name", "upload.bin"),
        ("Content-Range", f"bytes {first}-{last}/{total}"),
        ("Content-Length", str(last - first + 1 if length is None else length)),
    ]


class BitsUploader:
    """The upload protocol over a ``BitsConnection`` (no retries: the tests decide what happens)."""

    def __init__(self, conn: BitsConnection, path: str) -> None:
        self.conn = conn
        self.path = path
        self.session_id: str | None = None

    def create(self) -> Response:
        r = self.conn.request(self.path, packet("Create-Session", BITS_Supported_Protocols=PROTOCOL))
        if r.status == 200:
            self.session_id = r.header("BITS-Session-Id")
        return r

    def fragment(self, first: int, data: bytes, total: int) -> Response:
        assert self.session_id is not None
        headers = fragment_headers(self.session_id, first, first + len(data) - 1, total)
        return self.conn.request(self.path, headers, data)

    def close(self) -> Response:
        return self.conn.request(self.path, packet("Close-Session", self.session_id))

    def cancel(self) -> Response:
        return self.conn.request(self.path, packet("Cancel-Session", self.session_id))

    def upload(self, data: bytes, fragment: int = 1 << 20, close: bool = True) -> None:
        """A whole upload from offset 0, following the server's offset; asserts every Ack is 200."""
        r = self.create()
        assert r.status == 200, r.head
        offset = 0
        while offset < len(data):
            r = self.fragment(offset, data[offset : offset + fragment], len(data))
            assert r.status == 200, r.head
            offset = int(r.headers["bits-received-content-range"])
        if close:
            r = self.close()
            assert r.status == 200, r.head


DATE = re.compile(rb"\r\nDate: [^\r]+\r\n")


def normalized(head: bytes, session_id: str | None = None) -> bytes:
    """A response head with its Date (and the given session id) replaced by placeholders."""
    out = DATE.sub(b"\r\nDate: <date>\r\n", head)
    if session_id:
        out = out.replace(session_id.encode("ascii"), b"{SESSION}")
    return out


def upload_group(engine: EngineProcess, port: int, folder: Path, **settings: Any) -> str:
    """A URL group with uploads on and the directory URL ``files`` publishing ``folder``."""
    prefix = f"http://+:{port}/upload/"
    engine.call("urlgroup.create", urlGroup=prefix, uploadEnabled=True, **settings)
    engine.call("url.create", urlGroup=prefix, urlSuffix="files", sourcePath=str(folder))
    return prefix
