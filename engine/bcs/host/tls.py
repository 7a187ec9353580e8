"""HTTPS: certificates bound per port, their TLS context, and the cheroot listener that serves them.

design.md "Listeners (measured decision)": waitress has no TLS, so https ports run on cheroot's
builtin TLS adapter with the same WSGI app as plain HTTP. A port's certificate (``sslcert.set``)
is loaded into one ``ssl.SSLContext``: TLS 1.2 and 1.3 only, OpenSSL security level 2 ciphers,
and the client-certificate mode (Ignore / Accept = CERT_OPTIONAL / Require = CERT_REQUIRED, against
``trustedCaPath``). Rebinding swaps the adapter's context: new connections get the new certificate,
connections already open go on with theirs.

Everything a binding can get wrong is found by ``load_context`` before the binding is accepted
(missing or unreadable file, not PEM, key not matching the certificate, expired certificate),
each with its BITS/Win32 HRESULT.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cheroot.server import HTTPConnection
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.wsgi import Gateway_10
from cheroot.wsgi import Server as WSGIServer

from bcs import tunables
from bcs.config import SslCertificateConfig
from bcs.errors import ERROR_FILE_NOT_FOUND, AccessDeniedError, BcsError, InvalidArgumentError
from bcs.host.exchange import HostState
from bcs.host.listener import Connection, Listener, bind_port

__all__ = ["CertificateInfo", "TlsListener", "certificate_info", "load_context"]

log = logging.getLogger("bcs.host")


@dataclass(frozen=True)
class CertificateInfo:
    """What ``sslcert.get`` tells about a bound certificate."""

    subject: str
    issuer: str
    thumbprint: str  # SHA-1 of the DER certificate, upper-case hex, as Windows shows it
    not_before: datetime.datetime
    not_after: datetime.datetime


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise BcsError(ERROR_FILE_NOT_FOUND, f"{what} {path} does not exist", noun="SslCertificate") from None
    except PermissionError:
        raise AccessDeniedError(
            f"{what} {path} cannot be read by the engine", noun="SslCertificate"
        ) from None
    except OSError as exc:
        raise InvalidArgumentError(f"{what} {path}: {exc.strerror or exc}", noun="SslCertificate") from None


def certificate_info(path: str) -> CertificateInfo:
    """Subject, issuer, thumbprint and validity of the first certificate in a PEM file.

    Raises:
        BcsError: the file is missing, unreadable or holds no PEM certificate.
    """
    from cryptography import x509

    data = _read(path, "certificate")
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise InvalidArgumentError(
            f"certificate {path} is not a PEM certificate", noun="SslCertificate", target=path
        ) from None
    from cryptography.hazmat.primitives.serialization import Encoding

    der = cert.public_bytes(Encoding.DER)
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        thumbprint=hashlib.sha1(der).hexdigest().upper(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def load_context(binding: SslCertificateConfig) -> ssl.SSLContext:
    """The server TLS context of a binding, refusing what cannot serve.

    Raises:
        BcsError: a missing or unreadable file, not PEM, a key that does not match the certificate,
            an expired certificate, or an unusable CA bundle; nothing is changed then.
    """
    info = certificate_info(binding.certificate_path)
    if info.not_after < datetime.datetime.now(datetime.timezone.utc):
        raise InvalidArgumentError(
            f"certificate {binding.certificate_path} expired on {info.not_after:%Y-%m-%d %H:%M} UTC",
            noun="SslCertificate",
            target=binding.port,
        )
    _read(binding.key_path, "key")  # a clear error for a missing or unreadable key file
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("DEFAULT:@SECLEVEL=2")
    try:
        context.load_cert_chain(binding.certificate_path, binding.key_path)
    except ssl.SSLError as exc:
        why = (
            "does not match the certificate"
            if "KEY_VALUES_MISMATCH" in str(exc)
            else f"cannot be used ({exc.reason})"
        )
        raise InvalidArgumentError(
            f"key {binding.key_path} {why}", noun="SslCertificate", target=binding.port
        ) from None
    if binding.client_certificate != "Ignore":
        _read(binding.trusted_ca_path, "trustedCaPath")
        try:
            context.load_verify_locations(cafile=binding.trusted_ca_path)
        except ssl.SSLError as exc:
            raise InvalidArgumentError(
                f"trustedCaPath {binding.trusted_ca_path} holds no usable CA certificate ({exc.reason})",
                noun="SslCertificate",
                target=binding.port,
            ) from None
        context.verify_mode = (
            ssl.CERT_REQUIRED if binding.client_certificate == "Require" else ssl.CERT_OPTIONAL
        )
    return context


class _Adapter(BuiltinSSLAdapter):
    """cheroot's builtin adapter with a context made here, and handshakes off the accept thread.

    cheroot wraps (and so handshakes) every connection on its one accept thread: a client that
    opens a TCP connection and never sends a ClientHello stalled every other client for the
    server timeout (design.md, cheroot issue 748). Here the socket is wrapped without the
    handshake; OpenSSL does it on the first read, in the worker thread cheroot gives the
    connection once it is readable, so an idle client holds no thread at all. The TLS variables
    of a request are read then too (``_TlsEnviron``), after the handshake.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        # BuiltinSSLAdapter.__init__ loads files; this adapter is given a ready context instead.
        self._context = context
        self.certificate = self.private_key = self.certificate_chain = self.ciphers = None
        self._server_env: dict[str, Any] = {}

    def wrap(self, sock: socket.socket) -> tuple[ssl.SSLSocket, Mapping[str, Any]]:
        tls = self.context.wrap_socket(sock, do_handshake_on_connect=False, server_side=True)
        return tls, _TlsEnviron(self, tls)

    def get_environ(self, sock: Any = None) -> dict[str, Any]:
        """The TLS variables of a request (cheroot's, without the server's own certificate text)."""
        env: dict[str, Any] = {"wsgi.url_scheme": "https", "HTTPS": "on"}
        if sock is not None:
            cipher = sock.cipher()
            env["SSL_PROTOCOL"] = cipher[1] if cipher else ""
            env["SSL_CIPHER"] = cipher[0] if cipher else ""
            peer = sock.getpeercert(binary_form=True)
            env["SSL_CLIENT_VERIFY"] = "SUCCESS" if peer else "NONE"
            if peer:
                env["SSL_CLIENT_CERT"] = ssl.DER_cert_to_PEM_cert(peer)
        return env


