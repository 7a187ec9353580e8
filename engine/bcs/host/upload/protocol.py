"""The BITS upload protocol, server side: one ``BITS_POST`` request in, one Ack out.

``handle_bits_post`` is the upload dispatcher the app calls after routing, authentication and
authorization. It reads the packet type (any case), runs the packet's rules and answers with an
Ack: ``BITS-Packet-Type: Ack``, ``Content-Length: 0`` and no body, always. Errors are raised as
``Answer``s carrying ``BITS-Error-Code: 0x%08X`` (the app adds ``BITS-Error-Context: 0x5`` and
the Ack headers), so every refusal on the way here is shaped the same.

Rules (bits-protocol.md 2.3, 2.4, 2.7; decisions marked):

* Every packet: uploads disabled on the group -> 501 + E_ACCESSDENIED; no ``Content-Length`` or
  a body on a packet that has none -> 400 + E_INVALIDARG; a BITS header value over 4 KB -> 400;
  unknown packet type -> 400.
* Ping: 200. Create-Session: no common protocol GUID -> 400; the destination is a folder -> 400,
  its folder missing -> 404; it exists and ``allowOverwrites`` is off -> 403 + E_ACCESSDENIED;
  another active session writes it -> 409 + ERROR_SHARING_VIOLATION (decision: 409 is what the
  BITS client retries, and a concurrent upload is a passing condition; 403 would fail the job for
  good), except that a session which received nothing for ``UPLOAD_EMPTY_SESSION_HOLD`` seconds
  is cancelled and the destination taken over (its Create Ack was lost); the user's active
  sessions in the group at ``maxSessionsPerUser`` -> 503 + Retry-After.
* Fragment: the whole table of bits-protocol.md 2.4 (``plan_fragment``). A body that starts at
  the session's next offset is already in the staging file when the app runs (written once by
  the listener, ``bcs.host.upload.direct``) and is counted here; any other goes from the
  request body to the staging file in ``UPLOAD_CHUNK`` steps. Either way the bytes count only
  paced by the group's and the server's bandwidth buckets, holding a slot of the group's
  connection limit (503 without one, and nothing counts).
  The last byte is fsynced and recorded before its Ack (the session becomes UPLOADED).
* Close-Session: UPLOADED -> the file is renamed to its destination (durably; 403 when it
  appeared meanwhile and may not be replaced); before the last byte -> the partial upload is
  discarded. Decision: the file appears on Close (design), not on the last fragment as IIS does;
  so Cancel-Session after the last fragment still cancels, and a job that is never completed
  leaves no file. Cancel-Session: the session and its data go.
* Unknown, expired or foreign session (another URL or another user) -> 500 +
  BG_E_SESSION_NOT_FOUND. Disk full -> 500 + ERROR_DISK_FULL.
* Server application notification (``notificationType`` ByReference or ByValue, ``notify``):
  the last fragment's bytes are made durable, then the application is told (before the Ack); its
  failure is the Ack's (its status, context 0x7) and the client's resent last fragment tries
  again. Once it took the upload, a resent last fragment is answered from the session (the
  application is not told twice, unlike IIS). The Ack carries ``BITS-Reply-URL``: the
  application's static URL, or ``<group>/BITS-Sessions/Replies/<session>/reply`` served here by
  GET (ranges as any file) until Close-Session. Sessions of such a group do not hold their
  destination (many clients post to one application URL); Close-Session places the file only
  when the application sent ``BITS-Copy-File-To-Destination``, with the overwrite policy.

Who the user is: the principal the app hands over (``principal.key``); until authentication is
enforced every client is ``ANONYMOUS`` and all of them count as one user.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote

from bcs import tunables
from bcs.auth.principal import Principal
from bcs.bandwidth import TokenBucket
from bcs.errors import (
    BG_E_SESSION_NOT_FOUND,
    BG_E_TOO_LARGE,
    E_ACCESSDENIED,
    E_INVALIDARG,
    E_NOTIMPL,
    ERROR_DISK_FULL,
    ERROR_PATH_NOT_FOUND,
    ERROR_SHARING_VIOLATION,
    Code,
    format_hresult,
)
from bcs.host.exchange import Answer, Exchange, Headers, StartResponse, status_line
from bcs.host.routing import GroupRuntime
from bcs.host.upload.direct import DirectBody
from bcs.host.upload.notify import NotifyError, notify_application
from bcs.host.upload.session import SessionEvent, SessionState, UploadSession
from bcs.host.upload.store import DestinationExists, UploadStore
from bcs.http import bits

__all__ = ["FragmentPlan", "Step", "UploadTarget", "find_reply", "handle_bits_post", "plan_fragment"]

log = logging.getLogger("bcs.host.upload")

_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_NOT_A_WORD = re.compile(r"[^a-z0-9]+")
_NO_COPY_RANGE = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF)
_BITS_HEADERS = (
    "HTTP_BITS_PACKET_TYPE",
    "HTTP_BITS_SUPPORTED_PROTOCOLS",
    "HTTP_BITS_SESSION_ID",
    "HTTP_CONTENT_NAME",
    "HTTP_CONTENT_RANGE",
)


@dataclass(frozen=True)
class UploadTarget:
    """Where a ``BITS_POST`` request writes: found by the app's routing."""

    group: GroupRuntime
    destination: str | None  # absolute path of the file; None: the URL cannot take uploads
    url: str  # the request path as the client sent it
    refusal: str = ""  # why ``destination`` is None


