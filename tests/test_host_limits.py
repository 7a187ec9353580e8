"""Per-group connection and bandwidth limits of the file host, measured with real transfers."""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import EngineProcess, free_port

MB = 1_000_000


def publish(engine: EngineProcess, port: int, urls: dict[str, Path], **settings: Any) -> str:
    prefix = f"http://+:{port}/Lim/"
    engine.call("urlgroup.create", urlGroup=prefix, **settings)
    for suffix, source in urls.items():
        engine.call("url.create", urlGroup=prefix, urlSuffix=suffix, sourcePath=str(source))
    return prefix


def start_transfer(port: int, path: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """A GET whose body is left (mostly) unread: the transfer stays active on the server."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    resp = conn.getresponse()
    return conn, resp


def curl_timed(url: str, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["curl", "-sSf", "-o", str(out), "-w", "%{size_download} %{time_total}", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, float]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    size, seconds = out.split()
    return int(size), float(seconds)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {}
    for name, size in (("a.bin", 6 * MB), ("b.bin", 3 * MB), ("c.bin", 3 * MB), ("d.bin", 3 * MB)):
        path = tmp_path / name
        path.write_bytes(os.urandom(size))
        made[name] = path
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(64 * 1024 * 1024))
    made["big.bin"] = big
    return made


@pytest.mark.parametrize("throttled", [False, True])
def test_fourth_concurrent_transfer_gets_503_with_retry_after(
    engine: EngineProcess, files: dict[str, Path], throttled: bool
) -> None:
    port = free_port()
    prefix = publish(engine, port, files, bandwidthLimit=64 * 1024 if throttled else 0)
    running = [start_transfer(port, "/Lim/big.bin") for _ in range(3)]
    try:
        for _, resp in running:
            assert resp.status == 200
            resp.read(1024)
        conn, resp = start_transfer(port, "/Lim/big.bin")
        try:
            assert resp.status == 503
            assert resp.getheader("Retry-After") == "5"
            assert resp.getheader("BITS-Error-Code") == "0x801901F7"
            assert len(resp.read()) < 200
        finally:
            conn.close()
        head = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            head.request("HEAD", "/Lim/big.bin")  # HEAD is not a transfer
            assert head.getresponse().status == 200
        finally:
            head.close()
        group = engine.call("urlgroup.get", urlGroup=prefix)
        assert group["activeTransfers"] == 3 and group["rejectedTransfers"] == 1
    finally:
        for conn, _ in running[:2]:
            conn.close()
    # A slot frees when a client goes away; a new transfer then gets in.
    deadline = time.monotonic() + 15
    status = 0
    while time.monotonic() < deadline:
        conn, resp = start_transfer(port, "/Lim/b.bin")
        status = resp.status
        conn.close()
        if status == 200:
            break
        time.sleep(0.2)
    running[2][0].close()
    assert status == 200


def test_connection_limit_changes_live(engine: EngineProcess, files: dict[str, Path]) -> None:
    port = free_port()
    prefix = publish(engine, port, files, bandwidthLimit=64 * 1024)
    first = start_transfer(port, "/Lim/big.bin")
    try:
        engine.call("urlgroup.set", urlGroup=prefix, connectionLimit=1)
        second = start_transfer(port, "/Lim/big.bin")
        assert second[1].status == 503
        second[0].close()
        engine.call("urlgroup.set", urlGroup=prefix, connectionLimit=0)
        more = [start_transfer(port, "/Lim/big.bin") for _ in range(5)]
        assert [resp.status for _, resp in more] == [200] * 5
        for conn, _ in more:
            conn.close()
    finally:
        first[0].close()


def within(value: float, target: float, tolerance: float) -> bool:
    return abs(value - target) <= tolerance * target


def test_group_bandwidth_cap_holds_for_one_and_three_connections(
    engine: EngineProcess, files: dict[str, Path], tmp_path: Path
) -> None:
    port = free_port()
    rate = 2 * MB
    publish(engine, port, files, bandwidthLimit=rate)
    size, seconds = finish(curl_timed(f"http://127.0.0.1:{port}/Lim/a.bin", tmp_path / "one"))
    assert size == 6 * MB
    assert within(size / seconds, rate, 0.05), size / seconds
    started = time.monotonic()
    procs = [
        curl_timed(f"http://127.0.0.1:{port}/Lim/{name}", tmp_path / f"three-{name}")
        for name in ("b.bin", "c.bin", "d.bin")
    ]
    total = sum(finish(p)[0] for p in procs)
    elapsed = time.monotonic() - started
    assert total == 9 * MB
    assert within(total / elapsed, rate, 0.05), total / elapsed


def test_changing_the_cap_mid_transfer_takes_effect(
    engine: EngineProcess, files: dict[str, Path], tmp_path: Path
) -> None:
    port = free_port()
    prefix = publish(engine, port, files, bandwidthLimit=1 * MB)
    proc = curl_timed(f"http://127.0.0.1:{port}/Lim/a.bin", tmp_path / "a")
    time.sleep(1.5)
    engine.call("urlgroup.set", urlGroup=prefix, bandwidthLimit=4 * MB)
    size, seconds = finish(proc)
    assert size == 6 * MB
    # 1.5 s at 1 MB/s, then 4.5 MB at 4 MB/s: about 2.6 s (6 s without the change).
    assert 2.2 < seconds < 3.5, seconds
    proc = curl_timed(f"http://127.0.0.1:{port}/Lim/a.bin", tmp_path / "a2")
    time.sleep(0.5)
    engine.call("urlgroup.set", urlGroup=prefix, bandwidthLimit=0)  # lifting it mid-transfer works too
    size, seconds = finish(proc)
    assert size == 6 * MB and seconds < 1.5, seconds


def test_server_bandwidth_limit_caps_all_groups_together(
    engine: EngineProcess, files: dict[str, Path], tmp_path: Path
) -> None:
    ports = [free_port(), free_port()]
    for port in ports:
        publish(engine, port, files)
    engine.call("server.set", bandwidthLimit=2 * MB)
    started = time.monotonic()
    procs = [curl_timed(f"http://127.0.0.1:{port}/Lim/b.bin", tmp_path / f"s{port}") for port in ports]
    total = sum(finish(p)[0] for p in procs)
    elapsed = time.monotonic() - started
    assert total == 6 * MB
    assert within(total / elapsed, 2 * MB, 0.07), total / elapsed
    assert engine.call("server.status")["bandwidthLimit"] == 2 * MB


def test_a_cap_set_during_an_unthrottled_transfer_slows_it_down(
    engine: EngineProcess, tmp_path: Path
) -> None:
    # Up to SEND_BUFFER (doubled by the kernel) plus the client's receive buffer is already on
    # its way when the cap is set; the file is large enough for the rest to show the cap.
    size = 24 * MB
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(size))
    port = free_port()
    prefix = publish(engine, port, {"big.bin": source})
    conn, resp = start_transfer(port, "/Lim/big.bin")
    try:
        assert resp.status == 200
        got = len(resp.read(100_000))
        engine.call("urlgroup.set", urlGroup=prefix, bandwidthLimit=2 * MB)
        started = time.monotonic()
        marks = []
        while chunk := resp.read(256 * 1024):
            got += len(chunk)
            marks.append((time.monotonic(), got))
        assert got == size
        # Whatever was already in socket buffers arrives at once; the rest at 2 MB/s.
        assert time.monotonic() - started > 2.0
        t_end, _ = marks[-1]
        t_4mb = next(t for t, n in marks if n >= size - 4 * MB)
        assert within(4 * MB / (t_end - t_4mb), 2 * MB, 0.1)
    finally:
        conn.close()


def test_throttled_multi_range_body_is_paced_and_complete(
    engine: EngineProcess, files: dict[str, Path]
) -> None:
    port = free_port()
    publish(engine, port, files, bandwidthLimit=1 * MB)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        started = time.monotonic()
        conn.request("GET", "/Lim/a.bin", headers={"Range": "bytes=1000000-1999999,0-999999"})
        resp = conn.getresponse()
        body = resp.read()
        elapsed = time.monotonic() - started
    finally:
        conn.close()
    assert resp.status == 206 and resp.getheader("Content-Type", "").startswith("multipart/byteranges")
    content = files["a.bin"].read_bytes()
    first = body.index(content[1000000:1000100])
    second = body.index(content[:100])
    assert first < second  # requested order kept
    assert content[1000000:2000000] in body and content[:1000000] in body
    assert within(len(body) / elapsed, 1 * MB, 0.1), len(body) / elapsed


def _switches(pid: int) -> int:
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_an_idle_engine_with_limits_set_does_not_wake_up(
    engine: EngineProcess, files: dict[str, Path]
) -> None:
    # Listener, access log, job scheduler and management pipe all sleep until something happens
    # (the listener used to tick every 20 ms as soon as a limit was set).
    port = free_port()
    publish(engine, port, files, bandwidthLimit=1 * MB)
    engine.call("server.set", bandwidthLimit=4 * MB)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/Lim/a.bin", headers={"Range": "bytes=0-99"})
        assert conn.getresponse().read() == files["a.bin"].read_bytes()[:100]
    finally:
        conn.close()
    time.sleep(1.0)  # the access log's write and the closed connection settle
    before = _switches(engine.proc.pid)
    time.sleep(3.0)
    assert _switches(engine.proc.pid) - before <= 3