class _TlsEnviron(Mapping[str, Any]):
    """The TLS variables of a connection, read when the first request copies them (after the handshake)."""

    def __init__(self, adapter: _Adapter, sock: ssl.SSLSocket) -> None:
        self._adapter = adapter
        self._sock = sock
        self._env: dict[str, Any] | None = None

    def _get(self) -> dict[str, Any]:
        if self._env is None:
            self._env = self._adapter.get_environ(self._sock)
        return self._env

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


class _HttpConnection(HTTPConnection):
    """cheroot's connection, with the ``Connection`` the app sees and its end told to the host state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bcs_connection = Connection()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.bcs_connection.end(self.server.host_state)


class _Gateway(Gateway_10):
    """cheroot's WSGI 1.0 gateway, with the request's ``Connection`` in its environ."""

    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]  # cheroot's stub says None
        env: dict[str, Any] = Gateway_10.get_environ(self)  # type: ignore[no-untyped-call]
        env["bcs.connection"] = self.req.conn.bcs_connection
        return env


class _Server(WSGIServer):
    """cheroot's WSGI server on a socket bound beforehand (so a busy port is known at once)."""

    ConnectionClass = _HttpConnection
    prebound: socket.socket | None = None
    host_state: HostState | None = None  # its connection_closed hears of every closed connection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gateway = _Gateway

    def process_conn(self, conn: Any) -> None:
        """A new connection waits in the selector until it is readable, then gets a worker.

        cheroot hands every new connection to a worker at once; with the handshake done on the
        first read (``_Adapter.wrap``), a client that never sends its ClientHello would hold that
        worker for the whole timeout, and a few of them every worker. Waiting for readability
        first leaves idle connections to the selector, which expires them after the timeout.
        """
        if not getattr(conn, "bcs_waited", False):
            conn.bcs_waited = True
            self._connections.put(conn)  # type: ignore[attr-defined]
            return
        super().process_conn(conn)

    def bind(self, family: int, type: int, proto: int = 0) -> socket.socket:
        sock = self.prebound
        if sock is None:  # only the first address family prepare() tries is ours
            raise OSError("the listening socket was already taken")
        self.prebound = None
        sock.setblocking(True)
        if family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket = sock
        self.bind_addr = self.resolve_real_bind_addr(sock)  # type: ignore[no-untyped-call]
        return sock


def warn_if_expiring(port: int, binding: SslCertificateConfig) -> None:
    """Log a warning when the certificate of ``port`` ends within ``CERT_EXPIRY_WARNING_DAYS``."""
    try:
        info = certificate_info(binding.certificate_path)
    except BcsError:
        return
    left = info.not_after - datetime.datetime.now(datetime.timezone.utc)
    if left < datetime.timedelta(days=tunables.CERT_EXPIRY_WARNING_DAYS):
        log.warning(
            "https port %d: certificate %s (%s) expires on %s UTC, in %d days; bind a new one with sslcert.set",
            port,
            binding.certificate_path,
            info.subject,
            f"{info.not_after:%Y-%m-%d %H:%M}",
            left.days,
        )


class TlsListener(Listener):
    """One https port on cheroot, serving the port's ``HostApp`` with the port's certificate."""

    scheme = "https"

    def __init__(self, port: int, state: HostState, threads: int, binding: SslCertificateConfig) -> None:
        context = load_context(binding)
        super().__init__(port, state, threads)
        self.binding = binding
        self._adapter = _Adapter(context)
        self._sock: socket.socket | None = bind_port(port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        sock = self._sock
        assert sock is not None
        self._sock = None
        server = _Server(
            ("::" if sock.family == socket.AF_INET6 else "0.0.0.0", self.port),
            self.app,
            numthreads=self.threads,
            server_name="BITS-Compact-Server",
            timeout=int(tunables.IDLE_TIMEOUT),
            request_queue_size=tunables.TLS_LISTEN_BACKLOG,
        )
        server.prebound = sock
        server.host_state = self.state
        server.ssl_adapter = self._adapter
        server.prepare()
        self._server = server
        self._thread = threading.Thread(target=server.serve, name=f"bcs-https-{self.port}", daemon=True)
        self._thread.start()
        log.info("listening on https port %d (%d threads)", self.port, self.threads)
        warn_if_expiring(self.port, self.binding)

    def rebind(self, binding: SslCertificateConfig) -> None:
        """Serve new connections with ``binding``'s certificate; open connections keep theirs.

        Raises:
            BcsError: the new binding cannot serve (the old one stays).
        """
        self._adapter.context = load_context(binding)
        self.binding = binding
        log.info("https port %d: new certificate bound", self.port)
        warn_if_expiring(self.port, binding)

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.stopping.set()  # wakes iterated bodies sleeping for their next chunk
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._thread is not None:
            self._thread.join(tunables.STOP_TIMEOUT)
        log.info("stopped listening on https port %d", self.port)

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["certificate"] = self.binding.certificate_path
        return out
