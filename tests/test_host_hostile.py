"""Hostile clients against a real engine: absurd numbers, bare line ends, slow and idle connections.

Timeouts are shortened with the test-only ``BCS_TEST_*`` variables of ``bcs.tunables``; the
acceptance test of the connection cap runs with the production defaults.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import os
import resource
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import EngineProcess, free_port
from test_host_http import publish

MB = 1_000_000
HUGE = "9" * 4400  # more digits than int() converts by default (sys.get_int_max_str_digits: 4300)


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


# --- Slow and idle connections --------------------------------------------------------------------


def test_a_request_head_must_arrive_within_the_header_deadline(engine_factory: Any, data: Path) -> None:
    engine = engine_factory().start(env={"BCS_TEST_HEADER_TIMEOUT": "1"})
    port = free_port()
    publish(engine, port, {"data.bin": data})
    with (
        socket.create_connection(("127.0.0.1", port)) as slow,
        socket.create_connection(("127.0.0.1", port)) as silent,
    ):
        slow.sendall(b"GET /Demo/data.bin HTTP/1.1\r\n")
        # Five bytes a second, whatever the rate: the head is never finished.
        took = closed_after(slow, within=8, trickle=b"X-Slow: 1\r\n")
        assert took is not None and 0.5 < took < 4, took
        # A connection that sent nothing had the same deadline.
        assert closed_after(silent, within=2) is not None
    status, _, body = fetch(port, "/Demo/data.bin", {"Range": "bytes=0-9"})
    assert status == 206 and body == data.read_bytes()[:10]


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(
    engine_factory: Any, data: Path
) -> None:
    engine = engine_factory().start(env={"BCS_TEST_IDLE_TIMEOUT": "1"})
    port = free_port()
    publish(engine, port, {"data.bin": data})
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /Demo/data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n")
        got = b""
        while not got.endswith(data.read_bytes()[:10]):
            chunk = sock.recv(65536)
            assert chunk
            got += chunk
        took = closed_after(sock, within=8)
        assert took is not None and 0.5 < took < 4, took


def test_clients_that_stop_reading_free_the_groups_transfer_slots(engine_factory: Any, big: Path) -> None:
    engine = engine_factory().start(env={"BCS_TEST_SEND_RATE_WINDOW": "1.5"})
    port = free_port()
    prefix = publish(engine, port, {"big.bin": big}, connectionLimit=3)
    stalled = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
    try:
        for sock in stalled:
            sock.sendall(b"GET /Demo/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536)
        # ... and they read nothing more.
        started = time.monotonic()
        while engine.call("urlgroup.get", urlGroup=prefix)["activeTransfers"]:
            assert time.monotonic() - started < 10, "the transfer slots were not freed"
            time.sleep(0.1)
        assert time.monotonic() - started > 0.5
        status, _, body = fetch(port, "/Demo/big.bin", {"Range": "bytes=0-9"})
        assert status == 206 and body == big.read_bytes()[:10]
    finally:
        for sock in stalled:
            sock.close()


def test_a_multi_range_client_that_stops_reading_frees_its_worker_and_slot(
    engine_factory: Any, big: Path
) -> None:
    # Multi-range bodies come from a worker thread, not the pump: waitress holds their output.
    engine = engine_factory().start(env={"BCS_TEST_SEND_RATE_WINDOW": "1"})
    port = free_port()
    prefix = publish(engine, port, {"big.bin": big}, connectionLimit=1)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /Demo/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-15999999,16000000-\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 206 ")
        started = time.monotonic()
        while engine.call("urlgroup.get", urlGroup=prefix)["activeTransfers"]:
            assert time.monotonic() - started < 10, "the transfer slot was not freed"
            time.sleep(0.1)
    status, _, body = fetch(port, "/Demo/big.bin", {"Range": "bytes=0-9"})
    assert status == 206 and body == big.read_bytes()[:10]


def test_a_throttled_transfer_below_the_minimum_send_rate_is_not_cut(
    engine_factory: Any, tmp_path: Path
) -> None:
    # The group's bandwidth limit holds the transfer back, not its client: the rate rule exempts it.
    engine = engine_factory().start(
        env={"BCS_TEST_SEND_RATE_WINDOW": "0.5", "BCS_TEST_MIN_SEND_RATE": str(100 * MB)}
    )
    source = tmp_path / "paced.bin"
    source.write_bytes(os.urandom(MB))
    port = free_port()
    publish(engine, port, {"paced.bin": source}, bandwidthLimit=500_000)
    out = tmp_path / "out.bin"
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "-o", str(out), f"http://127.0.0.1:{port}/Demo/paced.bin"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == source.read_bytes()


# --- Connection caps ------------------------------------------------------------------------------


def connect_from(address: str, port: int, blocking: bool = True) -> socket.socket:
    """A connection from ``address``; closing it resets it (no TIME_WAIT on an ephemeral port that
    a later test's ``free_port`` could pick: a wildcard bind fails on it, SO_REUSEADDR or not)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        sock.bind((address, 0))
        if blocking:
            sock.settimeout(5)
            with contextlib.suppress(ConnectionResetError):  # reset at accept before connect() returned
                sock.connect(("127.0.0.1", port))
        else:
            sock.setblocking(False)
            code = sock.connect_ex(("127.0.0.1", port))
            assert code in (0, errno.EINPROGRESS), os.strerror(code)
    except BaseException:
        sock.close()
        raise
    return sock


@contextlib.contextmanager
def open_files(need: int) -> Iterator[None]:
    """Make room for ``need`` more descriptors in this process (soft limit), as the engine does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_engine_raises_its_open_files_limit_when_it_listens(engine_factory: Any, data: Path) -> None:
    # At the common soft limit of 1024, about 1000 connections made accept() fail with EMFILE.
    if not Path("/proc/self/limits").exists():
        pytest.skip("needs /proc (Linux)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # inherited by the engine
    try:
        engine = engine_factory().start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    publish(engine, free_port(), {"data.bin": data})
    assert engine.proc is not None
    limits = Path(f"/proc/{engine.proc.pid}/limits").read_text()
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert int(line.split()[3]) >= 2048


def test_connections_beyond_the_cap_per_address_are_closed_at_accept(engine_factory: Any, data: Path) -> None:
    engine = engine_factory().start(env={"BCS_TEST_CONNECTIONS_PER_ADDRESS": "4"})
    port = free_port()
    publish(engine, port, {"data.bin": data})
    socks = [connect_from("127.0.0.2", port) for _ in range(10)]
    try:
        deadline = time.monotonic() + 5
        while sum(map(is_closed, socks)) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        open_ones = [s for s in socks if not is_closed(s)]
        assert len(open_ones) == 4
        # Another address is not affected ...
        status, _, body = fetch(port, "/Demo/data.bin", {"Range": "bytes=0-9"})
        assert status == 206 and body == data.read_bytes()[:10]
        # ... and a connection that closes gives its place back.
        open_ones[0].close()
        time.sleep(0.3)
        with connect_from("127.0.0.2", port) as again:
            again.sendall(b"GET /Demo/data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n")
            assert again.recv(65536).startswith(b"HTTP/1.1 206 ")
    finally:
        for sock in socks:
            sock.close()


def test_idle_connections_from_many_addresses_make_room_at_the_connection_limit(
    engine: EngineProcess, data: Path, tmp_path: Path
) -> None:
    # Production defaults: 16 addresses within their cap of 64 fill the limit of 1000 connections.
    port = free_port()
    publish(engine, port, {"data.bin": data})
    idle: list[socket.socket] = []
    with open_files(1024):
        try:
            for i in range(1024):
                idle.append(connect_from(f"127.0.0.{2 + i % 16}", port, blocking=False))
            time.sleep(1.0)
            out = tmp_path / "out.bin"
            done = subprocess.run(
                ["curl", "-sS", "--max-time", "10", "-o", str(out), f"http://127.0.0.1:{port}/Demo/data.bin"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert done.returncode == 0, done.stderr
            assert out.read_bytes() == data.read_bytes()
            assert engine.call("server.status")["services"]["host"]["listeners"][0]["drainedConnections"] > 0
        finally:
            for sock in idle:
                sock.close()


def test_a_client_gets_its_download_while_1000_hostile_connections_are_open(
    engine: EngineProcess, data: Path, tmp_path: Path
) -> None:
    # Production defaults: 1000 idle and slowloris connections from 127.0.0.2, curl from 127.0.0.1.
    port = free_port()
    publish(engine, port, {"data.bin": data})
    out = tmp_path / "out.bin"
    hostile: list[socket.socket] = []
    with open_files(1000):
        try:
            for _ in range(1000):
                sock = connect_from("127.0.0.2", port, blocking=False)
                hostile.append(sock)
            time.sleep(0.5)
            slowloris = hostile[::2]
            for sock in slowloris:
                with contextlib.suppress(OSError):
                    sock.send(b"GET /Demo/data.bin HTTP/1.1\r\n")
            curl = subprocess.Popen(
                ["curl", "-sS", "--max-time", "20", "-o", str(out), f"http://127.0.0.1:{port}/Demo/data.bin"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                deadline = time.monotonic() + 30
                while curl.poll() is None and time.monotonic() < deadline:
                    for sock in slowloris:  # one byte per second each
                        with contextlib.suppress(OSError):
                            sock.send(b"X")
                    time.sleep(1.0)
            finally:
                if curl.poll() is None:
                    curl.kill()
                _, err = curl.communicate(timeout=10)
            assert curl.returncode == 0, err
            assert out.read_bytes() == data.read_bytes()
            assert engine.proc is not None and engine.proc.poll() is None
        finally:
            for sock in hostile:
                sock.close()
