"""Helpers for the BITS client tests: real nginx and ``python -m http.server`` on loopback.

No tests here; the ``test_client_*`` modules import these helpers.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import EngineProcess, free_port

TERMINAL = ("Transferred", "Error", "Acknowledged", "Cancelled")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, 1 << 20)
            fh.write(os.urandom(n))
            left -= n
    return path


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Nginx:
    """nginx with its own config and prefix in ``base``; the access log records Range and bytes."""

    def __init__(
        self,
        base: Path,
        root: Path,
        port: int | None = None,
        extra: str = "",
        tls: tuple[Path, Path] | None = None,
        client_ca: Path | None = None,
    ) -> None:
        self.base = base
        self.root = root
        self.port = port or free_port()
        self.extra = extra
        self.tls = tls
        self.client_ca = client_ca
        self.proc: subprocess.Popen[bytes] | None = None
        base.mkdir(parents=True, exist_ok=True)
        (base / "logs").mkdir(exist_ok=True)
        self.access_log = base / "logs" / "access.log"

    def write_config(self) -> Path:
        conf = self.base / "nginx.conf"
        listen = f"listen 127.0.0.1:{self.port};"
        if self.tls is not None:
            listen = (
                f"listen 127.0.0.1:{self.port} ssl; ssl_certificate {self.tls[0]}; "
                f"ssl_certificate_key {self.tls[1]};"
            )
            if self.client_ca is not None:
                listen += f" ssl_client_certificate {self.client_ca}; ssl_verify_client on;"
        conf.write_text(
            f"""
user root;
worker_processes 1;
error_log {self.base}/logs/error.log warn;
pid {self.base}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    log_format bytes '$request_method $uri "$http_range" $status $body_bytes_sent $connection';
    access_log {self.access_log} bytes;
    client_body_temp_path {self.base}/body;
    proxy_temp_path {self.base}/proxy;
    fastcgi_temp_path {self.base}/fastcgi;
    uwsgi_temp_path {self.base}/uwsgi;
    scgi_temp_path {self.base}/scgi;
    sendfile on;
    keepalive_requests 10000;
    server {{
        {listen}
        root {self.root};
        location /slow/ {{ alias {self.root}/; limit_rate 2m; }}
        location /status503/ {{ return 503; }}
        location /redirect/ {{ rewrite ^/redirect/(.*)$ /$1 redirect; }}
        {self.extra}
    }}
}}
""",
            encoding="utf-8",
        )
        return conf

    def start(self) -> Nginx:
        conf = self.write_config()
        err = open(self.base / "logs" / "stderr.log", "ab")  # noqa: SIM115 - owned by the subprocess
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(self.base), "-c", str(conf), "-g", "daemon off;"],
            stdout=err,
            stderr=subprocess.STDOUT,
        )
        err.close()
        wait_port(self.port)
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGTERM): open connections are closed at once."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}/{path.lstrip('/')}"

    def connections(self) -> list[int]:
        """The nginx connection serial number of each logged request."""
        out = []
        for line in self.access_log.read_text().splitlines() if self.access_log.exists() else []:
            out.append(int(line.rsplit(" ", 1)[1]))
        return out

    def log(self) -> list[tuple[str, str, str, int, int]]:
        """(method, uri, range, status, body bytes sent) per logged request."""
        out = []
        if not self.access_log.exists():
            return out
        for line in self.access_log.read_text().splitlines():
            m = re.match(r'^(\S+) (\S+) "([^"]*)" (\d+) (\d+) (\d+)$', line)
            if m:
                rng = "" if m.group(3) == "-" else m.group(3)
                out.append((m.group(1), m.group(2), rng, int(m.group(4)), int(m.group(5))))
        return out


class PlainHttpServer:
    """``python -m http.server``: HTTP/1.0, no Range support."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PlainHttpServer:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                str(self.port),
                "--directory",
                str(self.root),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"


def wait_job(
    engine: EngineProcess, job_id: str, states: tuple[str, ...] = TERMINAL, timeout: float = 60.0
) -> dict[str, Any]:
    """Long-poll job.wait until the job is in one of ``states``."""
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = engine.call("job.wait", jobId=job_id, changeCount=0, timeout=0)
    with engine.client() as c:
        while job["jobState"] not in states:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"job still {job['jobState']} after {timeout} s: {job}")
            job = c.call(
                "job.wait", {"jobId": job_id, "changeCount": job["changeCount"], "timeout": min(left, 10)}
            )
    return job


def wait_until(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached after {timeout} s")


def make_pki(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("bcs test CA"))
        .issuer_name(name("bcs test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, usage: Any, sans: list[Any]) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)

    server_cert, server_key = leaf(
        "localhost",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client_cert, client_key = leaf("alice", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "ca": folder / "ca.pem",
        "server_cert": folder / "server.pem",
        "server_key": folder / "server.key",
        "client": folder / "client.pem",
    }
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["server_cert"].write_bytes(server_cert)
    files["server_key"].write_bytes(server_key)
    files["client"].write_bytes(client_cert + client_key)
    return files
