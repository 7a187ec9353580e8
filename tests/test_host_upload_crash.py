"""The upload server's durability and memory: kill -9 mid-upload and resume, the recovery rules of
``bcs.host.upload.store`` on a real index and real files, and a 5 GiB upload with flat RSS."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bcs.host.upload.session import SessionEvent, SessionState, UploadSession
from bcs.host.upload.store import UploadStore
from conftest import EngineProcess, free_port
from upload_support import BitsConnection, BitsUploader, Response, fragment_headers, upload_group

MiB = 1024 * 1024
GiB = 1024 * MiB


def received(r: Response) -> int:
    value = r.header("BITS-Received-Content-Range")
    assert value is not None, r.head
    return int(value)


def test_kill_9_mid_upload_then_restart_resumes_to_a_correct_file(
    engine_factory: Any, tmp_path: Path
) -> None:
    # Checkpoints every 4 MiB: after 3 fragments of 3 MiB the index trusts 6 MiB, the kernel has 9.
    env = {"BCS_TEST_UPLOAD_CHECKPOINT_BYTES": str(4 * MiB), "BCS_TEST_UPLOAD_CHECKPOINT_SECONDS": "3600"}
    engine: EngineProcess = engine_factory().start(env=env)
    folder = tmp_path / "incoming"
    folder.mkdir()
    port = free_port()
    upload_group(engine, port, folder)
    data = os.urandom(20 * MiB)
    step = 3 * MiB
    conn = BitsConnection(port)
    up = BitsUploader(conn, "/upload/files/crash.bin")
    assert up.create().status == 200
    offset = 0
    for _ in range(3):
        offset = received(up.fragment(offset, data[offset : offset + step], len(data)))
    assert offset == 9 * MiB
    # A fourth fragment dies with the engine, half of its body sent.
    assert up.session_id is not None
    head = fragment_headers(up.session_id, offset, offset + step - 1, len(data))
    sock = conn._connect()
    sock.sendall(
        f"BITS_POST {up.path} HTTP/1.1\r\nHost: x\r\n".encode()
        + "".join(f"{k}: {v}\r\n" for k, v in head).encode()
        + b"\r\n"
        + data[offset : offset + step // 2]
    )
    engine.kill()
    conn.close()
    staging = engine.state_dir / "uploads" / (up.session_id.strip("{}") + ".part")
    # The kernel kept what the killed engine wrote: 9 MiB acknowledged, and the part of the fourth
    # body that had arrived, written straight to the staging file past ``received`` (not counted).
    assert 9 * MiB <= staging.stat().st_size <= 9 * MiB + step // 2
    engine.start(env=env)
    assert staging.stat().st_size == 6 * MiB  # cut back to what was fsynced and recorded
    (listed,) = engine.call("upload.list")
    assert listed["sessionId"] == up.session_id and listed["bytesReceived"] == 6 * MiB
    with BitsConnection(port) as c:
        up.conn = c
        r = up.fragment(offset, data[offset : offset + step], len(data))  # where the client was
        assert r.status == 416 and received(r) == 6 * MiB  # the server says where it is
        offset = received(r)
        while offset < len(data):
            offset = received(up.fragment(offset, data[offset : offset + step], len(data)))
        assert up.close().status == 200
    assert hashlib.sha256((folder / "crash.bin").read_bytes()).digest() == hashlib.sha256(data).digest()
    assert not staging.exists()


# --- recovery rules, on a real index and real files ------------------------------------------------------


def _session(destination: Path, session_id: str = "{A0FF5911-4144-45B3-BF27-27AFC8EC8A67}") -> UploadSession:
    return UploadSession(session_id, "http://+:1/g/", "/g/f/x", str(destination), "")


def _write(store: UploadStore, session: UploadSession, data: bytes, durable: bool) -> None:
    fd = os.open(store.staging_path(session), os.O_WRONLY)
    try:
        os.lseek(fd, session.received, os.SEEK_SET)
        os.write(fd, data)
        session.received += len(data)
        if durable:
            store.checkpoint(session, fd)
    finally:
        os.close(fd)


def test_recovery_trusts_the_recorded_offset_and_the_staging_size_whichever_is_less(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    store.open()
    longer, shorter = (
        _session(tmp_path / "a"),
        _session(tmp_path / "b", "{B0FF5911-4144-45B3-BF27-27AFC8EC8A67}"),
    )
    for s in (longer, shorter):
        store.create(s)
        _write(store, s, b"x" * 100, durable=True)
        _write(store, s, b"y" * 50, durable=False)  # the Ack went out, the fsync did not happen
    os.truncate(store.staging_path(shorter), 60)  # power loss took more than the unrecorded part
    store._db.close()  # type: ignore[union-attr]  # a crash: nothing more is written
    again = UploadStore(tmp_path / "uploads")
    again.open()
    got = {s.session_id: s for s in again.sessions()}
    assert got[longer.session_id].received == 100 and os.path.getsize(again.staging_path(longer)) == 100
    assert got[shorter.session_id].received == 60 and os.path.getsize(again.staging_path(shorter)) == 60
    assert again.holder(str(tmp_path / "a")) is got[longer.session_id]  # still holds its destination
    again.close()


def test_recovery_finishes_a_commit_a_crash_interrupted_and_drops_strays(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    store.open()
    destination = tmp_path / "placed.bin"
    session = _session(destination)
    store.create(session)
    session.total = 3
    _write(store, session, b"abc", durable=False)
    session.advance(SessionEvent.COMPLETE)
    fd = os.open(store.staging_path(session), os.O_WRONLY)
    store.checkpoint(session, fd)
    os.close(fd)
    os.rename(store.staging_path(session), destination)  # the rename happened, the tombstone did not
    stray = tmp_path / "uploads" / "C0FF5911-4144-45B3-BF27-27AFC8EC8A67.part"
    stray.write_bytes(b"orphan")
    copy = tmp_path / ".placed.bin.A0FF5911-4144-45B3-BF27-27AFC8EC8A67.bcs-upload"
    copy.write_bytes(b"half a cross-device copy")
    store._db.close()  # type: ignore[union-attr]
    again = UploadStore(tmp_path / "uploads")
    again.open()
    (recovered,) = again.sessions()
    assert recovered.state is SessionState.CLOSED and again.holder(str(destination)) is None
    assert destination.read_bytes() == b"abc"
    assert not stray.exists() and not copy.exists()
    again.close()


def test_a_clean_close_records_progress_that_was_not_checkpointed(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    store.open()
    session = _session(tmp_path / "c")
    store.create(session)
    _write(store, session, b"z" * 10, durable=False)
    store.close()
    again = UploadStore(tmp_path / "uploads")
    again.open()
    assert again.sessions()[0].received == 10
    again.close()


# --- 5 GiB with flat memory -----------------------------------------------------------------------------


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _read_chunks(path: Path, offset: int, length: int, hasher: Any) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(offset)
        while length:
            chunk = fh.read(min(MiB, length))
            assert chunk
            hasher.update(chunk)
            length -= len(chunk)
            yield chunk


def test_a_5_gib_sparse_file_uploads_with_the_server_rss_flat(engine: EngineProcess, tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    if free < 12 * GiB:
        pytest.skip(
            f"needs 12 GiB free for the staged file and waitress's spooled fragments, {free / GiB:.1f} GiB free"
        )
    size = 5 * GiB
    source = tmp_path / "sparse.bin"
    with open(source, "wb") as fh:  # holes, with random blocks at the start, the end and between
        fh.truncate(size)
        for offset in (0, 7 * MiB + 3, size // 3, size // 2 + 12345, size - MiB):
            fh.seek(offset)
            fh.write(os.urandom(MiB))
    folder = tmp_path / "incoming"
    folder.mkdir()
    port = free_port()
    upload_group(engine, port, folder)
    assert engine.proc is not None
    pid = engine.proc.pid
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(_rss_kib(pid))
            stop.wait(0.1)

    fragment = 64 * MiB  # the server's largest (tunables.UPLOAD_MAX_FRAGMENT)
    sent = hashlib.sha256()
    with BitsConnection(port, timeout=300) as conn:
        up = BitsUploader(conn, "/upload/files/five.bin")
        assert up.create().status == 200
        assert up.session_id is not None
        baseline = _rss_kib(pid)
        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.monotonic()
        try:
            offset = 0
            while offset < size:
                length = min(fragment, size - offset)
                headers = fragment_headers(up.session_id, offset, offset + length - 1, size)
                r = conn.request(up.path, headers, _read_chunks(source, offset, length, sent))
                assert r.status == 200, r.head
                assert received(r) == offset + length  # nothing resent on a healthy run
                offset += length
            assert up.close().status == 200
        finally:
            stop.set()
            sampler.join()
        elapsed = time.monotonic() - started
    got = hashlib.sha256()
    with open(folder / "five.bin", "rb") as fh:
        for chunk in iter(lambda: fh.read(8 * MiB), b""):
            got.update(chunk)
    assert got.digest() == sent.digest()
    peak = max(samples)
    print(f"5 GiB upload: {size / elapsed / 1e6:.0f} MB/s, RSS baseline {baseline} KiB, peak {peak} KiB")
    assert peak - baseline < 64 * 1024, (baseline, peak)


def test_an_unreadable_index_stops_the_engine_with_a_clear_message(engine_factory: Any) -> None:
    engine: EngineProcess = engine_factory()
    (engine.state_dir / "uploads").mkdir(parents=True)
    (engine.state_dir / "uploads" / "index.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(RuntimeError, match="engine exited with 1"):
        engine.start()
    assert "upload session index" in engine.output() and "index.db" in engine.output()
