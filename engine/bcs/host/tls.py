"""HTTPS: certificates bound per port, their TLS context, and the cheroot listener that serves them.

design.md "Listeners (measured decision)": waitress has no TLS, so https ports run on cheroot's
builtin TLS adapter with the same WSGI app as plain HTTP. A port's certificate (``sslcert.set``)
is loaded into one ``ssl.SSLContext``: TLS 1.2 and 1.3 only, OpenSSL security level 2 ciphers,
and the client-certificate mode (Ignore / Accept = CERT_OPTIONAL / Require = CERT_REQUIRED, against
``trustedCaPath``). Rebinding swaps the adapter's context: new connections get the new certificate,
connections already open go on with theirs.

A binding's certificate and key come from one of its sources: PEM files (the key may be encrypted:
``keyPassword``), a PKCS#12 (PFX) file, or the certificate store by thumbprint
(``bcs.host.certstore``). Each is read with ``cryptography`` and handed to OpenSSL in memory
(``_pem_file``): the key is re-encrypted under a random password and written to an anonymous
``memfd`` that ``load_cert_chain`` opens as ``/proc/self/fd/N``, so no key material from a
password-protected file or from the store ever lands on disk.

Everything a binding can get wrong is found by ``load_context`` before the binding is accepted
(missing or unreadable file, not PEM/PKCS#12, wrong or missing password, key not matching the
certificate, unknown thumbprint, expired certificate), each with its BITS/Win32 HRESULT.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import logging
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cheroot.server import HTTPConnection
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.wsgi import Gateway_10
from cheroot.wsgi import Server as WSGIServer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from bcs import tunables
from bcs.bandwidth import as_paced
from bcs.config import SslCertificateConfig
from bcs.errors import ERROR_INVALID_PASSWORD, NTE_NO_KEY, BcsError, InvalidArgumentError, file_error
from bcs.host.certstore import read_store_certificate
from bcs.host.exchange import HostState
from bcs.host.listener import Connection, Listener, bind_port

__all__ = ["CertificateInfo", "TlsListener", "certificate_info", "load_context"]

log = logging.getLogger("bcs.host")

_NOUN = "SslCertificate"


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
    except OSError as exc:
        raise file_error(exc, f"{what} {path}", noun=_NOUN) from None


def _password(binding: SslCertificateConfig) -> bytes | None:
    return binding.key_password.encode("utf-8") if binding.key_password else None


def _pem_key(data: bytes, path: str, password: bytes | None) -> PrivateKeyTypes:
    """The private key in PEM ``data`` (of file ``path``), decrypted with ``password`` when encrypted."""
    try:
        key = serialization.load_pem_private_key(data, None)
    except TypeError:  # encrypted
        if password is None:
            raise BcsError(
                ERROR_INVALID_PASSWORD, f"key {path} is encrypted: give its keyPassword", noun=_NOUN
            ) from None
        try:
            return serialization.load_pem_private_key(data, password)
        except ValueError:
            raise BcsError(
                ERROR_INVALID_PASSWORD, f"keyPassword does not decrypt key {path}", noun=_NOUN
            ) from None
    except ValueError:
        raise InvalidArgumentError(f"key {path} is not a PEM private key", noun=_NOUN) from None
    if password is not None:
        raise InvalidArgumentError(f"key {path} is not encrypted: omit keyPassword", noun=_NOUN)
    return key


def _pkcs12(data: bytes, path: str, password: bytes | None) -> tuple[list[x509.Certificate], PrivateKeyTypes]:
    """The certificate (first), its chain and its key in a PKCS#12 (PFX) file."""
    try:
        key, cert, chain = pkcs12.load_key_and_certificates(data, password)
    except ValueError as exc:
        if "deserialize" in str(exc):  # not PKCS#12 at all (a wrong password fails the MAC instead)
            raise InvalidArgumentError(
                f"certificate {path} is not a PEM certificate nor a PKCS#12 (PFX) file", noun=_NOUN
            ) from None
        why = "needs its password: give keyPassword" if password is None else "does not open with keyPassword"
        raise BcsError(ERROR_INVALID_PASSWORD, f"PKCS#12 file {path} {why}", noun=_NOUN) from None
    if cert is None:
        raise InvalidArgumentError(f"PKCS#12 file {path} holds no certificate", noun=_NOUN)
    if key is None:
        raise BcsError(NTE_NO_KEY, f"PKCS#12 file {path} holds no private key", noun=_NOUN)
    return [cert, *chain], key


