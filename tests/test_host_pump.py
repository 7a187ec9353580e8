"""The file-body pump: unit tests on real sockets and files, then through a real engine."""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from waitress.buffers import ReadOnlyFileBasedBuffer

from bcs.bandwidth import TokenBucket
from bcs.host import pump as pumping
from bcs.host.download import TrackedFile
from conftest import EngineProcess, free_port

MB = 1_000_000


class _Channel:
    """What a ``FileBody`` and the pump use of the channel (``SendfileChannel``)."""

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock
        self.last_activity = 0.0
        self.returned = threading.Event()

    def pump_returned(self) -> None:
        self.returned.set()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(server side, non-blocking with a small send buffer; client side)."""
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


@pytest.fixture(
    params=sorted({pumping.Poller, pumping.SelectorPoller}, key=lambda c: c.__name__),
    ids=lambda c: c.__name__,
)
def pump(request: pytest.FixtureRequest) -> Iterator[pumping.Pump]:
    """A pump on this system's poller and, where that is epoll, on the portable one too."""
    p = pumping.Pump("test-pump", window=0.4, poller=request.param)
    p.start()
    yield p
    p.stop()


def make_body(sock: socket.socket, path: Path, fh: Any = None) -> pumping.FileBody:
    fh = fh if fh is not None else open(path, "rb")  # noqa: SIM115 - closed by the test through the body
    outbuf = ReadOnlyFileBasedBuffer(fh)
    outbuf.prepare()
    return pumping.FileBody(_Channel(sock), outbuf)


def hand_over(pump: pumping.Pump, sock: socket.socket, path: Path, shrink_to: int = 0) -> pumping.FileBody:
    """A body of a new 2 MB file (cut to ``shrink_to`` once sending began) whose first round filled
    the socket, now in ``pump``."""
    path.write_bytes(os.urandom(2 * MB))
    body = make_body(sock, path)
    if shrink_to:
        os.truncate(path, shrink_to)
    assert body.send() == pumping.WAIT
    pump.add(body)
    return body


def read_all(sock: socket.socket, size: int, pause: float = 0.0) -> bytes:
    got = bytearray()
    while len(got) < size:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
        if pause:
            time.sleep(pause)
    return bytes(got)


@pytest.mark.parametrize("sendfile", [True, False], ids=["sendfile", "read-and-send"])
def test_a_body_goes_on_in_the_pump_and_comes_back_sent(
    pair: tuple[socket.socket, socket.socket], pump: pumping.Pump, tmp_path: Path, sendfile: bool
) -> None:
    data = os.urandom(3 * MB)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    server, client = pair
    body = make_body(server, path)
    if not sendfile:
        body.fd = -1  # as on Windows, which has no os.sendfile
    assert body.send() == pumping.WAIT  # the first round fills the socket, as in the channel
    first = body.settle()
    assert 0 < first < len(data) and body.fh.tell() == first
    pump.add(body)
    got = read_all(client, len(data), pause=0.001)  # a slow reader: many writable events
    assert body.channel.returned.wait(5)
    assert body.returned and body.outcome == pumping.SENT
    assert got == data
    assert first + body.settle() == len(data) and body.fh.tell() == len(data)
    assert len(pump) == 0
    body.fh.close()


def test_a_client_that_reads_nothing_ends_stalled(
    pair: tuple[socket.socket, socket.socket], pump: pumping.Pump, tmp_path: Path
) -> None:
    started = time.monotonic()
    body = hand_over(pump, pair[0], tmp_path / "f.bin")
    assert body.channel.returned.wait(5)
    assert body.outcome == pumping.STALLED
    assert 0.3 < time.monotonic() - started < 3
    sent = body.settle()
    assert body.fh.tell() == sent > 0  # the transfer's byte count: what left
    body.fh.close()


@pytest.mark.parametrize(("min_rate", "outcome"), [(100_000, pumping.SENT), (20 * MB, pumping.STALLED)])
def test_a_client_below_the_minimum_send_rate_ends_stalled(
    pair: tuple[socket.socket, socket.socket], tmp_path: Path, min_rate: int, outcome: str
) -> None:
    # The reader takes about 1 MB/s: enough for 100 kB/s, too slow for 20 MB/s.
    server, client = pair
    p = pumping.Pump("test-pump", window=0.3, min_rate=min_rate)
    p.start()
    try:
        body = hand_over(p, server, tmp_path / "f.bin")
        client.settimeout(5)
        got = 0
        while got < 2 * MB and not body.channel.returned.is_set():
            got += len(client.recv(16384))
            time.sleep(0.015)
        assert body.channel.returned.wait(5)
        assert body.outcome == outcome
        body.fh.close()
    finally:
        p.stop()


def test_a_client_that_goes_away_ends_disconnected(
    pair: tuple[socket.socket, socket.socket], pump: pumping.Pump, tmp_path: Path
) -> None:
    server, client = pair
    body = hand_over(pump, server, tmp_path / "f.bin")
    client.recv(1000)
    client.close()
    assert body.channel.returned.wait(5)
    assert body.outcome == pumping.DISCONNECTED and body.error is not None
    body.fh.close()


def test_a_file_that_shrinks_ends_the_body_short(
    pair: tuple[socket.socket, socket.socket], pump: pumping.Pump, tmp_path: Path
) -> None:
    server, client = pair
    body = hand_over(pump, server, tmp_path / "f.bin", shrink_to=300_000)
    got = read_all(client, 300_000)
    assert len(got) == 300_000
    assert body.channel.returned.wait(5)
    assert body.outcome == pumping.SHRANK
    body.fh.close()


