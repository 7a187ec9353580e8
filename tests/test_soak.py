"""Soak (issue 16): a busy engine for a while, with memory and file descriptors watched.

* 25 URL groups x 3 transfers each, looping downloads on keep-alive connections, plus 1000 idle
  connections from 20 loopback addresses, for ``BCS_SOAK_SECONDS`` (30 s in ``.ci/run``; the
  README quotes a longer run): no failed request, the engine's RSS flat (the last third of the run
  against the first third) and its descriptors back to where they were once the clients are gone.
* 1000 concurrent transfers on one engine with connection limits off: every one gets its whole,
  correct file.

The clients are asyncio streams in the test process (1000 threads would measure Python, not the
engine); addresses 127.0.0.2-21 keep each within the per-address cap of 64 connections per port.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import EngineProcess, free_port

SOAK_SECONDS = float(os.environ.get("BCS_SOAK_SECONDS", "30"))
MiB = 1024 * 1024
ADDRESSES = [f"127.0.0.{n}" for n in range(2, 22)]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture(autouse=True)
def _open_files() -> Any:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> tuple[int, bytes]:
    """One GET on a keep-alive connection; (status, body)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length)
    return status, body


def test_25_groups_x_3_transfers_and_1000_idle_connections_stay_flat(
    engine: EngineProcess, tmp_path: Path
) -> None:
    assert engine.proc is not None
    pid = engine.proc.pid
    data = os.urandom(2 * MiB)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    expected = hashlib.sha256(data).digest()
    ports = [free_port() for _ in range(5)]
    groups = []
    for i in range(25):
        prefix = f"http://+:{ports[i % 5]}/G{i}/"
        # 3 transfers per group; a limit of 6 leaves room for a slot released a moment after the
        # body's last byte, so a looping client never sees a 503 that only timing explains.
        engine.call("urlgroup.create", urlGroup=prefix, connectionLimit=6)
        engine.call("url.create", urlGroup=prefix, urlSuffix="data.bin", sourcePath=str(source))
        groups.append((ports[i % 5], f"/G{i}/data.bin"))
    baseline_fds = fd_count(pid)
    stats = {"requests": 0, "failures": 0, "bytes": 0}
    samples: list[tuple[float, int, int]] = []

    async def transfers(port: int, path: str, address: str, stop: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
        try:
            n = 0
            while time.monotonic() < stop:
                status, body = await _get(reader, writer, path)
                stats["requests"] += 1
                stats["bytes"] += len(body)
                n += 1
                if (
                    status != 200
                    or len(body) != len(data)
                    or (n % 10 == 1 and hashlib.sha256(body).digest() != expected)
                ):
                    stats["failures"] += 1
        finally:
            writer.close()

    async def idle(count: int) -> list[asyncio.StreamWriter]:
        writers = []
        for i in range(count):
            _, writer = await asyncio.open_connection(
                "127.0.0.1", ports[i % 5], local_addr=(ADDRESSES[i % len(ADDRESSES)], 0)
            )
            writers.append(writer)
        return writers

    async def sampler(stop: float) -> None:
        while time.monotonic() < stop:
            samples.append((time.monotonic(), rss_kib(pid), fd_count(pid)))
            await asyncio.sleep(1.0)

    async def run() -> int:
        idle_writers = await idle(1000)
        stop = time.monotonic() + SOAK_SECONDS
        await asyncio.gather(
            sampler(stop),
            *(
                transfers(port, path, ADDRESSES[(g * 3 + k) % len(ADDRESSES)], stop)
                for g, (port, path) in enumerate(groups)
                for k in range(3)
            ),
        )
        alive = sum(1 for w in idle_writers if not w.is_closing())
        for w in idle_writers:
            w.close()
        return alive

    alive = asyncio.run(run())
    third = max(1, len(samples) // 3)
    first = statistics.median(r for _, r, _ in samples[:third])
    last = statistics.median(r for _, r, _ in samples[-third:])
    deadline = time.monotonic() + 30
    while fd_count(pid) > baseline_fds + 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    final_fds = fd_count(pid)
    print(
        f"\nsoak {SOAK_SECONDS:.0f} s: {stats['requests']} requests, {stats['bytes'] / MiB:.0f} MiB, "
        f"{stats['failures']} failures; RSS median first third {first / 1024:.1f} MiB, last third "
        f"{last / 1024:.1f} MiB; fds {baseline_fds} before, max {max(f for *_, f in samples)} during, "
        f"{final_fds} after; idle connections still open at the end: {alive}"
    )
    assert stats["failures"] == 0 and stats["requests"] > 75
    assert last - first < 16 * 1024, "RSS grew by 16 MiB or more between the first and the last third"
    assert final_fds <= baseline_fds + 5
    assert engine.call("server.status")["pid"] == pid


def test_1000_concurrent_transfers_with_connection_limits_off(engine: EngineProcess, tmp_path: Path) -> None:
    assert engine.proc is not None
    pid = engine.proc.pid
    data = os.urandom(MiB)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    ports = [free_port() for _ in range(4)]
    for i, port in enumerate(ports):
        prefix = f"http://+:{port}/C{i}/"
        engine.call("urlgroup.create", urlGroup=prefix, connectionLimit=0)
        engine.call("url.create", urlGroup=prefix, urlSuffix="data.bin", sourcePath=str(source))
    baseline_fds = fd_count(pid)
    started = asyncio.Event()
    peak = {"fds": 0}

    async def one(i: int, gate: asyncio.Event) -> bool:
        port = ports[i % 4]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ADDRESSES[i % 20], 0))
        try:
            await gate.wait()  # all connected first: the 1000 transfers overlap
            status, body = await _get(reader, writer, f"/C{i % 4}/data.bin")
            return status == 200 and body == data
        finally:
            writer.close()

    async def run() -> list[bool]:
        tasks = [asyncio.create_task(one(i, started)) for i in range(1000)]
        await asyncio.sleep(1.0)
        peak["fds"] = fd_count(pid)
        started.set()
        return await asyncio.gather(*tasks)

    t0 = time.monotonic()
    results = asyncio.run(run())
    elapsed = time.monotonic() - t0
    ok = sum(results)
    print(
        f"\n1000 concurrent transfers of 1 MiB: {ok} correct in {elapsed:.1f} s; engine fds {baseline_fds} -> {peak['fds']}"
    )
    assert ok == 1000
    assert peak["fds"] >= baseline_fds + 900  # they really were open at once
    deadline = time.monotonic() + 30
    while fd_count(pid) > baseline_fds + 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fd_count(pid) <= baseline_fds + 5
