"""File downloads of the file host: GET and HEAD of one file, with validators and byte ranges.

* 200/206 always carry ``Content-Length``, ``Accept-Ranges: bytes``, ``Last-Modified`` and
  ``ETag``; file bodies are never chunked. HEAD sends the headers GET would send.
* Preconditions and ranges follow ``bcs.http.ranges`` (412, 304, 416, single or multipart 206).
* A body takes a slot under its group's connection limit (503 with ``Retry-After`` when none is
  left) and gives it back when the body closes.
* Unthrottled single bodies go through ``wsgi.file_wrapper`` (waitress sends them from its I/O
  thread without holding a worker thread), and so do throttled ones where the server paces file
  bodies itself (``paces_files``: the file is ``Paced``); other bodies are iterated here.
"""

from __future__ import annotations

import io
import mimetypes
import os
import stat
import threading
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from bcs import tunables
from bcs.bandwidth import Paced, TokenBucket
from bcs.host.digests import DigestState, DigestStore, repr_digest
from bcs.host.exchange import Answer, Exchange, Headers, StartResponse, status_line
from bcs.http.ranges import (
    ByteRange,
    Precondition,
    RangeNotSatisfiable,
    Validators,
    check_preconditions,
    if_range_matches,
    parse_range,
)

__all__ = ["TrackedFile", "serve_file"]

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)

_content_types: dict[str, str] = {}