def _material(
    binding: SslCertificateConfig, with_key: bool
) -> tuple[list[x509.Certificate], PrivateKeyTypes | None, str]:
    """The certificate (first) and its chain, the private key (when ``with_key``) and the key's place.

    Raises:
        BcsError: what keeps the source from giving them (see ``load_context``).
    """
    if binding.in_store:
        found = read_store_certificate(
            binding.thumbprint, binding.store_location, binding.store_name, with_key
        )
        chain = [x509.load_der_x509_certificate(der) for der in found.chain]
        if found.pkcs12 is None:
            return [x509.load_der_x509_certificate(found.der), *chain], None, binding.source
        certs, key = _pkcs12(found.pkcs12, binding.source, found.password)
        return [certs[0], *chain], key, binding.source
    path = binding.certificate_path
    data = _read(path, "certificate")
    password = _password(binding)
    if b"-----BEGIN" not in data:
        if binding.key_path:
            raise InvalidArgumentError(
                f"certificate {path} is not PEM; a PKCS#12 (PFX) file holds its key: omit keyPath",
                noun=_NOUN,
            )
        certs, key = _pkcs12(data, path, password)
        return certs, key if with_key else None, path
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InvalidArgumentError(f"certificate {path} is not a PEM certificate", noun=_NOUN) from None
    if not with_key:
        return certs, None, binding.key_path or path
    if binding.key_path:
        return certs, _pem_key(_read(binding.key_path, "key"), binding.key_path, password), binding.key_path
    if b"PRIVATE KEY-----" not in data:
        raise InvalidArgumentError(
            f"certificate {path} holds no private key: give keyPath", noun=_NOUN, target=binding.port
        )
    return certs, _pem_key(data, path, password), path


def _info(cert: x509.Certificate) -> CertificateInfo:
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        thumbprint=hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


# A thumbprint names one certificate for ever (it is the hash of its bytes), so what sslcert.get and
# sslcert.list show of a store binding is read once: opening a store costs .NET 0.1-0.2 s on Linux,
# where it decrypts every PFX the store directory holds.
_store_info: dict[tuple[str, str, str], CertificateInfo] = {}


def certificate_info(binding: SslCertificateConfig) -> CertificateInfo:
    """Subject, issuer, thumbprint and validity of a binding's certificate (files: read now).

    Raises:
        BcsError: the source does not give a certificate any more.
    """
    where = (binding.thumbprint, binding.store_location, binding.store_name)
    if binding.in_store and where in _store_info:
        return _store_info[where]
    certs, _, _ = _material(binding, with_key=False)
    info = _info(certs[0])
    if binding.in_store:
        _store_info[where] = info
    return info


