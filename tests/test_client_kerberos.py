"""Negotiate (Kerberos) credentials of a job: a real MIT KDC on loopback and a pyspnego acceptor.

Kerberos needs the name ``localhost`` (SPN HTTP/localhost), not 127.0.0.1 (test-infra.md).
"""

from __future__ import annotations

import base64
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import spnego

from conftest import free_port
from test_client_support import random_file, wait_job, wait_port

REALM = "BCS.TEST"


@pytest.fixture
def realm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    if shutil.which("krb5kdc") is None:
        pytest.skip("MIT Kerberos KDC not installed")
    d = tmp_path / "krb"
    d.mkdir()
    port = free_port()
    (d / "krb5.conf").write_text(
        f"""[libdefaults]
 default_realm = {REALM}
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 dns_canonicalize_hostname = false
 udp_preference_limit = 1
[realms]
 {REALM} = {{
  kdc = 127.0.0.1:{port}
 }}
[domain_realm]
 localhost = {REALM}
"""
    )
    (d / "kdc.conf").write_text(
        f"""[kdcdefaults]
 kdc_ports = {port}
 kdc_tcp_ports = {port}
[realms]
 {REALM} = {{
  database_name = {d}/principal
  key_stash_file = {d}/stash
  acl_file = {d}/kadm5.acl
  kdc_ports = {port}
  kdc_tcp_ports = {port}
 }}
[logging]
 kdc = FILE:{d}/kdc.log
"""
    )
    (d / "kadm5.acl").write_text("")
    env = {
        "KRB5_CONFIG": str(d / "krb5.conf"),
        "KRB5_KDC_PROFILE": str(d / "kdc.conf"),
        "KRB5CCNAME": f"FILE:{d}/cc",
        "KRB5_KTNAME": f"FILE:{d}/http.keytab",
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }

    def run(*cmd: str, stdin: str | None = None) -> None:
        subprocess.run(cmd, env=env, input=stdin, text=True, check=True, capture_output=True, timeout=30)

    run("kdb5_util", "create", "-s", "-r", REALM, "-P", "masterpw")
    run("kadmin.local", "-q", "addprinc -pw Alice-pw1 alice")
    run("kadmin.local", "-q", "addprinc -randkey HTTP/localhost")
    run("kadmin.local", "-q", f"ktadd -k {d}/http.keytab HTTP/localhost")
    kdc = subprocess.Popen(["krb5kdc", "-n"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        run("kinit", "alice", stdin="Alice-pw1\n")
        for key in ("KRB5_CONFIG", "KRB5_KTNAME"):
            monkeypatch.setenv(key, env[key])
        yield env
    finally:
        kdc.terminate()
        kdc.wait(10)


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
    engine_factory: Any, realm: dict[str, str], tmp_path: Path
) -> None:
    body = random_file(tmp_path / "src.bin", 200_000).read_bytes()
    handler = type("Handler", (NegotiateHandler,), {"body": body, "users": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://localhost:{server.server_address[1]}/k.bin"
        engine = engine_factory().start(env={k: realm[k] for k in ("KRB5_CONFIG", "KRB5CCNAME")})
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
        assert handler.users == [f"alice@{REALM}"]
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
