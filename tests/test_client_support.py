"""Helpers for the BITS client tests: real nginx and ``python -m http.server`` on loopback.

No tests here; the ``test_client_*`` modules import these helpers.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from conftest import EngineProcess, free_port

UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")  # szOID_NT_PRINCIPAL_NAME (SAN otherName)

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


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def make_cert(
    base: Path,
    name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    client: bool = False,
    days: int = 30,
    start_days_ago: int = 1,
    upn: str | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path, Path]:
    """An ECDSA P-256 certificate (self-signed CA, or signed by ``issuer``) and its key, as PEM files.

    ``upn`` adds a user principal name to the SubjectAltName, as an otherName holding a DER
    UTF8String (what Windows' certificate mapping reads).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(days=start_days_ago))
        .not_valid_after(_now() + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    elif issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), critical=False
        )
    if not ca:
        names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        if upn is not None:
            names.append(x509.OtherName(UPN_OID, der_utf8_string(upn)))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    cert_path, key_path = base / f"{name}.crt", base / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key)
    return cert, key, cert_path, key_path


def der_utf8_string(text: str) -> bytes:
    """``text`` as a DER UTF8String (tag 0x0C, definite length)."""
    data = text.encode("utf-8")
    if len(data) < 0x80:
        return bytes([0x0C, len(data)]) + data
    size = len(data).to_bytes((len(data).bit_length() + 7) // 8, "big")
    return bytes([0x0C, 0x80 | len(size)]) + size + data


def make_pki(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate, as PEM files."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = make_cert(folder, "ca", None, ca=True, days=2)
    server = make_cert(folder, "localhost", (ca[0], ca[1]), days=2)
    client = make_cert(folder, "alice", (ca[0], ca[1]), client=True, days=2)
    files = {"ca": ca[2], "server_cert": server[2], "server_key": server[3], "client": folder / "client.pem"}
    files["client"].write_bytes(client[2].read_bytes() + client[3].read_bytes())  # certificate and key
    return files