def _content_type(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    found = _content_types.get(ext)
    if found is None:
        found = mimetypes.guess_type("x" + ext, strict=False)[0] or "application/octet-stream"
        _content_types[ext] = found
    return found


class TrackedFile(io.FileIO, Paced):
    """A file whose close (by waitress, once the body is sent or the client left) ends the exchange.

    It is ``Paced``: the channel and the pump that send it ask it how much may leave.
    """

    exchange: Exchange | None = None
    start = 0
    owned = False  # handed to the server (file_wrapper) or to an _IteratedBody, which close it
    buckets: tuple[TokenBucket, ...] = ()

    def allowance(self, now: float) -> float | None:
        """Bytes the server may send now (None: unthrottled); read by the sending channel."""
        limit: float | None = None
        for bucket in self.buckets:
            if bucket.rate > 0:
                room = bucket.available(now)
                limit = room if limit is None else min(limit, room)
        return limit

    def consumed(self, nbytes: int, now: float) -> None:
        for bucket in self.buckets:
            bucket.consume(nbytes, now)

    def close(self) -> None:
        exchange = self.exchange
        if exchange is not None and not self.closed:
            self.exchange = None
            try:
                sent = self.tell() - self.start
            except (OSError, ValueError):
                sent = 0
            super().close()
            exchange.finish(sent)
            return
        super().close()


class _IteratedBody:
    """An iterated body (multi-range, throttled or without file_wrapper); reads in chunks."""

    def __init__(
        self,
        fh: io.FileIO,
        parts: list[tuple[bytes, int, int]],
        trailer: bytes,
        exchange: Exchange,
        buckets: tuple[TokenBucket, ...],
        stopping: threading.Event,
    ) -> None:
        self.fh = fh
        self.parts = parts  # (bytes before, offset, length)
        self.trailer = trailer
        self.exchange = exchange
        self.buckets = buckets
        self.stopping = stopping
        self.sent = 0

    def _chunk_size(self) -> int:
        rates = [b.rate for b in self.buckets if b.rate > 0]
        if not rates:
            return tunables.READ_CHUNK
        return max(tunables.MIN_PACED_CHUNK, min(tunables.READ_CHUNK, min(rates) // tunables.PACE_STEPS))

    def _pace(self, nbytes: int) -> None:
        delay = 0.0
        for bucket in self.buckets:
            delay = max(delay, bucket.reserve(nbytes))
        if delay > 0:
            # A stopping listener wakes us early; the next write then finds the connection closed.
            self.stopping.wait(delay)

    def __iter__(self) -> Iterator[bytes]:
        fh = self.fh
        for before, offset, length in self.parts:
            if before:
                self.sent += len(before)
                yield before
            fh.seek(offset)
            remaining = length
            while remaining > 0:
                size = min(self._chunk_size(), remaining)
                self._pace(size)
                data = fh.read(size)
                if not data:
                    # The file shrank under us: stop short; the client sees a short body.
                    raise OSError(f"{fh.name}: file shrank during the transfer")
                remaining -= len(data)
                self.sent += len(data)
                yield data
        if self.trailer:
            self.sent += len(self.trailer)
            yield self.trailer

    def close(self) -> None:
        self.fh.close()
        self.exchange.finish(self.sent)


def serve_file(
    environ: dict[str, Any],
    start_response: StartResponse,
    exchange: Exchange,
    path: str,
    stopping: threading.Event,
    paces_files: bool,
    digests: DigestStore | None = None,
) -> Iterable[bytes]:
    """Answer a GET or HEAD of the file ``path`` for ``exchange`` (routed: its group is set).

    Args:
        stopping: set when the listener stops; wakes iterated bodies waiting for their bucket.
        paces_files: the server's channel paces ``wsgi.file_wrapper`` bodies itself.
        digests: the URL pins its files' SHA-256: served only under it, as ``Repr-Digest``.

    Raises:
        Answer: 403/404 when the file cannot be opened, 412, 416, 503 at the connection limit
            or while the digest is computed, 409 when the file no longer has its pinned digest.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except PermissionError:
        raise Answer(403, "forbidden") from None
    except (OSError, ValueError):
        raise Answer(404, "not found") from None
    fh = TrackedFile(fd, "rb", closefd=True)
    try:
        return _respond(environ, start_response, exchange, fh, path, stopping, paces_files, digests)
    except BaseException:
        if not fh.owned:
            fh.close()
        raise


def _pinned_digest(digests: DigestStore, path: str, size: int, mtime_ns: int) -> str:
    """The ``Repr-Digest`` of the file as opened, or the answer that refuses it (bcs.host.digests)."""
    state, digest = digests.check(path, size, mtime_ns)
    if state is DigestState.KNOWN:
        return repr_digest(digest)
    if state is DigestState.PENDING:
        raise Answer(
            503,
            "the file's SHA-256 is being computed; retry later",
            [("Retry-After", str(tunables.RETRY_AFTER_SECONDS))],
            why="refused:digest-pending",
        )
    raise Answer(
        409,
        "the file changed since its SHA-256 was recorded; it is served again once its URL is published again",
        why="refused:digest-mismatch",
    )


def _respond(
    environ: dict[str, Any],
    start_response: StartResponse,
    exchange: Exchange,
    fh: TrackedFile,
    path: str,
    stopping: threading.Event,
    paces_files: bool,
    digests: DigestStore | None,
) -> Iterable[bytes]:
    st = os.fstat(fh.fileno())
    if not stat.S_ISREG(st.st_mode):
        raise Answer(404, "not found")
    size = st.st_size
    validators = Validators.of(size, st.st_mtime_ns)
    get = environ.get
    headers: Headers = [
        ("Accept-Ranges", "bytes"),
        ("Last-Modified", validators.last_modified),
        ("ETag", validators.etag),
    ]
    if digests is not None:
        headers.append(("Repr-Digest", _pinned_digest(digests, path, size, st.st_mtime_ns)))
    condition = check_preconditions(
        validators,
        get("HTTP_IF_MATCH"),
        get("HTTP_IF_UNMODIFIED_SINCE"),
        get("HTTP_IF_NONE_MATCH"),
        get("HTTP_IF_MODIFIED_SINCE"),
    )
    if condition is Precondition.FAILED:
        raise Answer(412, "precondition failed")
    if condition is Precondition.NOT_MODIFIED:
        exchange.status = 304
        start_response("304 Not Modified", headers)
        fh.close()
        exchange.finish(0)
        return []
    ranges: list[ByteRange] | None = None
    range_header = get("HTTP_RANGE")
    if range_header is not None and if_range_matches(validators, get("HTTP_IF_RANGE")):
        try:
            ranges = parse_range(range_header, size)
        except RangeNotSatisfiable:
            raise Answer(416, "range not satisfiable", [("Content-Range", f"bytes */{size}")]) from None
    content_type = _content_type(path)
    parts: list[tuple[bytes, int, int]]
    trailer = b""
    if ranges is None:
        status = 200
        length = size
        parts = [(b"", 0, size)]
        headers.append(("Content-Type", content_type))
    elif len(ranges) == 1:
        status = 206
        r = ranges[0]
        length = r.length
        parts = [(b"", r.first, r.length)]
        headers.append(("Content-Type", content_type))
        headers.append(("Content-Range", r.content_range(size)))
    else:
        status = 206
        boundary = uuid.uuid4().hex
        parts = []
        for i, r in enumerate(ranges):
            before = (
                f"{'' if i == 0 else chr(13) + chr(10)}--{boundary}\r\nContent-Type: {content_type}\r\n"
                f"Content-Range: {r.content_range(size)}\r\n\r\n"
            ).encode("ascii")
            parts.append((before, r.first, r.length))
        trailer = f"\r\n--{boundary}--\r\n".encode("ascii")
        length = sum(len(b) + n for b, _, n in parts) + len(trailer)
        headers.append(("Content-Type", f"multipart/byteranges; boundary={boundary}"))
    headers.append(("Content-Length", str(length)))
    exchange.status = status
    if environ["REQUEST_METHOD"] == "HEAD" or length == 0:
        start_response(status_line(status), headers)
        fh.close()
        exchange.finish(0)
        return []
    group = exchange.group
    assert group is not None
    slot = group.gate.enter()
    if slot is None:
        with group.counters.lock:
            group.counters.rejected += 1
        raise Answer(
            503,
            "too many transfers for this URL group, retry later",
            [("Retry-After", str(tunables.RETRY_AFTER_SECONDS))],
        )
    exchange.slot = slot
    server_bucket = exchange.state.server_bucket
    buckets = tuple(b for b in (group.bucket, server_bucket) if b.rate > 0)
    wrapper = environ.get("wsgi.file_wrapper")
    start_response(status_line(status), headers)
    if len(parts) == 1 and wrapper is not None and (paces_files or not buckets):
        _, offset, _ = parts[0]
        fh.seek(offset)
        fh.start = offset
        fh.exchange = exchange
        fh.buckets = (group.bucket, server_bucket)
        fh.owned = True
        body: Iterable[bytes] = wrapper(fh, tunables.READ_CHUNK)
        return body
    fh.owned = True
    return _IteratedBody(fh, parts, trailer, exchange, (group.bucket, server_bucket), stopping)
