"""Integrity (issue 16): URLs with ``sha256: true`` pin their files' SHA-256 and serve it as Repr-Digest.

A real engine, curl and http.client: the digest on 200, 206 and HEAD; a touched file keeps being
served; a changed file is never served under the old digest (503 while it is checked, then 409),
also when it changed while the engine was stopped; publishing the URL again accepts the new content.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import EngineProcess, free_port
from test_client_support import wait_until


def fetch(port: int, path: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def digest_field(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


@pytest.fixture
def site(engine: EngineProcess, tmp_path: Path) -> dict[str, Any]:
    port = free_port()
    www = tmp_path / "www"
    (www / "dir").mkdir(parents=True)
    (www / "a.bin").write_bytes(os.urandom(300_000))
    (www / "plain.bin").write_bytes(b"plain")
    (www / "dir" / "f.txt").write_bytes(b"below a directory\n")
    prefix = f"http://+:{port}/D/"
    engine.call("urlgroup.create", urlGroup=prefix)
    return {"port": port, "prefix": prefix, "www": www}


def test_a_pinned_file_carries_repr_digest_on_every_answer(
    engine: EngineProcess, site: dict[str, Any]
) -> None:
    port, prefix, www = site["port"], site["prefix"], site["www"]
    data = (www / "a.bin").read_bytes()
    url = engine.call(
        "url.create", urlGroup=prefix, urlSuffix="a.bin", sourcePath=str(www / "a.bin"), sha256=True
    )
    assert url["sha256"] is True
    assert (url["digestState"], url["sha256Digest"]) == ("Known", hashlib.sha256(data).hexdigest())
    engine.call("url.create", urlGroup=prefix, urlSuffix="plain.bin", sourcePath=str(www / "plain.bin"))
    status, headers, body = fetch(port, "/D/a.bin")
    assert (status, body) == (200, data)
    assert headers["repr-digest"] == digest_field(data)
    status, headers, body = fetch(port, "/D/a.bin", Range="bytes=10-19")
    assert (status, body) == (206, data[10:20])
    assert headers["repr-digest"] == digest_field(data)  # of the whole representation, not the range
    status, headers, _ = fetch(port, "/D/a.bin", "HEAD")
    assert status == 200 and headers["repr-digest"] == digest_field(data)
    assert "repr-digest" not in fetch(port, "/D/plain.bin")[1]
    # curl sees it too
    out = subprocess.run(
        ["curl", "-sS", "-D", "-", "-o", "/dev/null", f"http://127.0.0.1:{port}/D/a.bin"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert f"Repr-Digest: {digest_field(data)}" in out.stdout
    assert engine.call("url.list", urlGroup=prefix)[1]["sha256"] is False


def test_touched_is_served_changed_is_refused_until_published_again(
    engine: EngineProcess, site: dict[str, Any]
) -> None:
    port, prefix, www = site["port"], site["prefix"], site["www"]
    path = www / "a.bin"
    data = path.read_bytes()
    engine.call("url.create", urlGroup=prefix, urlSuffix="a.bin", sourcePath=str(path), sha256=True)
    # same bytes, new mtime: checked again, then served with the same digest
    os.utime(path, (time.time() + 10, time.time() + 10))
    seen: set[int] = set()

    def served() -> bool:
        status, headers, _ = fetch(port, "/D/a.bin")
        seen.add(status)
        return status == 200 and headers["repr-digest"] == digest_field(data)

    wait_until(served, 20, "the touched file served again")
    assert seen <= {200, 503}
    # other bytes of the same size: never 200 again
    changed = os.urandom(len(data))
    path.write_bytes(changed)
    os.utime(path, (time.time() + 20, time.time() + 20))
    statuses: list[int] = []

    def refused() -> bool:
        status, headers, _ = fetch(port, "/D/a.bin")
        statuses.append(status)
        if status == 503:
            assert headers["retry-after"] and headers["bits-error-code"] == "0x801901F7"
        return status == 409

    wait_until(refused, 20, "409 for the changed file")
    assert set(statuses) <= {503, 409}, statuses
    url = engine.call("url.list", urlGroup=prefix)[0]
    assert (url["digestState"], url["sha256Digest"]) == ("Changed", None)
    assert fetch(port, "/D/a.bin", Range="bytes=0-9")[0] == 409
    # the access log says why
    log = engine.state_dir / "access.log"
    wait_until(lambda: "refused:digest-mismatch" in log.read_text(), 10, "access-log note")
    # published again: the new content is pinned
    engine.call("url.delete", urlGroup=prefix, urlSuffix="a.bin")
    engine.call("url.create", urlGroup=prefix, urlSuffix="a.bin", sourcePath=str(path), sha256=True)
    status, headers, body = fetch(port, "/D/a.bin")
    assert (status, body, headers["repr-digest"]) == (200, changed, digest_field(changed))


def test_a_file_changed_while_the_engine_was_stopped_is_refused(
    engine: EngineProcess, site: dict[str, Any]
) -> None:
    port, prefix, www = site["port"], site["prefix"], site["www"]
    path = www / "a.bin"
    engine.call("url.create", urlGroup=prefix, urlSuffix="a.bin", sourcePath=str(path), sha256=True)
    assert fetch(port, "/D/a.bin")[0] == 200
    engine.stop()
    path.write_bytes(b"replaced while stopped")
    engine.start()
    wait_until(lambda: fetch(port, "/D/a.bin")[0] == 409, 20, "409 after the restart")
    assert (engine.state_dir / "digests.json").exists()


def test_files_below_a_directory_are_pinned_at_their_first_request(
    engine: EngineProcess, site: dict[str, Any]
) -> None:
    port, prefix, www = site["port"], site["prefix"], site["www"]
    url = engine.call(
        "url.create", urlGroup=prefix, urlSuffix="files", sourcePath=str(www / "dir"), sha256=True
    )
    assert url["isDirectory"] and "digestState" not in url
    data = (www / "dir" / "f.txt").read_bytes()
    wait_until(lambda: fetch(port, "/D/files/f.txt")[0] == 200, 20, "first request pins")
    assert fetch(port, "/D/files/f.txt")[1]["repr-digest"] == digest_field(data)
    (www / "dir" / "f.txt").write_bytes(b"other content!!!!\n")
    wait_until(lambda: fetch(port, "/D/files/f.txt")[0] == 409, 20, "409 below the directory")
    # a new file below it is pinned at its own first request
    (www / "dir" / "g.txt").write_bytes(b"g")
    wait_until(lambda: fetch(port, "/D/files/g.txt")[0] == 200, 20, "the new file")


def test_a_big_file_is_hashed_in_the_background(engine: EngineProcess, site: dict[str, Any]) -> None:
    port, prefix, www = site["port"], site["prefix"], site["www"]
    big = www / "big.bin"
    with open(big, "wb") as fh:  # sparse: hashing reads 1 GiB of zeros without the disk
        fh.truncate(1 << 30)
    started = time.monotonic()
    url = engine.call("url.create", urlGroup=prefix, urlSuffix="big.bin", sourcePath=str(big), sha256=True)
    assert time.monotonic() - started < 30  # url.create waits at most DIGEST_CREATE_WAIT for the digest
    assert url["digestState"] in ("Pending", "Known")
    expected = hashlib.sha256()
    zeros = bytes(1 << 20)
    for _ in range(1024):
        expected.update(zeros)
    seen: set[int] = set()

    def known() -> bool:
        status = fetch(port, "/D/big.bin", "HEAD")[0]
        seen.add(status)
        return status == 200

    wait_until(known, 120, "the 1 GiB digest")
    assert seen <= {200, 503}
    status, headers, _ = fetch(port, "/D/big.bin", Range="bytes=0-0")
    assert status == 206
    assert headers["repr-digest"] == "sha-256=:" + base64.b64encode(expected.digest()).decode() + ":"
