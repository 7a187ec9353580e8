"""The WSGI application of a listener: route -> limits -> serve a file (GET/HEAD with ranges).

One ``HostApp`` per listener (it knows its port); every request reads the current routing table
of the ``FileHost`` (replaced as a whole on each configuration change).

Responses:

* 200/206 always carry ``Content-Length``, ``Accept-Ranges: bytes``, ``Last-Modified`` and
  ``ETag``; file bodies are never chunked. HEAD sends the headers GET would send.
* Errors (4xx/5xx) carry a short text body and ``BITS-Error-Code`` / ``BITS-Error-Context: 0x5``
  built from ``bcs.errors`` (``0x80190000 | status``).
* Unthrottled single bodies go through ``wsgi.file_wrapper`` (waitress sends them from its I/O
  thread without holding a worker thread); throttled bodies and multi-range bodies are iterators.

Fail closed: a group with an ``authentication`` list or a URL with an SDDL is answered 403 with
``BITS-Error-Code: 0x80070005`` (E_ACCESSDENIED) and a ``refused:...`` note in the access log,
because this engine cannot enforce them yet; serving such a URL anonymously would be the worst
outcome. The settings stay accepted and persisted, and ``enforced: false`` says so in the API.

Path safety: the path is percent-decoded by the server, must be UTF-8 without NUL or control
characters, has no ``.``/``..`` segment and no backslash, fits ``MAX_PATH_BYTES``, and the file it
names below a directory URL must resolve (symlinks included) inside that directory.
"""

from __future__ import annotations

import html
import io
import logging
import mimetypes
import os
import re
import stat
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bcs import tunables
from bcs.bandwidth import Paced, TokenBucket
from bcs.errors import AccessDeniedError, HttpStatusError
from bcs.host.routing import GroupRuntime, RoutingTable, UrlEntry
from bcs.http.ranges import (
    ByteRange,
    Precondition,
    RangeNotSatisfiable,
    Validators,
    check_preconditions,
    if_range_matches,
    parse_range,
)

if TYPE_CHECKING:
    from bcs.host.accesslog import AccessLog

__all__ = ["HostApp", "HostState"]

log = logging.getLogger("bcs.host")

StartResponse = Callable[..., Any]
Headers = list[tuple[str, str]]