class Step(Enum):
    """What a fragment makes the server do (bits-protocol.md 2.4)."""

    WRITE = "write"  # append (or, after an overlap, the new tail only)
    DUPLICATE = "duplicate"  # every byte is there already: write nothing, 200
    GAP = "gap"  # starts after the next byte wanted: 416
    MALFORMED = "malformed"  # 400 + E_INVALIDARG
    TOO_LARGE = "too-large"  # the file exceeds maxUploadSize: 500 + BG_E_TOO_LARGE


@dataclass(frozen=True)
class FragmentPlan:
    step: Step
    skip: int = 0  # request body bytes to pass over (an overlap's old part)
    write: int = 0  # bytes to write at ``received``
    why: str = ""


def plan_fragment(
    received: int,
    known_total: int | None,
    rng: bits.FragmentRange | None,
    content_length: int | None,
    max_size: int,
) -> FragmentPlan:
    """The fragment table of bits-protocol.md 2.4, as a pure function.

    Args:
        received: the next offset the session wants.
        known_total: the total of the session's earlier fragments (None before the first).
        rng: the fragment's parsed ``Content-Range`` (None when missing or malformed).
        content_length: the request's ``Content-Length`` (None when missing).
        max_size: the group's ``maxUploadSize`` (0 = none).
    """
    if rng is None:
        return FragmentPlan(Step.MALFORMED, why="Content-Range is missing or malformed")
    if content_length is None or content_length != rng.length:
        return FragmentPlan(Step.MALFORMED, why="Content-Length does not match Content-Range")
    if known_total is not None and rng.total != known_total:
        return FragmentPlan(
            Step.MALFORMED, why=f"the file's size changed from {known_total} to {rng.total} bytes"
        )
    if max_size and rng.total > max_size:
        return FragmentPlan(Step.TOO_LARGE, why=f"{rng.total} bytes exceed maxUploadSize {max_size}")
    if rng.first > received:
        return FragmentPlan(Step.GAP, why=f"fragment starts at {rng.first}, byte {received} is next")
    if rng.last < received:
        return FragmentPlan(Step.DUPLICATE)
    skip = received - rng.first
    return FragmentPlan(Step.WRITE, skip=skip, write=rng.length - skip)


def _error(status: int, code: Code | str, message: str, headers: Headers | None = None) -> Answer:
    value = code if isinstance(code, str) else format_hresult(code.hresult)
    slug = _NOT_A_WORD.sub("-", message.lower()).strip("-")[:60]  # one token in the access log
    return Answer(status, message, headers, code=value, why=f"upload:{slug}")


