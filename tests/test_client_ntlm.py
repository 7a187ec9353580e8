"""NTLM credentials of a job against an HTTP/1.1 server whose acceptor is pyspnego (NTLM_USER_FILE)."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import spnego

from test_client_support import random_file, sha256, wait_job


class NtlmHandler(http.server.BaseHTTPRequestHandler):
    """Serves one file after an NTLM handshake; the connection stays authenticated, as with IIS."""

    protocol_version = "HTTP/1.1"
    body = b""
    requests: list[tuple[str, str]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        self.requests.append((self.command, auth.split(" ", 1)[0]))
        if getattr(self, "authenticated", False):
            self._send(200, {"Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}, self.body)
            return
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "ntlm" or not token:
            self.ctx = spnego.server(protocol="ntlm", service="HTTP")
            self._send(401, {"WWW-Authenticate": "NTLM"})
            return
        try:
            out = self.ctx.step(base64.b64decode(token))
        except Exception:
            self._send(401, {"WWW-Authenticate": "NTLM"})
            return
        if self.ctx.complete:
            self.authenticated = True
            self.user = self.ctx.client_principal
            self._send(200, {"Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}, self.body)
        else:
            self._send(401, {"WWW-Authenticate": "NTLM " + base64.b64encode(out or b"").decode()})

    do_HEAD = do_GET


@pytest.fixture
def ntlm_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, bytes]]:
    users = tmp_path / "ntlm_users"
    users.write_text("BCS:alice:Passw0rd!\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    body = random_file(tmp_path / "src.bin", 300_000).read_bytes()
    handler = type("Handler", (NtlmHandler,), {"body": body, "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/file.bin", body
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_ntlm_credentials_complete_the_handshake_and_wrong_ones_give_0x80190191(
    engine: Any, tmp_path: Path, ntlm_server: tuple[str, bytes]
) -> None:
    url, body = ntlm_server
    ok = engine.call(
        "job.create",
        files=[{"remoteUrl": url, "localPath": str(tmp_path / "ok.bin")}],
        priority="Foreground",
        credentials=[{"scheme": "NTLM", "userName": "BCS\\alice", "password": "Passw0rd!"}],
    )
    done = wait_job(engine, ok["jobId"], ("Transferred", "Error", "TransientError"))
    assert done["jobState"] == "Transferred", done
    engine.call("job.complete", jobId=ok["jobId"])
    assert (tmp_path / "ok.bin").read_bytes() == body
    assert sha256(tmp_path / "ok.bin") == sha256(tmp_path / "src.bin")
    bad = engine.call(
        "job.create",
        files=[{"remoteUrl": url, "localPath": str(tmp_path / "bad.bin")}],
        priority="Foreground",
        credentials=[{"scheme": "NTLM", "userName": "BCS\\alice", "password": "wrong"}],
    )
    failed = wait_job(engine, bad["jobId"], ("Transferred", "Error", "TransientError"))
    assert (failed["jobState"], failed["errorCode"]) == ("Error", "0x80190191")


def test_negotiate_credentials_fall_back_to_ntlm_for_an_ntlm_only_server(
    engine: Any, tmp_path: Path, ntlm_server: tuple[str, bytes]
) -> None:
    url, body = ntlm_server
    job = engine.call(
        "job.create",
        files=[{"remoteUrl": url, "localPath": str(tmp_path / "n.bin")}],
        priority="Foreground",
        credentials=[{"scheme": "Negotiate", "userName": "BCS\\alice", "password": "Passw0rd!"}],
    )
    done = wait_job(engine, job["jobId"], ("Transferred", "Error", "TransientError"))
    assert done["jobState"] == "Transferred", done
    engine.call("job.complete", jobId=job["jobId"])
    assert (tmp_path / "n.bin").read_bytes() == body
