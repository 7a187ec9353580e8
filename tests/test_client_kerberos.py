"""Negotiate (Kerberos) credentials of a job: a real MIT KDC on loopback and a pyspnego acceptor.

Kerberos needs the name ``localhost`` (SPN HTTP/localhost), not 127.0.0.1 (test-infra.md). The realm
is the ``realm`` fixture of conftest.py (``auth_support.KerberosRealm``).
"""

from __future__ import annotations

import base64
import http.server
import threading
from pathlib import Path
from typing import Any

import spnego

from test_client_support import random_file, wait_job


class NegotiateHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b""
    users: list[str] = []

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
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "negotiate" or not token:
            self._send(401, {"WWW-Authenticate": "Negotiate"})
            return
        ctx = spnego.server(hostname="localhost", service="HTTP", protocol="negotiate")
        try:
            out = ctx.step(base64.b64decode(token))
        except Exception:
            self._send(401, {"WWW-Authenticate": "Negotiate"})
            return
        if not ctx.complete:
            self._send(401, {"WWW-Authenticate": "Negotiate " + base64.b64encode(out or b"").decode()})
            return
        self.users.append(str(ctx.client_principal))
        headers = {"Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}
        if out:
            headers["WWW-Authenticate"] = "Negotiate " + base64.b64encode(out).decode()
        self._send(200, headers, self.body)


def test_negotiate_with_the_engines_own_kerberos_ticket(
    engine_factory: Any, realm: Any, tmp_path: Path
) -> None:
    body = random_file(tmp_path / "src.bin", 200_000).read_bytes()
    handler = type("Handler", (NegotiateHandler,), {"body": body, "users": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://localhost:{server.server_address[1]}/k.bin"
        engine = engine_factory().start(env={k: realm.env[k] for k in ("KRB5_CONFIG", "KRB5CCNAME")})
        job = engine.call(
            "job.create",
            files=[{"remoteUrl": url, "localPath": str(tmp_path / "k.bin")}],
            priority="Foreground",
            credentials=[{"scheme": "Negotiate"}],  # no user name: the engine's own logon (ticket cache)
        )
        done = wait_job(engine, job["jobId"], ("Transferred", "Error", "TransientError"))
        assert done["jobState"] == "Transferred", done
        engine.call("job.complete", jobId=job["jobId"])
        assert (tmp_path / "k.bin").read_bytes() == body
        assert handler.users == [f"alice@{realm.realm}"]
        refused = engine.call(
            "job.create",
            files=[{"remoteUrl": url, "localPath": str(tmp_path / "r.bin")}],
            priority="Foreground",
        )
        failed = wait_job(engine, refused["jobId"], ("Transferred", "Error", "TransientError"))
        assert (failed["jobState"], failed["errorCode"]) == ("Error", "0x80190191")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