def _not_found(session_id: str | None) -> Answer:
    headers = [(bits.SESSION_ID, session_id)] if session_id else []
    return _error(500, BG_E_SESSION_NOT_FOUND, "upload session not found", headers)


def _ack(
    start_response: StartResponse, exchange: Exchange, headers: Headers, status: int = 200
) -> list[bytes]:
    out: Headers = [("Pragma", "no-cache"), (bits.PACKET_TYPE, "Ack"), *headers, ("Content-Length", "0")]
    exchange.status = status
    start_response(status_line(status), out)
    exchange.finish(0)
    return []


class _Request:
    """One BITS_POST request as the packet handlers see it."""

    def __init__(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        exchange: Exchange,
        store: UploadStore,
        target: UploadTarget,
        principal: Principal,
        stopping: threading.Event,
    ) -> None:
        self.environ = environ
        self.start_response = start_response
        self.exchange = exchange
        self.store = store
        self.target = target
        self.group = target.group
        self.config = target.group.config
        self.principal = principal
        self.owner = principal.key
        self.stopping = stopping
        self.content_length = _content_length(environ)

    def header(self, name: str) -> str | None:
        value = self.environ.get(name)
        return None if value is None else str(value)

    def ack(self, headers: Headers) -> list[bytes]:
        return _ack(self.start_response, self.exchange, headers)

    def expect_no_body(self) -> None:
        if self.content_length is None:
            raise _error(400, E_INVALIDARG, "Content-Length is required")
        if self.content_length != 0:
            raise _error(400, E_INVALIDARG, "this packet has no body")

    def destination(self) -> str:
        if self.target.destination is None:
            raise _error(403, E_ACCESSDENIED, self.target.refusal)
        return self.target.destination

    def session(self) -> UploadSession:
        """The session of ``BITS-Session-Id``: it must be this URL's and this user's."""
        raw = self.header("HTTP_BITS_SESSION_ID")
        session_id = bits.parse_session_id(raw)
        if session_id is None:
            if raw is None:
                raise _error(400, E_INVALIDARG, "BITS-Session-Id is required")
            raise _not_found(raw if len(raw) <= bits.MAX_SESSION_ID else None)
        session = self.store.get(session_id)
        if (
            session is None
            or session.url_group != self.group.prefix.key
            or session.owner != self.owner
            or self.target.destination is None
            or os.path.normcase(session.destination) != os.path.normcase(self.target.destination)
        ):
            raise _not_found(session_id)
        if session.active and time.time() - session.last_activity >= self.config.session_timeout:
            with session.lock:
                if session.active:
                    self.store.end(session, SessionEvent.EXPIRE)
                    log.info("upload session %s expired", session_id)
            raise _not_found(session_id)
        return session


def _content_length(environ: dict[str, Any]) -> int | None:
    text = environ.get("CONTENT_LENGTH")
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def handle_bits_post(
    environ: dict[str, Any],
    start_response: StartResponse,
    exchange: Exchange,
    store: UploadStore | None,
    target: UploadTarget,
    principal: Principal,
    stopping: threading.Event,
) -> Iterable[bytes]:
    """Answer one ``BITS_POST`` request (routed, authenticated and authorized by the app).

    Args:
        store: the engine's upload sessions (None: this engine has no state directory for them).
        target: the group and the destination the request's path names.
        principal: who sent it; sessions belong to ``principal.key``.
        stopping: set when the listener stops (wakes a fragment waiting for its bandwidth).

    Raises:
        Answer: every refusal; the app renders it as an Ack with the BITS error headers.
    """
    config = target.group.config
    if not config.upload_enabled:
        raise _error(501, E_ACCESSDENIED, "uploads are not enabled on this URL group")
    if store is None:
        raise _error(503, E_NOTIMPL, "this engine has no state directory for upload sessions")
    for name in _BITS_HEADERS:
        value = environ.get(name)
        if value is not None and len(value) > bits.MAX_HEADER_VALUE:
            raise _error(400, E_INVALIDARG, "a BITS header value is longer than 4 KB")
    packet = bits.parse_packet_type(environ.get("HTTP_BITS_PACKET_TYPE"))
    request = _Request(environ, start_response, exchange, store, target, principal, stopping)
    if packet is bits.PacketType.PING:
        request.expect_no_body()
        return request.ack([])
    if packet is bits.PacketType.CREATE_SESSION:
        return _create_session(request)
    if packet is bits.PacketType.FRAGMENT:
        return _fragment(request)
    if packet is bits.PacketType.CLOSE_SESSION:
        return _close_session(request)
    if packet is bits.PacketType.CANCEL_SESSION:
        return _cancel_session(request)
    raise _error(400, E_INVALIDARG, "unknown or missing BITS-Packet-Type")


