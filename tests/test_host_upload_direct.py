"""Fragment bodies written once, straight into the staging file (bcs.host.upload.direct).

The parser and the claim on a real ``UploadStore`` (no engine), then the cases that matter on the
wire against a real engine: two connections on one session (acknowledged bytes are never
overwritten by the other one's direct body), a client dropping mid-fragment (its claim ends with
the connection, the next fragment is written directly again) and a failed direct body writing past
the file's end (cut by the last fragment).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from waitress.adjustments import Adjustments
from waitress.buffers import OverflowableBuffer

from bcs.host.listener import HostRequestParser
from bcs.host.upload.direct import DirectBody
from bcs.host.upload.session import UploadSession
from bcs.host.upload.store import UploadStore
from conftest import EngineProcess, free_port
from upload_support import BitsConnection, BitsUploader, Response, fragment_headers, upload_group

MiB = 1024 * 1024
SID = "{A0FF5911-4144-45B3-BF27-27AFC8EC8A67}"


# --- the parser and the claim, on a real store ------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[UploadStore]:
    s = UploadStore(tmp_path / "uploads")
    s.open()
    yield s
    s.close()


@pytest.fixture
def session(store: UploadStore, tmp_path: Path) -> UploadSession:
    s = UploadSession(SID, "http://+:1/upload/", "/upload/files/x", str(tmp_path / "x"), "")
    store.create(s)
    return s


def head(first: int, last: int, total: int, session_id: str = SID) -> bytes:
    lines = "".join(f"{k}: {v}\r\n" for k, v in fragment_headers(session_id, first, last, total))
    return f"BITS_POST /upload/files/x HTTP/1.1\r\nHost: x\r\n{lines}\r\n".encode()


def parser(store: UploadStore) -> HostRequestParser:
    return HostRequestParser(Adjustments(), host_state=SimpleNamespace(uploads=store))  # type: ignore[arg-type]


def feed(p: HostRequestParser, data: bytes) -> None:
    while data:
        n = p.received(data)
        data = data[n:]
        if p.completed:
            break


def staging(store: UploadStore, session: UploadSession) -> bytes:
    return Path(store.staging_path(session)).read_bytes()


def test_a_fragment_at_the_next_offset_is_written_as_it_arrives(
    store: UploadStore, session: UploadSession
) -> None:
    data = os.urandom(100_000)
    p = parser(store)
    feed(p, head(0, len(data) - 1, len(data)) + data[:40_000])
    body = p.body_rcv.buf
    assert isinstance(body, DirectBody) and session.claim is body
    assert staging(store, session) == data[:40_000]  # on disk before the request is complete
    assert session.received == 0  # nothing counts before the app ran
    feed(p, data[40_000:])
    assert p.completed and body.complete and p.get_body_stream().read() == b""
    p.close()
    assert session.claim is None and body.fd is None


def test_only_one_direct_writer_per_session_the_others_are_buffered(
    store: UploadStore, session: UploadSession
) -> None:
    first = parser(store)
    feed(first, head(0, 9, 10) + b"01234")
    second = parser(store)
    feed(second, head(0, 9, 10) + b"abcde")
    assert isinstance(first.body_rcv.buf, DirectBody)
    assert isinstance(second.body_rcv.buf, OverflowableBuffer)  # waitress keeps it, the app copies it
    first.close()
    third = parser(store)
    feed(third, head(0, 9, 10))
    assert isinstance(third.body_rcv.buf, DirectBody)  # the claim ended with the first request
    third.close()


@pytest.mark.parametrize(
    ("first", "last", "total", "why"),
    [
        (5, 9, 10, "a gap"),
        (0, 9, 20, "another total than the session's"),
    ],
)
def test_no_claim_unless_the_fragment_starts_at_received_with_the_sessions_total(
    store: UploadStore, session: UploadSession, first: int, last: int, total: int, why: str
) -> None:
    session.total = 10
    p = parser(store)
    feed(p, head(first, last, total))
    assert isinstance(p.body_rcv.buf, OverflowableBuffer), why
    assert session.claim is None


def test_an_overlap_or_a_duplicate_is_not_written_directly(
    store: UploadStore, session: UploadSession
) -> None:
    session.received = session.total = 10
    p = parser(store)
    feed(p, head(5, 9, 20))  # starts before received: the app writes only the new tail
    assert isinstance(p.body_rcv.buf, OverflowableBuffer)


def test_an_unknown_session_or_another_packet_is_not_written_directly(
    store: UploadStore, session: UploadSession
) -> None:
    p = parser(store)
    feed(p, head(0, 9, 10, "{00000000-0000-0000-0000-000000000000}"))
    assert isinstance(p.body_rcv.buf, OverflowableBuffer)
    p = parser(store)
    feed(p, head(0, 9, 10).replace(b"Fragment", b"Ping"))
    assert isinstance(p.body_rcv.buf, OverflowableBuffer)


def test_a_revoked_body_writes_nothing_more(store: UploadStore, session: UploadSession) -> None:
    p = parser(store)
    feed(p, head(0, 9, 10) + b"01234")
    body = p.body_rcv.buf
    assert isinstance(body, DirectBody)
    with session.write_lock:
        body.revoked = True  # what the app does before copying another request's body
    feed(p, b"56789")
    assert p.completed and not body.complete
    assert staging(store, session) == b"01234"
    p.close()


def test_a_session_being_copied_gives_no_claim(store: UploadStore, session: UploadSession) -> None:
    session.buffered = True
    p = parser(store)
    feed(p, head(0, 9, 10))
    assert isinstance(p.body_rcv.buf, OverflowableBuffer)


# --- on the wire --------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "incoming"
    path.mkdir()
    return path


def received(r: Response) -> int:
    value = r.header("BITS-Received-Content-Range")
    assert value is not None, r.head
    return int(value)


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def staging_of(engine: EngineProcess, session_id: str) -> Path:
    return engine.state_dir / "uploads" / (session_id.strip("{}") + ".part")


def starts_with(path: Path, data: bytes) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with open(path, "rb") as fh:
                return fh.read(len(data)) == data
        except FileNotFoundError:
            return False

    return check


def partial_request(
    port: int, path: str, session_id: str, first: int, body: bytes, total: int, sent: int
) -> socket.socket:
    """A Fragment of ``body`` whose first ``sent`` bytes only are sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    headers = fragment_headers(session_id, first, first + len(body) - 1, total)
    sock.sendall(
        f"BITS_POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
        + "".join(f"{k}: {v}\r\n" for k, v in headers).encode()
        + b"\r\n"
        + body[:sent]
    )
    return sock