_REASONS = {
    200: "OK",
    206: "Partial Content",
    301: "Moved Permanently",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
_WINDOWS = sys.platform == "win32"


class HostState:
    """What the apps of all listeners share: the routing table, the server bucket, logging."""

    def __init__(self, table: RoutingTable, server_bucket: TokenBucket) -> None:
        self.table = table
        self.server_bucket = server_bucket
        self.access_log: AccessLog | None = None  # None: access log turned off


def _status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Unknown')}"


_content_types: dict[str, str] = {}


def _content_type(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    found = _content_types.get(ext)
    if found is None:
        found = mimetypes.guess_type("x" + ext, strict=False)[0] or "application/octet-stream"
        _content_types[ext] = found
    return found


class _Transfer:
    """Book-keeping of one request: counters, the connection-limit slot and the access-log line."""

    __slots__ = ("_done", "app", "environ", "gated", "group", "started", "status", "why")

    def __init__(self, app: HostApp, environ: dict[str, Any], started: float) -> None:
        self.app = app
        self.environ = environ
        self.started = started
        self.group: GroupRuntime | None = None
        self.gated = False
        self.status = 0
        self.why = ""  # why a request was refused, for the access log (only where the status is not enough)
        self._done = False

    def finish(self, nbytes: int) -> None:
        if self._done:
            return
        self._done = True
        group = self.group
        if group is not None:
            if self.gated:
                group.gate.leave()
            if nbytes:
                with group.counters.lock:
                    group.counters.bytes_sent += nbytes
        access = self.app.state.access_log
        if access is not None:
            env = self.environ
            access.record(
                (
                    time.time(),
                    env.get("REMOTE_ADDR", ""),
                    env.get("REQUEST_METHOD", "-"),
                    env.get("REQUEST_URI") or env.get("PATH_INFO", ""),
                    self.status,
                    nbytes,
                    time.monotonic() - self.started,
                    env.get("REMOTE_USER", ""),
                    self.why,
                )
            )


class _TrackedFile(io.FileIO, Paced):
    """A file whose close (by waitress, once the body is sent or the client left) ends the transfer.

    It is ``Paced``: the channel and the pump that send it ask it how much may leave.
    """

    transfer: _Transfer | None = None
    start = 0
    owned = False  # handed to the server (file_wrapper) or to a _Body, which close it
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
        transfer = self.transfer
        if transfer is not None and not self.closed:
            self.transfer = None
            try:
                sent = self.tell() - self.start
            except (OSError, ValueError):
                sent = 0
            super().close()
            transfer.finish(sent)
            return
        super().close()


class _Body:
    """An iterated body (multi-range, throttled or without file_wrapper); reads in chunks."""

    def __init__(
        self,
        fh: io.FileIO,
        parts: list[tuple[bytes, int, int]],
        trailer: bytes,
        transfer: _Transfer,
        buckets: tuple[TokenBucket, ...],
        stopping: threading.Event,
    ) -> None:
        self.fh = fh
        self.parts = parts  # (bytes before, offset, length)
        self.trailer = trailer
        self.transfer = transfer
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
        self.transfer.finish(self.sent)


class _Answer(Exception):
    """A finished error answer raised from deep inside the request handling."""

    def __init__(
        self, status: int, message: str, headers: Headers | None = None, *, why: str = "", code: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []
        self.why = why  # access-log note
        self.code = code  # BITS-Error-Code when it is not 0x80190000 | status


_NOT_ENFORCED = AccessDeniedError().header_value()


def _not_enforced(what: str, why: str) -> _Answer:
    return _Answer(
        403,
        f"access denied: {what}, which this engine cannot enforce yet; it refuses the request "
        "instead of serving it without that protection",
        why=f"refused:{why}",
        code=_NOT_ENFORCED,
    )


def _safe_parts(rest: str) -> list[str]:
    """The segments of a request path below a URL, refusing anything that could leave it."""
    parts = [p for p in rest.split("/") if p]
    for part in parts:
        if part in (".", "..") or "\\" in part or (_WINDOWS and ":" in part):
            raise _Answer(400, "invalid path segment")
        if len(part.encode("utf-8", "surrogatepass")) > tunables.MAX_SEGMENT_BYTES:
            raise _Answer(414, "path segment too long")
    return parts


class HostApp:
    """The WSGI application of one listener (one port)."""

    def __init__(self, state: HostState, port: int, stopping: threading.Event, paces_files: bool) -> None:
        self.state = state
        self.port = port
        self.stopping = stopping
        # True when the server's channel paces wsgi.file_wrapper bodies itself (SendfileChannel):
        # then throttled single bodies also leave from the I/O thread, holding no worker thread.
        self.paces_files = paces_files

    # --- responses ---
    def _error(
        self,
        start_response: StartResponse,
        transfer: _Transfer,
        status: int,
        message: str,
        extra: Headers | None = None,
        code: str = "",
    ) -> list[bytes]:
        body = (message + "\n").encode("utf-8") if transfer.environ["REQUEST_METHOD"] != "HEAD" else b""
        length = len(message) + 1
        headers: Headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(length)),
            ("BITS-Error-Code", code or HttpStatusError(status).header_value()),
            ("BITS-Error-Context", "0x5"),
        ]
        if extra:
            headers.extend(extra)
        transfer.status = status
        start_response(_status_line(status), headers)
        transfer.finish(len(body))
        return [body] if body else []

    # --- WSGI entry ---
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        transfer = _Transfer(self, environ, time.monotonic())
        try:
            return self._handle(environ, start_response, transfer)
        except _Answer as answer:
            transfer.why = answer.why
            return self._error(
                start_response, transfer, answer.status, answer.message, answer.headers, answer.code
            )
        except Exception:
            log.exception("request %s %s failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            if transfer.gated and transfer.group is not None:
                transfer.gated = False
                transfer.group.gate.leave()
            return self._error(start_response, transfer, 500, "internal server error")

    def _handle(
        self, environ: dict[str, Any], start_response: StartResponse, transfer: _Transfer
    ) -> Iterable[bytes]:
        raw_path: str = environ.get("PATH_INFO", "")
        if len(raw_path) > tunables.MAX_PATH_BYTES:
            raise _Answer(414, "request path too long")
        try:
            path = raw_path.encode("latin-1").decode("utf-8")
        except UnicodeError:
            raise _Answer(400, "request path is not UTF-8") from None
        if not path.startswith("/") or _CONTROL.search(path):
            raise _Answer(400, "invalid characters in the request path")
        segment, slash, rest = path[1:].partition("/")
        host = environ.get("HTTP_HOST", "").lower()
        # "[::1]:8080" -> "[::1]", "Name.:8080" -> "name"
        host = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0].rstrip(".")
        table = self.state.table
        group, host_known = table.find_group(self.port, host, segment.lower())
        if group is None:
            raise _Answer(404 if host_known else 400, "not found" if host_known else "invalid host name")
        runtime = group.runtime
        transfer.group = runtime
        counters = runtime.counters
        with counters.lock:
            counters.requests += 1
        if runtime.config.authentication:
            raise _not_enforced(
                f"this URL group requires {'/'.join(runtime.config.authentication)} authentication",
                "authentication-not-enforced",
            )
        method = environ["REQUEST_METHOD"]
        if method not in ("GET", "HEAD"):
            raise _Answer(405, "method not allowed", [("Allow", "GET, HEAD")])
        if not slash:
            raise _Answer(404, "not found")
        entry, below = RoutingTable.find_url(group, rest)
        if entry is None:
            raise _Answer(404, "not found")
        if entry.sddl:
            raise _not_enforced("this URL is restricted by an SDDL", "sddl-not-enforced")
        if entry.is_directory:
            return self._serve_below(environ, start_response, transfer, entry, below, rest)
        if below:
            raise _Answer(404, "not found")
        return self._serve_file(environ, start_response, transfer, entry.source)

    def _serve_below(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        transfer: _Transfer,
        entry: UrlEntry,
        below: str,
        rest: str,
    ) -> Iterable[bytes]:
        parts = _safe_parts(below)
        try:
            root = os.path.realpath(entry.source)
            target = os.path.realpath(os.path.join(root, *parts)) if parts else root
        except (OSError, ValueError):
            raise _Answer(404, "not found") from None
        if target != root and not target.startswith(root.rstrip(os.sep) + os.sep):
            log.warning("refused %s: resolves outside %s", environ.get("PATH_INFO"), root)
            raise _Answer(404, "not found")
        if os.path.isdir(target):
            if not entry.group.config.directory_listing:
                raise _Answer(404, "not found (directory listing is disabled)")
            if not rest.endswith("/"):
                location = quote(environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8") + "/")
                raise _Answer(301, "moved", [("Location", location)])
            return self._listing(environ, start_response, transfer, target)
        return self._serve_file(environ, start_response, transfer, target)

    def _listing(
        self, environ: dict[str, Any], start_response: StartResponse, transfer: _Transfer, directory: str
    ) -> Iterable[bytes]:
        try:
            names = sorted(os.listdir(directory))[: tunables.MAX_LISTING_ENTRIES]
        except OSError:
            raise _Answer(404, "not found") from None
        rows = []
        for name in names:
            full = os.path.join(directory, name)
            label = name + ("/" if os.path.isdir(full) else "")
            rows.append(f'<li><a href="{html.escape(quote(label))}">{html.escape(label)}</a></li>')
        title = html.escape(environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8"))
        page = (
            f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1><ul>\n" + "\n".join(rows) + "\n</ul></body></html>\n"
        ).encode()
        transfer.status = 200
        start_response(
            "200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page)))]
        )
        body = b"" if environ["REQUEST_METHOD"] == "HEAD" else page
        transfer.finish(len(body))
        return [body] if body else []

    def _serve_file(
        self, environ: dict[str, Any], start_response: StartResponse, transfer: _Transfer, path: str
    ) -> Iterable[bytes]:
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except PermissionError:
            raise _Answer(403, "forbidden") from None
        except (OSError, ValueError):
            raise _Answer(404, "not found") from None
        fh = _TrackedFile(fd, "rb", closefd=True)
        try:
            return self._respond(environ, start_response, transfer, fh, path)
        except BaseException:
            if not fh.owned:
                fh.close()
            raise

    def _respond(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        transfer: _Transfer,
        fh: _TrackedFile,
        path: str,
    ) -> Iterable[bytes]:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _Answer(404, "not found")
        size = st.st_size
        validators = Validators.of(size, st.st_mtime_ns)
        get = environ.get
        headers: Headers = [
            ("Accept-Ranges", "bytes"),
            ("Last-Modified", validators.last_modified),
            ("ETag", validators.etag),
        ]
        condition = check_preconditions(
            validators,
            get("HTTP_IF_MATCH"),
            get("HTTP_IF_UNMODIFIED_SINCE"),
            get("HTTP_IF_NONE_MATCH"),
            get("HTTP_IF_MODIFIED_SINCE"),
        )
        if condition is Precondition.FAILED:
            raise _Answer(412, "precondition failed")
        if condition is Precondition.NOT_MODIFIED:
            transfer.status = 304
            start_response("304 Not Modified", headers)
            fh.close()
            transfer.finish(0)
            return []
        ranges: list[ByteRange] | None = None
        range_header = get("HTTP_RANGE")
        if range_header is not None and if_range_matches(validators, get("HTTP_IF_RANGE")):
            try:
                ranges = parse_range(range_header, size)
            except RangeNotSatisfiable:
                raise _Answer(416, "range not satisfiable", [("Content-Range", f"bytes */{size}")]) from None
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
        transfer.status = status
        if environ["REQUEST_METHOD"] == "HEAD" or length == 0:
            start_response(_status_line(status), headers)
            fh.close()
            transfer.finish(0)
            return []
        group = transfer.group
        assert group is not None
        if not group.gate.try_enter():
            with group.counters.lock:
                group.counters.rejected += 1
            raise _Answer(
                503,
                "too many transfers for this URL group, retry later",
                [("Retry-After", str(tunables.RETRY_AFTER_SECONDS))],
            )
        transfer.gated = True
        buckets = tuple(b for b in (group.bucket, self.state.server_bucket) if b.rate > 0)
        wrapper = environ.get("wsgi.file_wrapper")
        start_response(_status_line(status), headers)
        if len(parts) == 1 and wrapper is not None and (self.paces_files or not buckets):
            _, offset, _ = parts[0]
            fh.seek(offset)
            fh.start = offset
            fh.transfer = transfer
            fh.buckets = (group.bucket, self.state.server_bucket)
            fh.owned = True
            body: Iterable[bytes] = wrapper(fh, tunables.READ_CHUNK)
            return body
        fh.owned = True
        return _Body(fh, parts, trailer, transfer, (group.bucket, self.state.server_bucket), self.stopping)
