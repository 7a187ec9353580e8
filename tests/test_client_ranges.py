"""Servers that answer with less than asked: the job keeps asking for the rest on the same connection."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_client_support import wait_job

CAP = 100_000


class CappedRangeHandler(http.server.BaseHTTPRequestHandler):
    """Always 206 with at most CAP bytes, whatever was asked (some CDNs and proxies do this)."""

    protocol_version = "HTTP/1.1"
    body = b""
    seen: list[tuple[str, int]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        m = re.match(r"bytes=(\d+)-", self.headers.get("Range", ""))
        start = int(m.group(1)) if m else 0
        end = min(start + CAP, len(self.body)) - 1
        self.seen.append((self.headers.get("Range", ""), self.client_address[1]))
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(self.body)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
        self.end_headers()
        self.wfile.write(self.body[start : end + 1])


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[tuple[str, type[CappedRangeHandler]]]:
    body = bytes(range(256)) * 1000 + b"tail"
    handler = type("Handler", (CappedRangeHandler,), {"body": body, "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/f", handler
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_short_206_answers_are_continued_with_ranges_over_one_connection(
    engine: Any, tmp_path: Path, capped: tuple[str, type[CappedRangeHandler]]
) -> None:
    url, handler = capped
    job = engine.call(
        "job.create", files=[{"remoteUrl": url, "localPath": str(tmp_path / "f")}], priority="Foreground"
    )
    done = wait_job(engine, job["jobId"])
    assert done["jobState"] == "Transferred", done
    engine.call("job.complete", jobId=job["jobId"])
    assert (tmp_path / "f").read_bytes() == handler.body
    ranges = [r for r, _ in handler.seen]
    assert ranges == ["", *[f"bytes={n}-" for n in range(CAP, len(handler.body), CAP)]]
    assert len({port for _, port in handler.seen}) == 1  # one keep-alive connection


class NoLengthHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.0, no Content-Length, body ends when the connection closes (dynamic content)."""

    body = b""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(self.body)

    do_HEAD = do_GET


def test_missing_content_length_is_an_error_unless_the_job_is_dynamic(engine: Any, tmp_path: Path) -> None:
    handler = type("Handler", (NoLengthHandler,), {"body": b"generated " * 5000})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/dyn"
        plain = engine.call(
            "job.create", files=[{"remoteUrl": url, "localPath": str(tmp_path / "p")}], priority="Foreground"
        )
        failed = wait_job(engine, plain["jobId"])
        assert (failed["jobState"], failed["errorCode"], failed["errorName"]) == (
            "Error",
            "0x80200011",
            "BG_E_MISSING_FILE_SIZE",
        )
        dynamic = engine.call(
            "job.create",
            files=[{"remoteUrl": url, "localPath": str(tmp_path / "d")}],
            priority="Foreground",
            dynamic=True,
        )
        done = wait_job(engine, dynamic["jobId"])
        assert done["jobState"] == "Transferred", done
        assert done["bytesTotal"] == done["bytesTransferred"] == len(handler.body)
        engine.call("job.complete", jobId=dynamic["jobId"])
        assert (tmp_path / "d").read_bytes() == handler.body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