def read_ack(sock: socket.socket) -> Response:
    conn = BitsConnection(0)
    conn.sock = sock
    return conn.read_response()


def test_two_connections_on_one_session_never_overwrite_acknowledged_bytes(
    engine: EngineProcess, folder: Path
) -> None:
    port = free_port()
    upload_group(engine, port, folder)
    path = "/upload/files/two.bin"
    ours, theirs = os.urandom(2 * MiB), os.urandom(2 * MiB)
    with BitsConnection(port) as b:
        up = BitsUploader(b, path)
        assert up.create().status == 200
        assert up.session_id is not None
        part = staging_of(engine, up.session_id)
        # A: half its body arrives and is written straight to the staging file.
        a = partial_request(port, path, up.session_id, 0, theirs, len(theirs), MiB)
        try:
            wait_until(starts_with(part, theirs[:MiB]))
            # B: the same range on another connection (buffered: A holds the claim), acknowledged.
            r = up.fragment(0, ours, len(ours))
            assert r.status == 200 and received(r) == len(ours)
            # A's second half arrives after B's Ack: it must not land on B's acknowledged bytes.
            a.sendall(theirs[MiB:])
            r = read_ack(a)
            assert r.status == 200 and received(r) == len(ours)  # a duplicate by now
        finally:
            a.close()
        assert part.read_bytes() == ours
        assert up.close().status == 200
    assert (folder / "two.bin").read_bytes() == ours


def test_a_client_dropping_mid_fragment_then_resuming_writes_directly_again(
    engine: EngineProcess, folder: Path
) -> None:
    port = free_port()
    upload_group(engine, port, folder)
    path = "/upload/files/drop.bin"
    data, junk = os.urandom(3 * MiB), os.urandom(2 * MiB)
    with BitsConnection(port) as c:
        up = BitsUploader(c, path)
        assert up.create().status == 200
        assert up.session_id is not None
        assert received(up.fragment(0, data[:MiB], len(data))) == MiB
        part = staging_of(engine, up.session_id)
        dropped = partial_request(port, path, up.session_id, MiB, junk, len(data), MiB)
        wait_until(lambda: part.stat().st_size == 2 * MiB)  # written, not counted
        dropped.close()

        def connections() -> int:
            listeners = engine.call("server.status")["services"]["host"]["listeners"]
            return sum(int(listener["connections"]) for listener in listeners)

        wait_until(lambda: connections() == 1)  # the server saw it go (only ``c`` is left)
        listed = engine.call("upload.list")
        assert [s["bytesReceived"] for s in listed if s["sessionId"] == up.session_id] == [MiB]
        # The claim ended with the connection: the resent fragment is written directly again.
        resent = partial_request(port, path, up.session_id, MiB, data[MiB:], len(data), MiB // 2)
        try:
            wait_until(lambda: Path(part).read_bytes()[MiB : MiB + MiB // 2] == data[MiB : MiB + MiB // 2])
            resent.sendall(data[MiB + MiB // 2 :])
            assert received(read_ack(resent)) == len(data)
        finally:
            resent.close()
        assert up.close().status == 200
    assert hashlib.sha256((folder / "drop.bin").read_bytes()).digest() == hashlib.sha256(data).digest()


def test_a_refused_direct_body_past_the_end_is_cut_by_the_last_fragment(
    engine: EngineProcess, folder: Path
) -> None:
    port = free_port()
    upload_group(engine, port, folder, maxUploadSize=1 * MiB)
    data = os.urandom(100_000)
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/cut.bin")
        assert up.create().status == 200
        big = os.urandom(2 * MiB)
        r = up.fragment(0, big, 4 * MiB)  # written straight away, then refused: too large
        assert r.status == 500 and received(r) == 0
        assert received(up.fragment(0, data, len(data))) == len(data)
        assert up.close().status == 200
    assert (folder / "cut.bin").read_bytes() == data


def test_uploads_of_any_size_keep_the_server_memory_flat(engine: EngineProcess, folder: Path) -> None:
    port = free_port()
    upload_group(engine, port, folder)
    data = os.urandom(48 * MiB)

    assert engine.proc is not None
    pid = engine.proc.pid

    def rss() -> int:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/big.bin")
        before = rss()
        up.upload(data, fragment=16 * MiB)
        after = rss()
    assert after - before < 16 * MiB, (before, after)
    assert (folder / "big.bin").stat().st_size == len(data)
