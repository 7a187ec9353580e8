"""Upload-reply: the upload server tells a server application (a small WSGI app started by the
test) about each upload, by reference and by value, and serves its reply (bits-protocol.md 2.7)."""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from conftest import EngineProcess, free_port
from upload_support import BitsConnection, BitsUploader, Response, upload_group

MiB = 1024 * 1024


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Application:
    """The server application: records each notification and answers by its path and query."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.failures_left = 1
        self.server: WSGIServer | None = None
        self.thread: threading.Thread | None = None
        self.port = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        call: dict[str, Any] = {
            "path": path,
            "query": environ.get("QUERY_STRING", ""),
            "original": environ.get("HTTP_BITS_ORIGINAL_REQUEST_URL"),
            "request_file": environ.get("HTTP_BITS_REQUEST_DATAFILE_NAME"),
            "response_file": environ.get("HTTP_BITS_RESPONSE_DATAFILE_NAME"),
            "body": body,
        }
        self.calls.append(call)
        headers = [("Content-Type", "application/octet-stream")]
        if "copy" in query:
            headers.append(("BITS-Copy-File-To-Destination", "yes"))
        if "static" in query:
            headers.append(("BITS-Static-Response-URL", f"http://127.0.0.1:{self.port}/static-reply"))
        if path == "/fail-once" and self.failures_left:
            self.failures_left -= 1
            start_response("503 Service Unavailable", [("Content-Length", "0")])
            return []
        if path == "/slow":
            time.sleep(3)
        if path == "/byref":
            with open(call["request_file"], "rb") as fh:
                call["data_seen"] = fh.read()
            with open(call["response_file"], "wb") as fh:
                fh.write(b"sha256:" + hashlib.sha256(call["data_seen"]).hexdigest().encode())
            start_response("200 OK", [*headers, ("Content-Length", "0")])
            return []
        reply = b"got " + str(len(body)).encode() + b" bytes:" + hashlib.sha256(body).hexdigest().encode()
        start_response("200 OK", [*headers, ("Content-Length", str(len(reply)))])
        return [reply]


@pytest.fixture
def app() -> Iterator[Application]:
    application = Application()
    server = make_server("127.0.0.1", 0, application, handler_class=QuietHandler)
    application.server = server
    application.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield application
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "incoming"
    path.mkdir()
    return path


def notifying_group(engine: EngineProcess, folder: Path, app: Application, path: str, kind: str) -> int:
    port = free_port()
    upload_group(
        engine, port, folder, notificationType=kind, notificationUrl=f"http://127.0.0.1:{app.port}{path}"
    )
    return port


def upload_all(up: BitsUploader, data: bytes, fragment: int = MiB) -> Response:
    """Create a session and send every byte; returns the last fragment's Ack."""
    assert up.create().status == 200
    offset = 0
    r: Response | None = None
    while offset < len(data):
        r = up.fragment(offset, data[offset : offset + fragment], len(data))
        assert r.status == 200, r.head
        offset = int(r.headers["bits-received-content-range"])
    assert r is not None
    return r


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=30)
    try:
        conn.request("GET", parts.path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_by_reference_the_application_reads_the_file_and_writes_the_reply(
    engine: EngineProcess, folder: Path, app: Application
) -> None:
    port = notifying_group(engine, folder, app, "/byref", "ByReference")
    data = os.urandom(2 * MiB + 5)
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/report.bin")
        last = upload_all(up, data)
        reply_url = last.header("BITS-Reply-URL")
        assert reply_url == (
            f"http://127.0.0.1:{port}/upload/BITS-Sessions/Replies/"
            f"{urllib.parse.quote(str(up.session_id))}/reply"
        )
        (call,) = app.calls
        assert call["path"] == "/byref" and call["body"] == b""
        assert call["original"] == f"http://127.0.0.1:{port}/upload/files/report.bin"
        assert call["data_seen"] == data
        expected = b"sha256:" + hashlib.sha256(data).hexdigest().encode()
        status, headers, body = get(reply_url)
        assert status == 200 and body == expected and headers["accept-ranges"] == "bytes"
        status, _, body = get(reply_url, {"Range": "bytes=0-6"})
        assert status == 206 and body == b"sha256:"
        assert up.close().status == 200
        assert get(reply_url)[0] == 404  # the reply goes with the session
    assert os.listdir(folder) == []  # the application took the file; nothing is placed


def test_by_value_the_application_gets_the_bytes_and_its_answer_is_the_reply(
    engine: EngineProcess, folder: Path, app: Application
) -> None:
    port = notifying_group(engine, folder, app, "/byval?app=1", "ByValue")
    data = os.urandom(3 * MiB)
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/value.bin?copy=1")
        last = upload_all(up, data)
        (call,) = app.calls
        assert call["body"] == data and call["request_file"] is None
        assert call["query"] == "app=1&copy=1"  # the upload URL's query string is appended
        status, _, body = get(str(last.header("BITS-Reply-URL")))
        assert (
            status == 200 and body == b"got %d bytes:" % len(data) + hashlib.sha256(data).hexdigest().encode()
        )
        assert not (folder / "value.bin").exists()
        assert up.close().status == 200
    assert (folder / "value.bin").read_bytes() == data  # BITS-Copy-File-To-Destination


def test_a_static_response_url_is_handed_on_and_nothing_is_served_here(
    engine: EngineProcess, folder: Path, app: Application
) -> None:
    port = notifying_group(engine, folder, app, "/byval", "ByValue")
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/s.bin?static=1")
        last = upload_all(up, b"static please")
        assert last.header("BITS-Reply-URL") == f"http://127.0.0.1:{app.port}/static-reply"
        ours = f"http://127.0.0.1:{port}/upload/BITS-Sessions/Replies/{urllib.parse.quote(str(up.session_id))}/reply"
        assert get(ours)[0] == 404
        assert up.close().status == 200


def test_an_application_failure_is_the_acks_and_the_resent_last_fragment_retries(
    engine: EngineProcess, folder: Path, app: Application
) -> None:
    port = notifying_group(engine, folder, app, "/fail-once", "ByValue")
    data = b"retry me"
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/f.bin")
        assert up.create().status == 200
        r = up.fragment(0, data, len(data))
        assert r.status == 503 and r.header("BITS-Packet-Type") == "Ack"
        assert r.header("BITS-Error-Code") == "0x801901F7" and r.header("BITS-Error-Context") == "0x7"
        assert r.header("BITS-Received-Content-Range") == str(len(data))
        r = up.fragment(0, data, len(data))  # the client resends the last fragment
        assert r.status == 200 and r.header("BITS-Reply-URL")
        again = up.fragment(0, data, len(data))  # its Ack lost: answered, the application not told twice
        assert again.status == 200 and again.header("BITS-Reply-URL") == r.header("BITS-Reply-URL")
        assert len(app.calls) == 2
        assert up.close().status == 200


def test_an_unreachable_or_slow_application_gets_502_or_408_with_context_7(
    engine_factory: Any, folder: Path, app: Application
) -> None:
    engine = engine_factory().start(env={"BCS_TEST_UPLOAD_NOTIFY_TIMEOUT": "1"})
    port = free_port()
    prefix = upload_group(
        engine,
        port,
        folder,
        notificationType="ByValue",
        notificationUrl=f"http://127.0.0.1:{free_port()}/gone",
    )
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/u.bin")
        assert up.create().status == 200
        r = up.fragment(0, b"x", 1)
        assert r.status == 502 and r.header("BITS-Error-Code") == "0x80072EFD"
        assert r.header("BITS-Error-Context") == "0x7"
        engine.call("urlgroup.set", urlGroup=prefix, notificationUrl=f"http://127.0.0.1:{app.port}/slow")
        r = up.fragment(0, b"x", 1)
        assert r.status == 408 and r.header("BITS-Error-Code") == "0x800705B4"
        assert r.header("BITS-Error-Context") == "0x7"


def test_many_clients_may_post_to_one_application_url(
    engine: EngineProcess, folder: Path, app: Application
) -> None:
    port = notifying_group(engine, folder, app, "/byval", "ByValue")
    (folder / "submit").write_text("an existing file does not matter: nothing is placed")
    with BitsConnection(port) as a, BitsConnection(port) as b:
        first, second = BitsUploader(a, "/upload/files/submit"), BitsUploader(b, "/upload/files/submit")
        assert first.create().status == 200 and second.create().status == 200
        for up, data in ((first, b"first"), (second, b"second")):
            r = up.fragment(0, data, len(data))
            assert r.status == 200
            assert get(str(r.header("BITS-Reply-URL")))[2].startswith(b"got %d bytes" % len(data))
        assert first.close().status == 200 and second.close().status == 200
    assert [c["body"] for c in app.calls] == [b"first", b"second"]


def test_reply_urls_of_other_sessions_and_other_methods_are_refused(
    engine: EngineProcess, folder: Path, app: Application
) -> None:
    port = notifying_group(engine, folder, app, "/byval", "ByValue")
    with BitsConnection(port) as c:
        up = BitsUploader(c, "/upload/files/o.bin")
        reply_url = str(upload_all(up, b"data").header("BITS-Reply-URL"))
        base = reply_url.rsplit("/", 2)[0]
        assert get(base + "/%7B00000000-0000-0000-0000-000000000000%7D/reply")[0] == 404
        assert get(reply_url + "x")[0] == 404
        r = c.request(urllib.parse.urlsplit(reply_url).path, [("Content-Length", "0")], method="PUT")
        assert r.status == 405