# --- Create-Session -------------------------------------------------------------------------------


def _create_session(request: _Request) -> list[bytes]:
    request.expect_no_body()
    offered = bits.parse_supported_protocols(request.header("HTTP_BITS_SUPPORTED_PROTOCOLS"))
    if bits.PROTOCOL_GUID not in offered:
        raise _error(400, E_INVALIDARG, "no protocol in BITS-Supported-Protocols is supported")
    destination = request.destination()
    if os.path.isdir(destination):
        raise _error(400, E_INVALIDARG, "the upload URL names a folder")
    if not os.path.isdir(os.path.dirname(destination)):
        raise _error(404, ERROR_PATH_NOT_FOUND, "the folder of the upload URL does not exist")
    config = request.config
    notify = config.notification_type
    if notify == "None" and not config.allow_overwrites and os.path.lexists(destination):
        raise _error(403, E_ACCESSDENIED, "the file exists and this URL group does not allow overwrites")
    store = request.store
    group_key = request.group.prefix.key
    with store.create_lock:
        holder = store.holder(destination) if notify == "None" else None
        if holder is not None and not _take_over(store, holder):
            raise _error(409, ERROR_SHARING_VIOLATION, "another upload session is writing this file")
        limit = config.max_sessions_per_user
        if limit and store.count_active(group_key, request.owner) >= limit:
            raise Answer(
                503,
                f"this user has {limit} upload sessions in this URL group, its maximum",
                [("Retry-After", str(tunables.RETRY_AFTER_SECONDS))],
                why="upload:session-limit",
            )
        session = UploadSession(
            session_id=bits.new_session_id(),
            url_group=group_key,
            url=request.target.url,
            destination=destination,
            owner=request.owner,
            owner_name=request.principal.name or "anonymous",
            content_name=bits.parse_content_name(request.header("HTTP_CONTENT_NAME")) or "",
            protocol=bits.PROTOCOL_GUID,
            notify=notify,
        )
        try:
            store.create(session)
        except OSError as exc:
            raise _os_error(exc, "cannot create the upload session") from None
    log.info("upload session %s created for %s", session.session_id, destination)
    headers: Headers = [
        (bits.PROTOCOL, bits.PROTOCOL_GUID),
        (bits.SESSION_ID, session.session_id),
        (bits.ACCEPT_ENCODING, "identity"),
    ]
    if config.host_id:
        headers.append((bits.HOST_ID, config.host_id))
        headers.append((bits.HOST_ID_FALLBACK_TIMEOUT, str(config.host_id_fallback_timeout)))
    return request.ack(headers)


def _take_over(store: UploadStore, holder: UploadSession) -> bool:
    """Cancel ``holder`` when it received nothing for ``UPLOAD_EMPTY_SESSION_HOLD`` seconds."""
    hold = tunables.tuned("UPLOAD_EMPTY_SESSION_HOLD", tunables.UPLOAD_EMPTY_SESSION_HOLD)
    if holder.received or time.time() - holder.last_activity < hold:
        return False
    if not holder.lock.acquire(blocking=False):  # a request of its own is running: it is alive
        return False
    try:
        if not holder.active or holder.received:
            return not holder.active
        store.end(holder, SessionEvent.CANCEL)
    finally:
        holder.lock.release()
    log.info("upload session %s received nothing and was taken over", holder.session_id)
    return True


