"""Hostile clients against a real engine: absurd numbers, bare line ends."""

from __future__ import annotations

import http.client
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import EngineProcess, free_port

MB = 1_000_000
HUGE = "9" * 4400  # more digits than int() converts by default (sys.get_int_max_str_digits: 4300)


def publish(engine: EngineProcess, port: int, urls: dict[str, Path], **settings: Any) -> str:
    prefix = f"http://+:{port}/Demo/"
    engine.call("urlgroup.create", urlGroup=prefix, **settings)
    for suffix, source in urls.items():
        engine.call("url.create", urlGroup=prefix, urlSuffix=suffix, sourcePath=str(source))
    return prefix


def fetch(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def exchange(port: int, request: bytes, timeout: float = 5.0) -> tuple[bytes, float]:
    """Send ``request`` raw; returns what came back until the server closed, and how long it took."""
    started = time.monotonic()
    got = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except TimeoutError:
            pass
        except ConnectionResetError:
            pass
    return bytes(got), time.monotonic() - started


def closed_after(
    sock: socket.socket, within: float, trickle: bytes = b"", every: float = 0.2
) -> float | None:
    """Seconds until the server closes ``sock`` (None: still open after ``within``).

    ``trickle``: bytes sent one at a time every ``every`` seconds meanwhile (a slowloris client).
    """
    started = time.monotonic()
    sock.settimeout(every)
    sent = 0
    while time.monotonic() - started < within:
        try:
            if not sock.recv(65536):
                return time.monotonic() - started
        except TimeoutError:
            pass
        except OSError:
            return time.monotonic() - started
        if trickle:
            try:
                sock.send(trickle[sent % len(trickle) : sent % len(trickle) + 1])
            except OSError:
                return time.monotonic() - started
            sent += 1
    return None


def is_closed(sock: socket.socket) -> bool:
    """True when the server has closed ``sock`` (EOF or reset waiting to be read)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(3 * MB + 17))
    return path


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(32 * MB))
    return path


# --- Numbers and line ends ------------------------------------------------------------------------


def test_range_numbers_of_4400_digits_are_resolved_not_a_500(engine: EngineProcess, data: Path) -> None:
    port = free_port()
    publish(engine, port, {"data.bin": data})
    content = data.read_bytes()
    size = len(content)
    # A first byte beyond any file: unsatisfiable.
    status, headers, _ = fetch(port, "/Demo/data.bin", {"Range": f"bytes={HUGE}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{size}"
    # A last byte or a suffix beyond the file: to its end, as RFC 9110 says.
    status, headers, body = fetch(port, "/Demo/data.bin", {"Range": f"bytes=10-{HUGE}"})
    assert status == 206 and body == content[10:]
    status, headers, body = fetch(port, "/Demo/data.bin", {"Range": f"bytes=-{HUGE}"})
    assert status == 206 and body == content
    # Leading zeros do not make a number big.
    status, headers, body = fetch(port, "/Demo/data.bin", {"Range": f"bytes={'0' * 4400}5-{'0' * 4400}9"})
    assert status == 206 and body == content[5:10]
    assert "Traceback" not in engine.output()


def test_a_content_length_of_5000_digits_gets_400(engine: EngineProcess, data: Path) -> None:
    port = free_port()
    publish(engine, port, {"data.bin": data})
    request = b"GET /Demo/data.bin HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"1" * 5000 + b"\r\n\r\n"
    got, _ = exchange(port, request)
    assert got.startswith(b"HTTP/1.1 400 "), got[:200]
    assert "Traceback" not in engine.output()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /Demo/data.bin HTTP/1.1\nHost: x\n\n",
        b"GET /Demo/data.bin HTTP/1.1\r\nHost: x\n\n",
        b"GET /Demo/data.bin HTTP/1.1\rHost: x\r\r",
        b"GET /Demo/data.bin HTTP/1.1\r\nHost: x\rX-A: b\r\n",
    ],
    ids=["bare-lf", "bare-lf-after-crlf", "bare-cr", "bare-cr-inside"],
)
def test_bare_line_ends_get_400_at_once(engine: EngineProcess, data: Path, request_bytes: bytes) -> None:
    port = free_port()
    publish(engine, port, {"data.bin": data})
    got, took = exchange(port, request_bytes, timeout=5)
    assert got.startswith(b"HTTP/1.1 400 "), got[:200]
    assert took < 2