def test_a_throttled_body_waits_in_the_pump_at_its_rate(
    pair: tuple[socket.socket, socket.socket], pump: pumping.Pump, tmp_path: Path
) -> None:
    data = os.urandom(MB)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    server, client = pair
    fh = TrackedFile(path, "rb")
    fh.buckets = (TokenBucket(2 * MB, burst=0.05),)
    body = make_body(server, path, fh)
    started = time.monotonic()
    assert body.send() in (pumping.WAIT, pumping.PAUSED)  # the burst went
    pump.add(body)
    got = read_all(client, len(data))
    assert body.channel.returned.wait(5)
    took = time.monotonic() - started
    assert got == data and body.outcome == pumping.SENT
    assert 0.4 < took < 1.0  # 1 MB at 2 MB/s, less the 0.05 s burst
    fh.close()


def test_stop_settles_the_bodies_it_holds(pair: tuple[socket.socket, socket.socket], tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(2 * MB))
    server, client = pair
    p = pumping.Pump("test-pump")
    p.start()
    body = make_body(server, path)
    assert body.send() == pumping.WAIT
    first = body.settle()
    p.add(body)
    got = len(read_all(client, 200_000))
    time.sleep(0.1)
    p.stop()
    assert body.outcome == pumping.STOPPED and not body.returned
    # The file position is where the body is: every byte that left, some still in socket buffers.
    assert body.fh.tell() == body.offset >= max(first, got)
    body.fh.close()


# --- Through a real engine ------------------------------------------------------------------------


def publish(engine: EngineProcess, port: int, source: Path, **settings: Any) -> str:
    prefix = f"http://+:{port}/Pump/"
    engine.call("urlgroup.create", urlGroup=prefix, **settings)
    engine.call("url.create", urlGroup=prefix, urlSuffix="big.bin", sourcePath=str(source))
    return prefix


def slot_freed(engine: EngineProcess, prefix: str, port: int, within: float) -> float:
    """Seconds until the group has no running transfer; then a new request is served."""
    started = time.monotonic()
    while engine.call("urlgroup.get", urlGroup=prefix)["activeTransfers"]:
        assert time.monotonic() - started < within, "the transfer slot was not freed"
        time.sleep(0.05)
    took = time.monotonic() - started
    again = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        again.request("GET", "/Pump/big.bin", headers={"Range": "bytes=0-9"})
        assert again.getresponse().status == 206
    finally:
        again.close()
    return took


def read_response(sock: socket.socket, pending: bytearray) -> tuple[str, bytes]:
    """One HTTP/1.1 response with Content-Length from ``sock``; ``pending`` keeps what follows."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the headers"
        pending += chunk
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    body = bytearray(rest)
    while len(body) < length:
        chunk = sock.recv(1 << 20)
        assert chunk, "connection closed inside the body"
        body += chunk
    pending[:] = body[length:]
    return lines[0], bytes(body[:length])


def test_pipelined_big_bodies_on_one_connection_arrive_whole_and_in_order(
    engine: EngineProcess, tmp_path: Path
) -> None:
    # Beyond waitress's 16 MiB high watermark: the second request's worker waits for the body
    # that the pump is sending, and the third asks for a range of it.
    data = os.urandom(24 * MB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    port = free_port()
    publish(engine, port, source)
    request = b"GET /Pump/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
    ranged = b"GET /Pump/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100-199\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request + request + ranged)
        time.sleep(0.5)  # the socket is full: the first body is in the pump by now
        pending = bytearray()
        for want_status, want_body in (("200", data), ("200", data), ("206", data[100:200])):
            status, body = read_response(sock, pending)
            assert status.split()[1] == want_status
            assert body == want_body


def test_a_client_leaving_mid_body_frees_its_transfer_slot_and_logs_its_bytes(
    engine: EngineProcess, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(32 * MB))
    port = free_port()
    prefix = publish(engine, port, source, connectionLimit=1)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request("GET", "/Pump/big.bin")
    resp = conn.getresponse()
    assert resp.status == 200
    resp.read(1_000_000)
    time.sleep(0.3)
    assert engine.call("urlgroup.get", urlGroup=prefix)["activeTransfers"] == 1
    conn.close()
    assert slot_freed(engine, prefix, port, within=10) < 10
    log = engine.state_dir / "access.log"
    deadline = time.monotonic() + 10
    while not (log.exists() and len(log.read_text().splitlines()) >= 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    first = log.read_text().splitlines()[0].split()
    assert first[4] == "200" and 1_000_000 <= int(first[5]) < 32 * MB


def test_a_client_that_stops_reading_is_disconnected_and_frees_its_slot(
    engine_factory: Any, tmp_path: Path
) -> None:
    engine = engine_factory().start(env={"BCS_TEST_SEND_RATE_WINDOW": "2"})
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(32 * MB))
    port = free_port()
    prefix = publish(engine, port, source, connectionLimit=1)
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(b"GET /Pump/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100_000)
        # ... and reads nothing more: closed after the (2 s) send-rate window.
        assert 1.5 < slot_freed(engine, prefix, port, within=15) < 10
        got = 0
        while chunk := sock.recv(1 << 20):  # what was in the socket buffers, then the close
            got += len(chunk)
        assert got < 32 * MB