# --- Fragment ---------------------------------------------------------------------------------------


def _fragment(request: _Request) -> list[bytes]:
    body = request.environ.get("wsgi.input")
    direct = body if isinstance(body, DirectBody) else None
    try:
        return _fragment_of(request, direct)
    finally:
        if direct is not None:
            direct.close()  # the claim ends before the Ack leaves: the next fragment may take it


def _fragment_of(request: _Request, direct: DirectBody | None) -> list[bytes]:
    session = request.session()
    sid = session.session_id
    length = request.content_length
    if length is not None and length > tunables.UPLOAD_MAX_FRAGMENT:
        raise _error(
            413,
            format_hresult(0x80190000 | 413),
            "fragment larger than the server's buffer",
            [(bits.SESSION_ID, sid)],
        )
    rng = bits.parse_fragment_range(request.header("HTTP_CONTENT_RANGE"))
    name = bits.parse_content_name(request.header("HTTP_CONTENT_NAME"))
    with session.lock:
        if not session.active:
            raise _not_found(sid)
        received = session.received
        at = [(bits.SESSION_ID, sid), (bits.RECEIVED_CONTENT_RANGE, str(received))]
        plan = plan_fragment(received, session.total, rng, length, request.config.max_upload_size)
        if plan.step is Step.MALFORMED:
            raise _error(400, E_INVALIDARG, plan.why, at)
        if plan.step is Step.TOO_LARGE:
            raise _error(500, BG_E_TOO_LARGE, plan.why, at)
        if plan.step is Step.GAP:
            raise _error(416, format_hresult(0x80190000 | 416), plan.why, at)
        assert rng is not None
        if session.total is None:
            session.total = rng.total
            if name and not session.content_name:
                session.content_name = name
        if plan.step is Step.WRITE and plan.write:
            if direct is None:
                _write(request, session, plan)
            elif direct.session is session and not direct.revoked and plan.skip == 0:
                _take_direct(request, session, direct)
            else:  # revoked: another request wrote the session meanwhile; the client resends from here
                log.info("upload session %s: a fragment body written beside another was dropped", sid)
        if session.state is SessionState.RECEIVING and session.received == session.total:
            _complete(request.store, session)
        headers = [(bits.SESSION_ID, sid), (bits.RECEIVED_CONTENT_RANGE, str(session.received))]
        if session.state is SessionState.UPLOADED and request.config.notification_type != "None":
            if not session.notified:
                _notify(request, session, headers)
            headers.append((bits.REPLY_URL, session.reply_url))
        return request.ack(headers)


def _enter_slot(request: _Request, session: UploadSession) -> tuple[TokenBucket, ...]:
    """A slot of the group's connection limit for this fragment (503 without one), kept on the
    exchange; returns the bandwidth buckets that pace its bytes."""
    group = request.group
    exchange = request.exchange
    slot = group.gate.enter()
    if slot is None:
        with group.counters.lock:
            group.counters.rejected += 1
        raise Answer(
            503,
            "too many transfers for this URL group, retry later",
            [(bits.SESSION_ID, session.session_id), ("Retry-After", str(tunables.RETRY_AFTER_SECONDS))],
        )
    exchange.slot = slot
    return tuple(b for b in (group.bucket, exchange.state.server_bucket) if b.rate > 0)


def _checkpoint_due(session: UploadSession) -> bool:
    """Whether the bytes received since the last checkpoint (or the time since it) call for one;
    never for the last byte, which ``_complete`` makes durable."""
    due = session.received - session.durable >= tunables.tuned(
        "UPLOAD_CHECKPOINT_BYTES", tunables.UPLOAD_CHECKPOINT_BYTES
    ) or time.monotonic() - session.checkpointed >= tunables.tuned(
        "UPLOAD_CHECKPOINT_SECONDS", tunables.UPLOAD_CHECKPOINT_SECONDS
    )
    return due and session.received != session.total


