"""Fragment bodies written once: straight from the socket into the session's staging file.

Without this, waitress keeps a request body beyond ``inbuf_overflow`` (512 KiB) in a temporary
file and the app copies it into the staging file afterwards: every byte is written twice, and
the client, which sends one request at a time, waits for the copy. Profiled on tmpfs (256 MiB,
``perf record`` of the server engine): the spool write, its copy and the spool file's deletion
took about 60 % of the engine's CPU.

When the head of a ``BITS_POST`` Fragment is complete (the listener's parser, before the app
runs), ``open_direct`` looks its session up; when the fragment starts exactly at the session's
next offset (``received``) and nobody else writes the session, the request's body buffer becomes
a ``DirectBody``: the session's one *claim*. Each piece of body that arrives is written at its
offset in the staging file (``os.pwrite``) by the listener's I/O thread, as waitress's spool
file was. Otherwise the body is kept by waitress as before (the app copies it).

Nothing a DirectBody writes counts until the app has run the whole request: routing,
authentication, the session's owner and URL, the fragment table (``plan_fragment``), the
connection limit and the bandwidth buckets. Only then does ``received`` move past the bytes.
Bytes of a request that failed, or of a client that went away mid-body, lie beyond ``received``:
the next fragment writes over them, a crash recovery trusts only ``durable`` (bytes past it are
cut), and the last fragment cuts the file to its total. The rules that keep acknowledged bytes
safe from a second connection on the same session (all under ``session.write_lock``):

* a claim is opened only when the session has none, no request body is being copied
  (``session.buffered``) and the fragment starts at ``received``;
* a DirectBody writes only while it holds the claim unrevoked;
* the app, before it copies a (buffered) body into the staging file, revokes the claim of any
  other request and sets ``buffered``: from then on the DirectBody writes nothing, and its
  request is answered with the offset the session has (the client resends from there, as after a
  duplicate, bits-protocol.md 2.4);
* the app counts a DirectBody only when it is complete, unrevoked and starts at ``received``.

The claim ends with its request: in the app once it answered, or when the request is closed
(waitress closes the parser after the task, the listener when the connection closes mid-body).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from bcs.host.upload.session import SessionState, UploadSession
from bcs.host.upload.store import UploadStore
from bcs.http import bits

__all__ = ["DirectBody", "open_direct"]


class DirectBody:
    """A fragment's body, written into the staging file as it arrives (waitress's buffer interface).

    ``getfile`` gives the body itself as ``wsgi.input``: reading it gives nothing, the bytes are
    in the staging file already.
    """

    def __init__(self, session: UploadSession, fd: int, first: int, length: int) -> None:
        self.session = session
        self.fd: int | None = fd
        self.first = first  # offset in the file of the body's first byte
        self.length = length  # the body's Content-Length
        self.seen = 0  # body bytes received
        self.written = 0  # body bytes in the staging file, from ``first`` on
        self.revoked = False  # another request wrote the session: these bytes are not used
        self.error: OSError | None = None  # a write failed (disk full ...): nothing more is written

    # --- waitress's buffer ---
    def __len__(self) -> int:
        return self.seen

    def append(self, data: bytes) -> None:
        self.seen += len(data)
        if self.fd is None or self.revoked or self.error is not None:
            return
        view = memoryview(data)
        with self.session.write_lock:
            if self.revoked or self.fd is None:
                return
            offset = self.first + self.written
            try:
                while view:
                    n = os.pwrite(self.fd, view, offset)
                    view = view[n:]
                    offset += n
                    self.written += n
            except OSError as exc:
                self.error = exc

    def getfile(self) -> DirectBody:
        return self

    def prune(self) -> None:
        pass

    def close(self) -> None:
        """End the claim and close the staging file (idempotent)."""
        with self.session.write_lock:
            if self.session.claim is self:
                self.session.claim = None
            fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    # --- the app's view ---
    def read(self, size: int = -1) -> bytes:
        return b""

    def readinto(self, view: memoryview) -> int:
        return 0

    @property
    def complete(self) -> bool:
        """Every byte of the body is in the staging file (none revoked, none failed)."""
        return not self.revoked and self.error is None and self.written == self.length


def open_direct(
    store: UploadStore | None, headers: Mapping[str, str], content_length: int
) -> DirectBody | None:
    """The DirectBody of a request whose head just ended, or None (waitress keeps its body).

    Args:
        headers: the request's headers as waitress's parser keeps them (``CONTENT_RANGE`` ...).
        content_length: its ``Content-Length`` (more than 0).
    """
    if (
        store is None
        or bits.parse_packet_type(headers.get("BITS_PACKET_TYPE")) is not bits.PacketType.FRAGMENT
    ):
        return None
    session_id = bits.parse_session_id(headers.get("BITS_SESSION_ID"))
    rng = bits.parse_fragment_range(headers.get("CONTENT_RANGE"))
    if session_id is None or rng is None or rng.length != content_length:
        return None
    session = store.get(session_id)
    if session is None:
        return None
    with session.write_lock:
        if (
            session.claim is not None
            or session.buffered
            or session.state is not SessionState.RECEIVING
            or rng.first != session.received
            or (session.total is not None and rng.total != session.total)
        ):
            return None
        try:
            fd = os.open(store.staging_path(session), os.O_WRONLY | getattr(os, "O_BINARY", 0))
        except OSError:
            return None
        body = DirectBody(session, fd, rng.first, content_length)
        session.claim = body
    return body
