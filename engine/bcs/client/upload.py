"""The upload loop of one job turn: the client side of the BITS upload protocol (bits-protocol.md 2.5).

A turn of an Upload or UploadReply job (one file) runs ``UploadTransfer._work``:

* **Session.** Without a session, Create-Session on the job's URL offers the one protocol
  (``BITS-Supported-Protocols: {7df0354d-...}``); the Ack must choose it (else
  ``BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH``, fatal) and name the session. The session id (and a
  ``BITS-Host-Id``) is saved with the job before any fragment goes out, so an engine restart goes
  on with the same session instead of opening a second one (which the server would refuse: it
  holds the destination for the first). With a session from an earlier turn, or after a
  ``BITS-Host-Id``, the turn sends Ping first: it (re)authenticates the connection, which is what
  connection-bound NTLM needs before a fragment's body is sent.
* **Fragments.** ``Fragment`` packets carry ``Content-Range: bytes first-last/total`` and a body
  streamed from the local file in ``CLIENT_UPLOAD_SEND_BLOCK`` steps (never the whole file in
  memory), paced by the job's and the engine's bandwidth buckets. On 200 and on 416 the client
  takes ``BITS-Received-Content-Range`` as its next offset, whatever it is (resync after a server
  crash: the server is the judge of what it holds). Fragments are sized to take about
  ``CLIENT_UPLOAD_FRAGMENT_SECONDS``; a 413 halves them, never below 5 KB (then the 413 is the
  job's error). Progress is the acknowledged offset.
* **Errors** are read from ``BITS-Error-Code`` or ``BITS-Error`` (bits-protocol.md 2.6) and
  classified by the HTTP status as bits-protocol.md 1.3 says; ``BITS-Error-Context: 0x7`` makes
  the context REMOTE_APPLICATION. ``BG_E_SESSION_NOT_FOUND`` starts a new session from byte 0, at
  most ``CLIENT_UPLOAD_NEW_SESSIONS`` times a turn (then ``BG_E_NO_PROGRESS``, transient).
  ``BG_E_TOO_LARGE`` and ``E_INVALIDARG`` are fatal whatever the status. A 401 on a fragment
  (a new connection the server has not authenticated) sends Ping, which runs the handshake, and
  the fragment again, once.
* **Host-Id.** Packets after Create-Session go to the host the server named; when no fragment
  made progress there for ``BITS-Host-Id-Fallback-Timeout`` seconds and it fails, the client
  reverts to the job's own host (where the session may be unknown: then a new session starts).
* **Local file.** Its size and modification time are recorded when the upload starts; a change
  once bytes were acknowledged (or a replaced file) is ``BG_E_LOCAL_FILE_CHANGED``
  (0x8020001D, the bitsmsg.h value), fatal, context LOCAL_FILE.
* **Reply.** For UploadReply the Ack of the last fragment must carry ``BITS-Reply-URL`` (else an
  invalid response, fatal); it is resolved against the upload URL (backslashes as slashes, braces
  percent-encoded, as Windows does with IIS's relative reply URLs) and fetched with GET into a
  hidden temporary file beside ``replyFileName`` before the job is Transferred; Complete renames it.

Close-Session (on ``job.complete``) and Cancel-Session (on ``job.cancel``) are sent by
``end_session`` outside any turn.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from collections.abc import Iterator
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import urllib3

from bcs import tunables
from bcs.client import staging
from bcs.client.job import ErrorContext, JobFile, JobType, Reply, UploadState
from bcs.client.session import HttpSession, release_response, transport_error
from bcs.client.settings import Credential, JobSettings
from bcs.client.transfer import (
    FileDone,
    FileRestarted,
    Progress,
    Receiving,
    ReplyUpdated,
    Transfer,
    UploadUpdated,
    _Failure,
    _Stopped,
    local_error,
)
from bcs.errors import (
    BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH,
    BG_E_INVALID_SERVER_RESPONSE,
    BG_E_LOCAL_FILE_CHANGED,
    BG_E_NO_PROGRESS,
    BG_E_SESSION_NOT_FOUND,
    BG_E_TOO_LARGE,
    E_INVALIDARG,
    ERROR_WINHTTP_CONNECTION_ERROR,
    ERROR_WINHTTP_TIMEOUT,
    BcsError,
    Code,
    HttpStatusError,
    code_of,
    format_hresult,
    http_status_is_transient,
    parse_hresult,
)
from bcs.http import bits

__all__ = ["UploadTransfer", "ack_error", "end_session", "resolve_reply_url", "session_url"]

log = logging.getLogger("bcs.client.upload")

# HRESULTs a server sends that no retry can cure, whatever the HTTP status that carries them.
_FATAL_CODES = frozenset({BG_E_TOO_LARGE.hresult, E_INVALIDARG.hresult})
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z{}-]{1,100}\Z")  # an echoable BITS-Session-Id
_HOST_ID = re.compile(r"^[A-Za-z0-9.\-:\[\]]{1,300}\Z")
_NO_FALLBACK = 0xFFFFFFFF  # BITS-Host-Id-Fallback-Timeout meaning "never" [SPEC 3.1.2]


def ack_error(
    status: int, headers: urllib3.HTTPHeaderDict, what: str, url: str
) -> tuple[BcsError, ErrorContext]:
    """The job error of an Ack that is not a success, and its context.

    The HRESULT is the server's ``BITS-Error-Code`` (or ``BITS-Error``), else ``0x80190000 |
    status``; transient or fatal by the status (bits-protocol.md 1.3), except the codes no retry
    cures (``BG_E_TOO_LARGE``, ``E_INVALIDARG``).
    """
    text = headers.get(bits.ERROR_CODE) or headers.get(bits.ERROR)
    hresult: int | None = None
    if text:
        try:
            hresult = parse_hresult(text)
        except ValueError:
            hresult = None
    context = ErrorContext.RemoteFile
    context_text = headers.get(bits.ERROR_CONTEXT)
    if context_text:
        try:
            if parse_hresult(context_text) == int(ErrorContext.RemoteApplication):
                context = ErrorContext.RemoteApplication
        except ValueError:
            pass
    transient = http_status_is_transient(status) and hresult not in _FATAL_CODES
    if not hresult or hresult & 0xFFFF0000 == 0x80190000 or not hresult & 0x80000000:
        kind = code_of(0x80190000 | status)
    else:
        kind = code_of(hresult)
    message = f"{what} of {url}: the server answered {status}"
    if hresult:
        message += f" with BITS-Error-Code {format_hresult(hresult)}"
    kind = dataclasses.replace(kind, transient=transient)
    return BcsError(kind, message, noun="Job", target=url), context


def _error_code(headers: urllib3.HTTPHeaderDict) -> int | None:
    text = headers.get(bits.ERROR_CODE) or headers.get(bits.ERROR)
    if not text:
        return None
    try:
        return parse_hresult(text)
    except ValueError:
        return None


def session_url(url: str, host_id: str | None) -> str:
    """The URL the packets of a session go to: ``url`` with its host replaced by ``host_id``.

    A ``BITS-Host-Id`` with a port (``host:port``, ``[v6]:port``) replaces the port too; without
    one the URL's port stays.
    """
    if not host_id:
        return url
    parts = urlsplit(url)
    host = host_id
    if host.startswith("["):
        has_port = "]:" in host
    elif host.count(":") > 1:
        host, has_port = f"[{host}]", False  # a bare IPv6 address
    else:
        has_port = ":" in host
    if not has_port and parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


def resolve_reply_url(upload_url: str, reply_url: str) -> str:
    """``BITS-Reply-URL`` as a URL to GET: relative ones are resolved against the upload URL's
    folder, backslashes become slashes and characters not allowed in a URL (IIS's braces around
    the session GUID) are percent-encoded (bits-protocol.md 2.7)."""
    joined = urljoin(upload_url, reply_url.strip().replace("\\", "/"))
    parts = urlsplit(joined)
    path = quote(parts.path, safe="/%:@!$&'()*+,;=-._~")
    query = quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    if hasattr(os, "preadv"):
        return os.preadv(fd, [view], offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows: the turn owns the descriptor
    data = os.read(fd, len(view))
    view[: len(data)] = data
    return len(data)


class UploadTransfer(Transfer):
    """A turn of an Upload or UploadReply job: the upload, then (UploadReply) the reply."""

    def _work(self, session: HttpSession, settings: JobSettings) -> None:
        with self.lock:
            self._check()
            completed = self.job.files[0].completed
            wants_reply = self.job.transfer_type is JobType.UploadReply
        if not completed:
            _Upload(self, session, settings).run()
        if wants_reply:
            with self.lock:
                self._check()
                reply = dataclasses.replace(self.job.reply) if self.job.reply else None
            if reply is None or reply.url is None:
                raise _Failure(
                    _fatal(BG_E_INVALID_SERVER_RESPONSE, "the upload finished without a BITS-Reply-URL"),
                    ErrorContext.RemoteApplication,
                    0,
                )
            if not reply.completed:
                self._fetch_reply(session, settings, reply)

    # --- the reply ----------------------------------------------------------------------------------
    def _fetch_reply(self, session: HttpSession, settings: JobSettings, reply: Reply) -> None:
        """GET the reply into its temporary file (from byte 0: replies are small and each turn
        fetches it whole), fsync it, and report it complete."""
        assert reply.url is not None
        try:
            fd = os.open(
                reply.temporary_name, os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666
            )
        except OSError as exc:
            raise _Failure(local_error(exc, reply.temporary_name), ErrorContext.LocalFile, 0) from None
        try:
            resp, _ = self._request(session, "GET", reply.url, self._headers(settings), 0)
            try:
                if resp.status != 200:
                    raise _Failure(
                        HttpStatusError(
                            resp.status, f"GET of the reply {reply.url}: {resp.status}", target=reply.url
                        ),
                        ErrorContext.RemoteApplication,
                        0,
                    )
                length = resp.headers.get("Content-Length")
                total = int(length) if length is not None and length.strip().isdigit() else None
                reply.bytes_total = total if total is not None else -1
                reply.bytes_transferred = 0
                self.report(self, ReplyUpdated(dataclasses.replace(reply), False))
                received = self._read_reply(resp, fd, reply)
                self._body_read = True
            finally:
                release_response(resp, self._body_read)
                self._body_read = False
                self._resp = None
            if total is not None and received != total:
                raise _Failure(
                    _transport_closed(f"the reply ended after {received} of {total} bytes"),
                    ErrorContext.GeneralTransport,
                    0,
                )
            try:
                os.fsync(fd)
            except OSError as exc:
                raise _Failure(local_error(exc, reply.temporary_name), ErrorContext.LocalFile, 0) from None
        finally:
            os.close(fd)
        reply.bytes_total = reply.bytes_transferred = received
        reply.completed = True
        self.report(self, ReplyUpdated(dataclasses.replace(reply), True))

    def _read_reply(self, resp: urllib3.BaseHTTPResponse, fd: int, reply: Reply) -> int:
        received = 0
        cancelled = self.stopping.is_set
        while True:
            try:
                data = resp.read(tunables.CLIENT_READ_BLOCK)
            except Exception as exc:
                self._check()
                raise _Failure(transport_error(exc), ErrorContext.GeneralTransport, 0) from None
            self._check()
            if not data:
                return received
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError as exc:
                raise _Failure(local_error(exc, reply.temporary_name), ErrorContext.LocalFile, 0) from None
            received += len(data)
            self.global_bucket.take(len(data), cancelled)
            self.bucket.take(len(data), cancelled)
            reply.bytes_transferred = received
            self.report(self, ReplyUpdated(dataclasses.replace(reply), False))


def _fatal(kind: Code, message: str) -> BcsError:
    """An error of ``kind`` made fatal (a server that breaks the protocol is not retried)."""
    return BcsError(dataclasses.replace(kind, transient=False), message, noun="Job")


def _transport_closed(message: str) -> BcsError:
    return BcsError(ERROR_WINHTTP_CONNECTION_ERROR, message, noun="Job")


class _Upload:
    """One turn's upload of the job's file (the state machine of bits-protocol.md 2.5)."""

    def __init__(self, transfer: UploadTransfer, session: HttpSession, settings: JobSettings) -> None:
        self.t = transfer
        self.session = session
        self.settings = settings
        with transfer.lock:
            transfer._check()
            job = transfer.job
            f = job.files[0]
            self.path = f.local_path
            self.url = f.remote_url
            self.offset = f.bytes_transferred  # acknowledged by the server
            self.total = f.bytes_total
            self.state = dataclasses.replace(f.upload) if f.upload else UploadState()
            self.wants_reply = job.transfer_type is JobType.UploadReply
            self.reply = dataclasses.replace(job.reply) if job.reply else None
        self.fd = -1
        self.size = tunables.CLIENT_UPLOAD_FRAGMENT_FIRST
        self.ceiling = tunables.CLIENT_UPLOAD_FRAGMENT_MAX
        self.new_sessions = 0
        self.stalls = 0
        self.checkpoint = self.offset
        self.checkpoint_at = time.monotonic()
        self.buffer = memoryview(bytearray(tunables.CLIENT_UPLOAD_SEND_BLOCK))
        name = os.path.basename(self.path)
        self.content_name = name if bits.parse_content_name(name) and _latin1(name) else None
        self.ino: tuple[int, int] = (0, 0)

    # --- the turn -----------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise _Failure(local_error(exc, self.path), ErrorContext.LocalFile, 0) from None
        try:
            self._adopt_local_file()
            self._upload()
        finally:
            os.close(self.fd)

    def _adopt_local_file(self) -> None:
        """Record the local file when nothing of it was acknowledged yet; else check it is unchanged."""
        st = os.fstat(self.fd)
        self.ino = (st.st_dev, st.st_ino)
        if self.state.session_id is None and self.offset == 0:  # nothing sent yet: (re)record it
            if (st.st_size, st.st_mtime_ns) != (self.state.local_size, self.state.local_mtime_ns):
                self.state.local_size, self.state.local_mtime_ns = st.st_size, st.st_mtime_ns
                self._save_state()
            if self.total != st.st_size:
                self.total = st.st_size
                self.t.report(self.t, FileRestarted(0, self.total, None))
            return
        self._check_local()

    def _check_local(self) -> None:
        """BG_E_LOCAL_FILE_CHANGED when the file's size or mtime changed, or its name now names another file."""
        try:
            st = os.fstat(self.fd)
            named = os.stat(self.path)
        except FileNotFoundError:
            named = None
        except OSError as exc:
            raise _Failure(local_error(exc, self.path), ErrorContext.LocalFile, 0) from None
        same = (
            named is not None
            and (named.st_dev, named.st_ino) == self.ino
            and (st.st_size, st.st_mtime_ns) == (self.state.local_size, self.state.local_mtime_ns)
        )
        if not same:
            raise _Failure(
                BcsError(
                    BG_E_LOCAL_FILE_CHANGED,
                    f"{self.path} changed during the upload (its size, modification time or the file "
                    "itself); recreate the job to upload it again",
                    noun="Job",
                    target=self.path,
                ),
                ErrorContext.LocalFile,
                0,
            )

    def _save_state(self) -> None:
        self.t.report(self.t, UploadUpdated(0, dataclasses.replace(self.state)))

    @property
    def target(self) -> str:
        return session_url(self.url, self.state.host_id)

    def _upload(self) -> None:
        self._fallback_if_due()
        if self.state.session_id is not None:
            self._ping()  # resuming a session: authenticate the connection again
        finally_acked = False
        while not finally_acked:
            if self.state.session_id is None:
                self._create_session()
            finally_acked = self._send_fragments()
        self.t.report(self.t, FileDone(0, self.total, False))

    def _fallback_if_due(self, now: float | None = None) -> bool:
        """Revert to the job's own host when the Host-Id one made no progress for its fallback time."""
        state = self.state
        if not state.host_id or state.host_fallback is None:
            return False
        since = state.host_progress_at or 0.0
        if (now or time.time()) - since < state.host_fallback:
            return False
        log.info(
            "job %s: no progress through %s for %d s; back to %s",
            self.t.job.job_id,
            state.host_id,
            state.host_fallback,
            urlsplit(self.url).netloc,
        )
        state.host_id = state.host_fallback = state.host_progress_at = None
        self._save_state()
        return True

    # --- packets ------------------------------------------------------------------------------------
    def _headers(self, packet: bits.PacketType, **extra: str) -> dict[str, str]:
        headers = self.t._headers(self.settings)
        headers[bits.PACKET_TYPE] = packet.value
        if packet is not bits.PacketType.CREATE_SESSION and packet is not bits.PacketType.PING:
            assert self.state.session_id is not None
            headers[bits.SESSION_ID] = self.state.session_id
        headers.update(extra)
        headers.setdefault("Content-Length", "0")
        return headers

    def _post(
        self, url: str, headers: dict[str, str], body: Iterator[memoryview] | None = None
    ) -> tuple[int, urllib3.HTTPHeaderDict]:
        """One BITS_POST: (status, headers) of its Ack; transport errors after a Host-Id's fallback
        time revert to the job's host and raise ``_Retry``."""
        try:
            resp, _ = self.t._request(
                self.session, bits.BITS_POST, url, headers, 0, body=body, follow_redirects=False
            )
        except _Failure as failure:
            if failure.context is ErrorContext.GeneralTransport and self._fallback_if_due():
                raise _Retry from None
            raise
        try:
            return resp.status, resp.headers
        finally:
            release_response(resp)
            self.t._resp = None

    def _fail(self, status: int, headers: urllib3.HTTPHeaderDict, what: str, url: str) -> _Failure:
        if status >= 500 and self._fallback_if_due():
            return _Retry()
        error, context = ack_error(status, headers, what, url)
        return _Failure(error, context, 0)

    def _ping(self) -> None:
        while True:
            url = self.target
            try:
                status, headers = self._post(url, self._headers(bits.PacketType.PING))
            except _Retry:
                continue
            if status == 200:
                self.t.report(self.t, Receiving())
                return
            failure = self._fail(status, headers, "Ping", url)
            if isinstance(failure, _Retry):
                continue
            raise failure

    def _create_session(self) -> None:
        headers = self._headers(bits.PacketType.CREATE_SESSION)
        headers[bits.SUPPORTED_PROTOCOLS] = bits.PROTOCOL_GUID
        status, ack = self._post(self.url, headers)
        if status not in (200, 201):
            error, context = ack_error(status, ack, "Create-Session", self.url)
            raise _Failure(error, context, 0)
        if bits.parse_supported_protocols(ack.get(bits.PROTOCOL)) != [bits.PROTOCOL_GUID]:
            raise _Failure(
                _fatal(
                    BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH,
                    f"{self.url} did not choose the BITS 1.5 upload protocol {bits.PROTOCOL_GUID} "
                    f"(BITS-Protocol: {ack.get(bits.PROTOCOL)!r}); is it a BITS upload server?",
                ),
                ErrorContext.RemoteFile,
                0,
            )
        session_id = (ack.get(bits.SESSION_ID) or "").strip()
        if not _TOKEN.match(session_id):
            raise _Failure(
                BcsError(
                    BG_E_INVALID_SERVER_RESPONSE,
                    f"the Create-Session Ack of {self.url} has no usable BITS-Session-Id",
                    noun="Job",
                ),
                ErrorContext.RemoteFile,
                0,
            )
        self.t.report(self.t, Receiving())
        state = self.state
        state.session_id = session_id
        state.host_id = state.host_fallback = state.host_progress_at = None
        host_id = (ack.get(bits.HOST_ID) or "").strip()
        if host_id and _HOST_ID.match(host_id):
            state.host_id = host_id
            state.host_progress_at = time.time()
            timeout = (ack.get(bits.HOST_ID_FALLBACK_TIMEOUT) or "").strip()
            if timeout.isdigit() and int(timeout) < _NO_FALLBACK:
                state.host_fallback = int(timeout)
        self._save_state()  # before any fragment: a restart goes on with this session
        log.info("job %s: upload session %s at %s", self.t.job.job_id, session_id, self.target)
        if self.offset:
            self.offset = 0
            self.t.report(self.t, FileRestarted(0, self.total, None))
        if state.host_id:
            self._ping()

    def _send_fragments(self) -> bool:
        """Send fragments until the server acknowledged the last byte (True), or the session is
        gone (False: the caller creates a new one)."""
        retried_auth = False
        while True:
            self.t._check()
            self._check_local()
            # Every byte acknowledged in an earlier turn, but not the end: the last byte again gets
            # the final Ack (and its BITS-Reply-URL) again. An empty file is one empty fragment.
            first = max(0, self.total - 1) if self.offset >= self.total else self.offset
            length = min(self.size, self.total - first)
            rng = bits.FragmentRange(first, first + length - 1, self.total)
            headers = self._headers(
                bits.PacketType.FRAGMENT, **{bits.CONTENT_RANGE: rng.header(), "Content-Length": str(length)}
            )
            if self.content_name:
                headers[bits.CONTENT_NAME] = self.content_name
            url = self.target
            started = time.monotonic()
            try:
                status, ack = self._post(url, headers, self._body(first, length) if length else None)
            except _Retry:
                self._ping()  # the job's own host now
                continue
            elapsed = time.monotonic() - started
            self._check_local()  # the bytes just sent were read from an unchanged file
            code = _error_code(ack)
            if code == BG_E_SESSION_NOT_FOUND.hresult:
                self._lost_session(url)
                return False
            if status == 401 and not retried_auth:
                retried_auth = True
                self._ping()  # the handshake on a body-less packet, then the fragment again
                continue
            retried_auth = False
            if status == 413:
                self._shrink(length, status, ack, url)
                continue
            if status not in (200, 416):
                failure = self._fail(status, ack, "Fragment", url)
                if isinstance(failure, _Retry):
                    self._ping()
                    continue
                raise failure
            received = bits.parse_received_range(ack.get(bits.RECEIVED_CONTENT_RANGE))
            if received is None or received > self.total:
                raise _Failure(
                    BcsError(
                        BG_E_INVALID_SERVER_RESPONSE,
                        f"the Fragment Ack of {url} ({status}) has no valid BITS-Received-Content-Range "
                        f"({ack.get(bits.RECEIVED_CONTENT_RANGE)!r}) for a file of {self.total} bytes",
                        noun="Job",
                    ),
                    ErrorContext.RemoteFile,
                    0,
                )
            self.t.report(self.t, Receiving())
            if status == 200 and received == self.total:
                self._acked(received, final=True)
                self._take_reply(ack, url)
                return True
            if received > self.offset or (received != self.offset and status == 416):
                self.stalls = 0
            else:
                self.stalls += 1
                if self.stalls > tunables.CLIENT_UPLOAD_STALLS:
                    raise _Failure(
                        BcsError(
                            BG_E_INVALID_SERVER_RESPONSE,
                            f"{url} acknowledged no progress {self.stalls} times in a row "
                            f"(at byte {received} of {self.total})",
                            noun="Job",
                        ),
                        ErrorContext.RemoteFile,
                        0,
                    )
            if status == 200 and received == first + length:
                self._grow(length, elapsed)
            elif received != first + length:
                log.info(
                    "job %s: the server is at byte %d, not %d (%d): resync",
                    self.t.job.job_id,
                    received,
                    first + length,
                    status,
                )
            self._acked(received, final=False)

    def _acked(self, received: int, final: bool) -> None:
        progressed = received != self.offset
        self.offset = received
        now = time.monotonic()
        persist = final or (
            abs(received - self.checkpoint) >= tunables.CLIENT_CHECKPOINT_BYTES
            or now - self.checkpoint_at >= tunables.CLIENT_CHECKPOINT_SECONDS
        )
        if self.state.host_id and progressed:
            self.state.host_progress_at = time.time()
            if persist:
                self._save_state()
        if persist:
            self.checkpoint, self.checkpoint_at = received, now
        self.t.report(self.t, Progress(0, received, persist))

    def _take_reply(self, ack: urllib3.HTTPHeaderDict, url: str) -> None:
        if not self.wants_reply:
            return
        reply_url = (ack.get(bits.REPLY_URL) or "").strip()
        if not reply_url:
            raise _Failure(
                _fatal(
                    BG_E_INVALID_SERVER_RESPONSE,
                    f"the last Ack of {url} has no BITS-Reply-URL: the server has no application "
                    "for upload-reply jobs (use an Upload job)",
                ),
                ErrorContext.RemoteFile,
                0,
            )
        assert self.reply is not None
        self.reply.url = resolve_reply_url(url, reply_url)
        self.reply.bytes_total, self.reply.bytes_transferred, self.reply.completed = -1, 0, False
        self.t.report(self.t, ReplyUpdated(dataclasses.replace(self.reply), True))

    def _lost_session(self, url: str) -> None:
        self.new_sessions += 1
        log.info(
            "job %s: %s does not know upload session %s (%d lost this turn)",
            self.t.job.job_id,
            url,
            self.state.session_id,
            self.new_sessions,
        )
        if self.new_sessions > tunables.CLIENT_UPLOAD_NEW_SESSIONS:
            raise _Failure(
                BcsError(
                    BG_E_NO_PROGRESS,
                    f"{url} lost the upload session {self.new_sessions} times in a row "
                    "(BG_E_SESSION_NOT_FOUND); trying again later",
                    noun="Job",
                ),
                ErrorContext.RemoteFile,
                0,
            )
        self.state.session_id = None
        self.state.host_id = self.state.host_fallback = self.state.host_progress_at = None
        self._save_state()

    def _shrink(self, length: int, status: int, ack: urllib3.HTTPHeaderDict, url: str) -> None:
        """413: fragments of at most half this one's size from now on, never below the floor."""
        floor = tunables.CLIENT_UPLOAD_FRAGMENT_MIN
        if length <= floor:
            error, context = ack_error(status, ack, f"Fragment of {length} bytes (the smallest)", url)
            raise _Failure(error, context, 0)
        self.ceiling = max(floor, length // 2)
        self.size = min(self.size, self.ceiling)
        log.info(
            "job %s: %s refused %d bytes (413): fragments of %d", self.t.job.job_id, url, length, self.size
        )

    def _grow(self, length: int, elapsed: float) -> None:
        """Size the next fragment to take CLIENT_UPLOAD_FRAGMENT_SECONDS at the rate this one went."""
        if length < self.size:
            return  # the file's tail: it says nothing about the link
        rate = length / max(elapsed, 1e-3)
        want = int(rate * tunables.CLIENT_UPLOAD_FRAGMENT_SECONDS)
        self.size = max(tunables.CLIENT_UPLOAD_FRAGMENT_MIN, min(want, 2 * self.size, self.ceiling))

    def _body(self, first: int, length: int) -> Iterator[memoryview]:
        """The fragment's bytes, read from the local file block by block and paced by the buckets."""
        t = self.t
        rate = min((b.rate for b in (t.bucket, t.global_bucket) if b.rate > 0), default=0)
        block = len(self.buffer)
        if rate:
            # About 10 blocks a second: the server sees a steady trickle, not bursts and pauses.
            block = max(tunables.MIN_PACED_CHUNK, min(block, rate // 10))
        cancelled = t.stopping.is_set
        position, left = first, length
        while left:
            if t.stopping.is_set() or not t.valid:
                raise _Stopped
            view = self.buffer[: min(block, left)]
            try:
                n = _pread_into(self.fd, view, position)
            except OSError as exc:
                raise _Failure(local_error(exc, self.path), ErrorContext.LocalFile, 0) from None
            if not n:
                self._check_local()  # it shrank
                raise _Failure(
                    BcsError(BG_E_LOCAL_FILE_CHANGED, f"{self.path} shrank during the upload", noun="Job"),
                    ErrorContext.LocalFile,
                    0,
                )
            t.global_bucket.take(n, cancelled)
            t.bucket.take(n, cancelled)
            yield view[:n]
            position += n
            left -= n


class _Retry(_Failure):
    """Internal: the Host-Id host failed past its fallback time; the packet goes to the job's host."""

    def __init__(self) -> None:
        super().__init__(BcsError(noun="Job"), ErrorContext.GeneralTransport, 0)


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


# --- Close-Session and Cancel-Session (job.complete, job.cancel) -------------------------------------


def end_session(
    settings: JobSettings, credentials: list[Credential], f: JobFile, packet: bits.PacketType
) -> None:
    """Send Close-Session or Cancel-Session for the session of ``f`` and check its Ack.

    A 5xx or a transport failure is tried once more, except ``BG_E_SESSION_NOT_FOUND`` (the
    rule of bits-protocol.md 2.3) and a timeout (the RPC caller is waiting: a silent server is
    not waited for twice); 1xx-4xx are not retried.

    Raises:
        BcsError: the server refused (``0x80190000 | status`` or its BITS-Error-Code; a lost
            session is ``BG_E_SESSION_NOT_FOUND``) or could not be reached.
    """
    state = f.upload
    assert state is not None and state.session_id is not None
    url = session_url(f.remote_url, state.host_id)
    headers = {
        bits.PACKET_TYPE: packet.value,
        bits.SESSION_ID: state.session_id,
        "Content-Length": "0",
    }
    for line in settings.custom_headers:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    what = packet.value
    timeout = urllib3.Timeout(
        connect=tunables.CLIENT_SESSION_END_TIMEOUT, read=tunables.CLIENT_SESSION_END_TIMEOUT
    )
    session = HttpSession(settings, credentials)
    try:
        for attempt in (1, 2):
            try:
                resp, _ = session.request(
                    bits.BITS_POST, url, headers, follow_redirects=False, timeout=timeout
                )
            except BcsError as exc:
                if attempt == 2 or exc.kind is ERROR_WINHTTP_TIMEOUT:
                    raise  # a server that did not answer in time is not waited for twice
                continue
            status, ack = resp.status, resp.headers
            release_response(resp)
            if status == 200:
                return
            code = _error_code(ack)
            if code == BG_E_SESSION_NOT_FOUND.hresult:
                raise BcsError(
                    BG_E_SESSION_NOT_FOUND,
                    f"{what} of {url}: the server does not know session {state.session_id}",
                    noun="Job",
                    target=url,
                )
            if status >= 500 and attempt == 1:
                continue
            error, _ = ack_error(status, ack, what, url)
            raise error
    finally:
        session.close()


def reply_file_name(local_path: str, job_id: str) -> str:
    """The reply file name generated for an UploadReply job: beside the local file."""
    return os.path.join(os.path.dirname(local_path), f"{os.path.basename(local_path)}.{job_id[1:9]}.reply")


def new_reply(file_name: str) -> Reply:
    return Reply(file_name=file_name, temporary_name=staging.temp_name(file_name))