def _write(request: _Request, session: UploadSession, plan: FragmentPlan) -> None:
    """Move the fragment's new bytes from the request body to the staging file.

    Holds a slot of the group's connection limit and waits for the bandwidth buckets; a failure
    leaves the staging file exactly ``session.received`` long.
    """
    group = request.group
    buckets = _enter_slot(request, session)
    body = _Body(request.environ["wsgi.input"])
    store = request.store
    fd = os.open(store.staging_path(session), os.O_WRONLY | getattr(os, "O_BINARY", 0))
    with session.write_lock:
        # No direct body writes the file from here on (bcs.host.upload.direct).
        if session.claim is not None:
            session.claim.revoked = True
        session.buffered = True
    try:
        try:
            body.skip(plan.skip)
            left = plan.write
            while left:
                want = min(tunables.UPLOAD_CHUNK, left)
                _pace(buckets, want, request.stopping)
                n = body.copy_to(fd, session.received, want)
                if not n:
                    raise _error(
                        400,
                        E_INVALIDARG,
                        "the fragment's body ended early",
                        [
                            (bits.SESSION_ID, session.session_id),
                            (bits.RECEIVED_CONTENT_RANGE, str(session.received)),
                        ],
                    )
                left -= n
                session.received += n
                session.last_activity = time.time()
                with group.counters.lock:
                    group.counters.bytes_received += n
        except OSError as exc:
            os.ftruncate(fd, session.received)
            raise _os_error(
                exc,
                "cannot write the upload",
                [(bits.SESSION_ID, session.session_id), (bits.RECEIVED_CONTENT_RANGE, str(session.received))],
            ) from None
        except Answer:
            os.ftruncate(fd, session.received)
            raise
        if _checkpoint_due(session):
            store.checkpoint(session, fd)
    finally:
        with session.write_lock:
            session.buffered = False
        os.close(fd)


def _take_direct(request: _Request, session: UploadSession, direct: DirectBody) -> None:
    """Count a fragment body already in the staging file at ``received`` (bcs.host.upload.direct).

    The same rules as ``_write``: a slot of the group's connection limit (503 without one, and
    the bytes do not count), the bandwidth buckets paced before the bytes count, checkpoints.
    """
    group = request.group
    buckets = _enter_slot(request, session)
    count = direct.length if direct.error is None else direct.written  # a full disk: what fitted
    left = count
    while left:
        want = min(tunables.UPLOAD_CHUNK, left)
        _pace(buckets, want, request.stopping)
        left -= want
    with session.write_lock:
        # Unrevoked means nobody else wrote the session: it still wants the body's first byte.
        taken = session.claim is direct and not direct.revoked and session.received == direct.first
        if taken:
            session.received += count
    if not taken:
        log.warning("upload session %s: a direct fragment body lost its claim", session.session_id)
        return
    session.last_activity = time.time()
    with group.counters.lock:
        group.counters.bytes_received += count
    at = [(bits.SESSION_ID, session.session_id), (bits.RECEIVED_CONTENT_RANGE, str(session.received))]
    if direct.error is not None:
        if direct.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(direct.fd, session.received)
        raise _os_error(direct.error, "cannot write the upload", at)
    if _checkpoint_due(session) and direct.fd is not None:
        try:
            request.store.checkpoint(session, direct.fd)
        except OSError as exc:
            raise _os_error(exc, "cannot write the upload", at) from None


def _complete(store: UploadStore, session: UploadSession) -> None:
    """The last byte arrived: fsync it, then record the session UPLOADED (before its Ack)."""
    fd = os.open(store.staging_path(session), os.O_WRONLY | getattr(os, "O_BINARY", 0))
    try:
        if session.total is not None and os.fstat(fd).st_size > session.total:
            os.ftruncate(fd, session.total)  # a failed direct body may have written past the end
        session.advance(SessionEvent.COMPLETE)
        store.checkpoint(session, fd)
    except BaseException:
        # Not durable, not recorded: still RECEIVING, so the resent last fragment completes it.
        session.state = SessionState.RECEIVING
        raise
    finally:
        os.close(fd)
    log.info("upload session %s received all %d bytes", session.session_id, session.received)