@contextlib.contextmanager
def _pem_file(data: bytes) -> Iterator[str]:
    """A path OpenSSL can open that holds ``data`` without it reaching a disk.

    Linux: an anonymous memory file (``memfd_create``), reached as ``/proc/self/fd/N`` by this
    process only (another one needs ptrace rights over the engine, which could read its memory
    anyway). Elsewhere: a 0600 file in a fresh 0700 directory, removed as soon as it is read; what
    it holds is a key encrypted under a password that exists only in this process's memory.
    """
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("bcs-tls", os.MFD_CLOEXEC)
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    directory = tempfile.mkdtemp(prefix="bcs-tls-")
    try:
        path = os.path.join(directory, "chain.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def load_context(binding: SslCertificateConfig) -> ssl.SSLContext:
    """The server TLS context of a binding, refusing what cannot serve.

    Raises:
        BcsError: a missing or unreadable file, not PEM/PKCS#12, a missing or wrong password
            (ERROR_INVALID_PASSWORD), a key that does not match the certificate, a certificate the
            store does not have (CRYPT_E_NOT_FOUND) or without an exportable key, no .NET for a
            store binding (ERROR_NOT_SUPPORTED), an expired certificate, or an unusable CA bundle;
            nothing is changed then.
    """
    certs, key, key_place = _material(binding, with_key=True)
    assert key is not None
    info = _info(certs[0])
    if binding.in_store:
        _store_info[(binding.thumbprint, binding.store_location, binding.store_name)] = info
    if info.not_after < datetime.datetime.now(datetime.timezone.utc):
        raise InvalidArgumentError(
            f"certificate {binding.source} expired on {info.not_after:%Y-%m-%d %H:%M} UTC",
            noun=_NOUN,
            target=binding.port,
        )
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != certs[0].public_key().public_bytes(*spki):
        raise InvalidArgumentError(
            f"key {key_place} does not match the certificate", noun=_NOUN, target=binding.port
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("DEFAULT:@SECLEVEL=2")
    transient = os.urandom(24).hex().encode("ascii")  # protects the key on its way to OpenSSL
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs) + key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(transient),
    )
    try:
        with _pem_file(pem) as path:
            context.load_cert_chain(path, password=transient)
    except ssl.SSLError as exc:  # a key or signature OpenSSL refuses at security level 2
        raise InvalidArgumentError(
            f"key {key_place} cannot be used ({exc.reason})", noun=_NOUN, target=binding.port
        ) from None
    if binding.client_certificate != "Ignore":
        _read(binding.trusted_ca_path, "trustedCaPath")
        try:
            context.load_verify_locations(cafile=binding.trusted_ca_path)
        except ssl.SSLError as exc:
            raise InvalidArgumentError(
                f"trustedCaPath {binding.trusted_ca_path} holds no usable CA certificate ({exc.reason})",
                noun=_NOUN,
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

    def makefile(self, sock: Any, mode: str = "r", bufsize: int = io.DEFAULT_BUFFER_SIZE) -> Any:
        """cheroot's reader for reading; for writing a ``_SocketWriter`` (no copies)."""
        if "r" in mode:
            return super().makefile(sock, mode, bufsize)
        return _SocketWriter(sock)

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


class _SocketWriter:
    """cheroot's ``wfile`` of a TLS connection, without its copies: a write goes to ``sendall`` as it is.

    cheroot's writer (a pure-Python ``_pyio.BufferedWriter``) copies every chunk into a bytearray
    and then into new ``bytes`` before the socket sees it; OpenSSL reads the caller's buffer
    directly (memoryviews included) and makes the one copy it needs into its record buffer itself.
    """

    __slots__ = ("_sock", "bytes_written", "closed")

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self._sock = sock
        self.bytes_written = 0  # cheroot's statistics read it
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        self._sock.sendall(data)
        n = len(data) if isinstance(data, bytes) else data.nbytes
        self.bytes_written += n
        return n

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        self.closed = True  # the connection closes the socket


class _FileWrapper:
    """``wsgi.file_wrapper`` of the https listeners: ``_Gateway`` sends the file from a reused buffer.

    Iterated (by anything that does not know it), it reads the file in ``block_size`` chunks, as
    PEP 3333 asks of a file wrapper.
    """

    __slots__ = ("block_size", "fh")

    def __init__(self, fh: Any, block_size: int = tunables.READ_CHUNK) -> None:
        self.fh = fh
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        read, size = self.fh.read, self.block_size
        while chunk := read(size):
            yield chunk

    def close(self) -> None:
        self.fh.close()


class _Buffers:
    """The send buffers of the https listeners, taken for one read-and-send step and given back.

    A bytearray is zeroed when made, so each is made once and reused; only what the busiest moment
    needed at once is made, and at most ``keep`` idle ones are kept. ``list.pop`` and ``append`` are
    atomic: the workers share the pool without a lock.
    """

    def __init__(self, size: int, keep: int) -> None:
        self.size = size
        self.keep = keep
        self._free: list[memoryview] = []

    def take(self) -> memoryview:
        try:
            return self._free.pop()
        except IndexError:
            return memoryview(bytearray(self.size))

    def give(self, buf: memoryview) -> None:
        if len(self._free) < self.keep:
            self._free.append(buf)


_buffers = _Buffers(tunables.TLS_SEND_CHUNK, tunables.TLS_SEND_BUFFERS_KEPT)


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
    """cheroot's WSGI 1.0 gateway, with the request's ``Connection`` in its environ and file bodies
    sent from a reused buffer, at the pace of their bandwidth buckets."""

    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]  # cheroot's stub says None
        env: dict[str, Any] = Gateway_10.get_environ(self)  # type: ignore[no-untyped-call]
        env["bcs.connection"] = self.req.conn.bcs_connection
        env["wsgi.file_wrapper"] = _FileWrapper
        return env

    def respond(self) -> None:
        """Run the app and send its answer (cheroot's ``respond``, with ``_send_file`` for file bodies)."""
        response = self.req.server.wsgi_app(self.env, self.start_response)
        try:
            length = self.remaining_bytes_out  # Content-Length
            if isinstance(response, _FileWrapper) and length is not None and hasattr(response.fh, "readinto"):
                self._send_file(response, length)
            else:
                for chunk in response:
                    if not chunk:
                        continue
                    if not isinstance(chunk, bytes):
                        raise ValueError("WSGI Applications must yield bytes")
                    self.write(chunk)
        finally:
            self.req.ensure_headers_sent()
            close = getattr(response, "close", None)
            if close is not None:
                close()

    def _send_file(self, body: _FileWrapper, length: int) -> None:
        """Send ``length`` bytes of ``body``'s file from where it stands: read into a pooled buffer,
        hand that buffer to OpenSSL, as far as the file's bandwidth buckets allow (``Paced``).

        The file position moves with what is read, so the file knows what left when it closes. A
        file that got shorter, or a listener that stops, ends the response short and closes the
        connection (as on plain HTTP).
        """
        req = self.req
        req.ensure_headers_sent()
        if req.chunked_write:  # never for the host's bodies (they carry Content-Length)
            for chunk in body:
                self.write(chunk)
            return
        fh = body.fh
        readinto = fh.readinto
        sendall = req.conn.socket.sendall
        paced = as_paced(fh)
        stopping: threading.Event = req.server.stopping
        buffers = _buffers
        left = length
        while left > 0:
            want = min(left, buffers.size)
            now = 0.0
            if paced is not None:
                now = time.monotonic()
                room = paced.allowance(now)
                if room is not None:
                    if room < 1:
                        if stopping.wait(tunables.PACE_TICK):
                            req.close_connection = True
                            return
                        continue
                    want = min(want, int(room))
            buf = buffers.take()
            try:
                n = readinto(buf[:want])
                if n:
                    sendall(buf[:n])
            finally:
                buffers.give(buf)
            if not n:
                req.close_connection = True  # the file shrank: the client sees a short body
                return
            left -= n
            if paced is not None:
                paced.consumed(n, now)


class _Server(WSGIServer):
    """cheroot's WSGI server on a socket bound beforehand (so a busy port is known at once)."""

    ConnectionClass = _HttpConnection
    prebound: socket.socket | None = None
    host_state: HostState | None = None  # its connection_closed hears of every closed connection
    stopping: threading.Event  # the listener's: set when it stops (wakes paced file bodies)

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
        info = certificate_info(binding)
    except BcsError:
        return
    left = info.not_after - datetime.datetime.now(datetime.timezone.utc)
    if left < datetime.timedelta(days=tunables.CERT_EXPIRY_WARNING_DAYS):
        log.warning(
            "https port %d: certificate %s (%s) expires on %s UTC, in %d days; bind a new one with sslcert.set",
            port,
            binding.source,
            info.subject,
            f"{info.not_after:%Y-%m-%d %H:%M}",
            left.days,
        )


class TlsListener(Listener):
    """One https port on cheroot, serving the port's ``HostApp`` with the port's certificate."""

    scheme = "https"
    paces_files = True  # _Gateway._send_file paces wsgi.file_wrapper bodies by their buckets

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
        server.stopping = self.stopping
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
        out["certificate"] = self.binding.source
        return out