class _Body:
    """A request body, read from its start into the staging file (a body not written directly).

    waitress hands a body larger than ``inbuf_overflow`` over as a temporary file: that one is
    copied by the kernel (``os.copy_file_range``, no bytes through Python; 1 GiB in 64 MiB
    fragments on loopback, 3 runs each: 1.4-1.6 engine CPU s instead of 2.0-2.2 s with read and
    write). Anything else (a small body in memory, cheroot's socket stream) is read and written in
    ``UPLOAD_CHUNK`` steps.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.fd: int | None = None
        self.pos = 0
        self.view: memoryview | None = None
        if hasattr(os, "copy_file_range"):
            try:
                fd = stream.fileno()
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    self.fd, self.pos = fd, stream.tell()
            except (AttributeError, OSError, ValueError):
                pass

    def skip(self, count: int) -> None:
        if self.fd is not None:
            self.pos += count
            return
        while count > 0:
            data = self.stream.read(min(count, tunables.UPLOAD_CHUNK))
            if not data:
                raise _error(400, E_INVALIDARG, "the fragment's body ended early")
            count -= len(data)

    def copy_to(self, fd: int, offset: int, count: int) -> int:
        """Copy up to ``count`` bytes to ``fd`` at ``offset``; 0 when the body has ended."""
        if self.fd is not None:
            try:
                n = os.copy_file_range(self.fd, fd, count, self.pos, offset)
            except OSError as exc:
                if exc.errno not in _NO_COPY_RANGE:
                    raise
                self.stream.seek(self.pos)  # the file system cannot: read and write instead
                self.fd = None
            else:
                self.pos += n
                return n
        if self.view is None:
            self.view = memoryview(bytearray(tunables.UPLOAD_CHUNK))
        view = self.view[:count]
        n = _read_into(self.stream, view)
        os.lseek(fd, offset, os.SEEK_SET)
        _write_all(fd, view[:n])
        return n


def _read_into(stream: Any, view: memoryview) -> int:
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        n = readinto(view)
        return int(n or 0)
    data = stream.read(len(view))
    view[: len(data)] = data
    return len(data)


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _pace(buckets: tuple[TokenBucket, ...], nbytes: int, stopping: threading.Event) -> None:
    """Wait until the group's and the server's buckets let ``nbytes`` more through."""
    delay = 0.0
    for bucket in buckets:
        delay = max(delay, bucket.reserve(nbytes))
    if delay > 0:
        stopping.wait(delay)


def _os_error(exc: OSError, what: str, headers: Headers | None = None) -> Answer:
    if exc.errno in _DISK_FULL:
        return _error(500, ERROR_DISK_FULL, f"{what}: the disk is full", headers)
    log.error("%s: %s", what, exc)
    return _error(500, format_hresult(0x80190000 | 500), f"{what}: {exc.strerror or exc}", headers)


# --- server application notification -------------------------------------------------------------------

REPLY_PATH = "bits-sessions/replies/"  # below a group's path, lower-case


def _notify(request: _Request, session: UploadSession, headers: Headers) -> None:
    """Tell the group's application about the upload; record its reply (the caller holds the lock).

    Raises:
        Answer: the application failed (its status, context 0x7); the session stays UPLOADED.
    """
    config = request.config
    environ = request.environ
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    scheme = environ.get("wsgi.url_scheme", "http")
    path = quote(request.target.url)
    store = request.store
    reply_file = store.reply_path(session)
    try:
        reply = notify_application(
            config.notification_url,
            environ.get("QUERY_STRING", ""),
            f"{scheme}://{host}{path}",
            config.notification_type == "ByValue",
            store.staging_path(session),
            reply_file,
        )
    except NotifyError as exc:
        log.warning("upload session %s: %s", session.session_id, exc.message)
        raise Answer(
            exc.status,
            exc.message,
            [*headers, (bits.ERROR_CONTEXT, bits.ERROR_CONTEXT_REMOTE_APPLICATION)],
            code=exc.code,
            why="upload:application-failed",
        ) from None
    if reply.static_url:
        session.reply_url = reply.static_url
    else:
        if not os.path.exists(reply_file):  # ByReference and the application wrote none: empty
            open(reply_file, "wb").close()
        segment = request.group.prefix.segment
        session.reply_url = (
            f"{scheme}://{host}/{quote(segment)}/BITS-Sessions/Replies/{quote(session.session_id)}/reply"
        )
    session.copy_to_destination = reply.copy_to_destination
    session.notified = True
    store.record(session)
    log.info("upload session %s: the server application took the upload", session.session_id)


def find_reply(
    environ: dict[str, Any], store: UploadStore | None, group: GroupRuntime, rest: str, principal: Principal
) -> str | None:
    """The reply file a GET of ``<group>/BITS-Sessions/Replies/<session>/reply`` asks for.

    Args:
        rest: the request path below the group (no leading slash).

    Returns:
        None when ``rest`` is no reply URL (the request goes on to the group's URLs).

    Raises:
        Answer: 404 for a reply that is not here (unknown, another user's, closed), 405 for a
            method other than GET and HEAD.
    """
    if rest[: len(REPLY_PATH)].lower() != REPLY_PATH:
        return None
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        raise Answer(405, "method not allowed", [("Allow", "GET, HEAD")])
    session_text, _, name = rest[len(REPLY_PATH) :].partition("/")
    session_id = bits.parse_session_id(session_text)
    session = store.get(session_id) if store is not None and session_id else None
    if (
        session is None
        or name != "reply"
        or session.url_group != group.prefix.key
        or session.owner != principal.key
        or session.state is not SessionState.UPLOADED
        or not session.notified
        or (session.reply_url.startswith("http") and "/BITS-Sessions/Replies/" not in session.reply_url)
    ):
        raise Answer(404, "not found")
    return store.reply_path(session) if store is not None else None


# --- Close-Session and Cancel-Session ---------------------------------------------------------------


def _close_session(request: _Request) -> list[bytes]:
    request.expect_no_body()
    session = request.session()
    sid = session.session_id
    with session.lock:
        state = session.state
        if state is SessionState.CLOSED:
            return request.ack([(bits.SESSION_ID, sid)])
        if state is SessionState.RECEIVING:
            request.store.end(session, SessionEvent.CLOSE)
            log.info("upload session %s closed before its last byte: discarded", sid)
            return request.ack([(bits.SESSION_ID, sid)])
        if state is not SessionState.UPLOADED:
            raise _not_found(sid)
        if session.notified and not session.copy_to_destination:
            request.store.close_without_placing(session)
            log.info("upload session %s closed: the server application took the file", sid)
            return request.ack([(bits.SESSION_ID, sid)])
        if not session.notified and request.config.notification_type != "None":
            request.store.close_without_placing(session)
            log.warning("upload session %s closed before its application was told: discarded", sid)
            return request.ack([(bits.SESSION_ID, sid)])
        try:
            request.store.commit(session, request.config.allow_overwrites)
        except DestinationExists:
            raise _error(
                403,
                E_ACCESSDENIED,
                "the file exists and this URL group does not allow overwrites",
                [(bits.SESSION_ID, sid)],
            ) from None
        except OSError as exc:
            raise _os_error(exc, "cannot place the uploaded file", [(bits.SESSION_ID, sid)]) from None
    log.info("upload session %s closed: %s placed", sid, session.destination)
    return request.ack([(bits.SESSION_ID, sid)])


def _cancel_session(request: _Request) -> list[bytes]:
    request.expect_no_body()
    session = request.session()
    sid = session.session_id
    with session.lock:
        if session.active:
            request.store.end(session, SessionEvent.CANCEL)
            log.info("upload session %s cancelled", sid)
        elif session.state not in (SessionState.CLOSED, SessionState.CANCELLED):
            raise _not_found(sid)
    return request.ack([(bits.SESSION_ID, sid)])
