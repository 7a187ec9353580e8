"""The WSGI application of a listener: the request pipeline, decode -> route -> authenticate ->
authorize -> dispatch, and the error answers of every step.

One ``HostApp`` per listener (it knows its port); every request reads the current routing table
of the ``FileHost`` (replaced as a whole on each configuration change). The steps live elsewhere:
path safety in ``paths``, routing in ``routing``, files in ``download``, directories in
``listing``; this module only orders them.

Errors (4xx/5xx) carry a short text body and ``BITS-Error-Code`` / ``BITS-Error-Context: 0x5``
built from ``bcs.errors`` (``0x80190000 | status``). The answer to a ``BITS_POST`` is always an Ack
(``BITS-Packet-Type: Ack``, ``Content-Length: 0``, no body), refusals included; BITS_POST requests
go to the upload dispatcher (``bcs.host.upload.protocol``) after the same steps as downloads.

Fail closed (authenticate, authorize): a group with an ``authentication`` list or a URL with an
SDDL is answered 403 with ``BITS-Error-Code: 0x80070005`` (E_ACCESSDENIED) and a ``refused:...``
note in the access log, because this engine cannot enforce them yet; serving such a URL
anonymously would be the worst outcome. The settings stay accepted and persisted, and
``enforced: false`` says so in the API.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from bcs.auth.principal import ANONYMOUS
from bcs.errors import AccessDeniedError, HttpStatusError
from bcs.host.download import serve_file
from bcs.host.exchange import Answer, Exchange, Headers, HostState, StartResponse, status_line
from bcs.host.listing import serve_listing
from bcs.host.paths import decode_request_path, resolve_below, safe_parts
from bcs.host.routing import GroupRuntime, RoutingTable, UrlEntry
from bcs.host.upload.protocol import UploadTarget, find_reply, handle_bits_post
from bcs.http import bits

__all__ = ["HostApp"]

log = logging.getLogger("bcs.host")

_NOT_ENFORCED = AccessDeniedError().header_value()


def _not_enforced(what: str, why: str) -> Answer:
    return Answer(
        403,
        f"access denied: {what}, which this engine cannot enforce yet; it refuses the request "
        "instead of serving it without that protection",
        why=f"refused:{why}",
        code=_NOT_ENFORCED,
    )


class HostApp:
    """The WSGI application of one listener (one port)."""

    def __init__(self, state: HostState, port: int, stopping: threading.Event, paces_files: bool) -> None:
        self.state = state
        self.port = port
        self.stopping = stopping
        # True when the server's channel paces wsgi.file_wrapper bodies itself (SendfileChannel):
        # then throttled single bodies also leave from the I/O thread, holding no worker thread.
        self.paces_files = paces_files

    # --- WSGI entry ---
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        exchange = Exchange(self.state, environ, time.monotonic())
        try:
            return self._handle(environ, start_response, exchange)
        except Answer as answer:
            exchange.why = answer.why
            return self._error(
                start_response, exchange, answer.status, answer.message, answer.headers, answer.code
            )
        except Exception:
            log.exception("request %s %s failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            if exchange.slot is not None:
                exchange.slot.release()
            return self._error(start_response, exchange, 500, "internal server error")

    def _handle(
        self, environ: dict[str, Any], start_response: StartResponse, exchange: Exchange
    ) -> Iterable[bytes]:
        path = decode_request_path(environ.get("PATH_INFO", ""))
        group, rest, slash = self._route_group(environ, exchange, path)
        self._authenticate(group.runtime)
        reply = find_reply(environ, self.state.uploads, group.runtime, rest, ANONYMOUS)
        if reply is not None:  # an upload-reply's BITS-Reply-URL, its owner's until Close-Session
            return serve_file(environ, start_response, exchange, reply, self.stopping, self.paces_files)
        entry, below = self._route_url(environ, group, rest, slash)
        self._authorize(entry)
        return self._dispatch(environ, start_response, exchange, entry, below, rest)

    # --- the steps ---
    def _route_group(self, environ: dict[str, Any], exchange: Exchange, path: str) -> tuple[Any, str, str]:
        """The URL group of the request (by port, Host header and first segment); counts the request.

        Returns:
            (the group's routes for ``find_url``, the path below the group, "/" or "" after it).
        """
        segment, slash, rest = path[1:].partition("/")
        host = environ.get("HTTP_HOST", "").lower()
        # "[::1]:8080" -> "[::1]", "Name.:8080" -> "name"
        host = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0].rstrip(".")
        group, host_known = self.state.table.find_group(self.port, host, segment.lower())
        if group is None:
            raise Answer(404 if host_known else 400, "not found" if host_known else "invalid host name")
        runtime = group.runtime
        exchange.group = runtime
        counters = runtime.counters
        with counters.lock:
            counters.requests += 1
        return group, rest, slash

    @staticmethod
    def _authenticate(runtime: GroupRuntime) -> None:
        """Who is asking: no scheme is enforced yet, so a group that requires one refuses (fail closed)."""
        if runtime.config.authentication:
            raise _not_enforced(
                f"this URL group requires {'/'.join(runtime.config.authentication)} authentication",
                "authentication-not-enforced",
            )

    @staticmethod
    def _route_url(environ: dict[str, Any], group: Any, rest: str, slash: str) -> tuple[UrlEntry, str]:
        """The URL of the group serving the request, and the path below it (GET, HEAD, BITS_POST)."""
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD", bits.BITS_POST):
            allow = "GET, HEAD, BITS_POST" if group.runtime.config.upload_enabled else "GET, HEAD"
            raise Answer(405, "method not allowed", [("Allow", allow)])
        if not slash:
            raise Answer(404, "not found")
        entry, below = RoutingTable.find_url(group, rest)
        if entry is None:
            raise Answer(404, "not found")
        return entry, below

    @staticmethod
    def _authorize(entry: UrlEntry) -> None:
        """May the caller have this URL: an SDDL cannot be checked yet, so it refuses (fail closed).

        Once SDDLs are enforced, a BITS_POST needs write access to the URL (read for GET/HEAD).
        """
        if entry.sddl:
            raise _not_enforced("this URL is restricted by an SDDL", "sddl-not-enforced")

    def _dispatch(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        exchange: Exchange,
        entry: UrlEntry,
        below: str,
        rest: str,
    ) -> Iterable[bytes]:
        """A file URL serves its file; a directory URL a file, a listing or a redirect below it."""
        if environ["REQUEST_METHOD"] == bits.BITS_POST:
            return self._upload(environ, start_response, exchange, entry, below)
        if not entry.is_directory:
            if below:
                raise Answer(404, "not found")
            return serve_file(
                environ, start_response, exchange, entry.source, self.stopping, self.paces_files
            )
        target = resolve_below(entry.source, safe_parts(below), environ.get("PATH_INFO", ""))
        if os.path.isdir(target):
            if not entry.group.config.directory_listing:
                raise Answer(404, "not found (directory listing is disabled)")
            if not rest.endswith("/"):
                location = quote(environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8") + "/")
                raise Answer(301, "moved", [("Location", location)])
            return serve_listing(environ, start_response, exchange, target)
        return serve_file(environ, start_response, exchange, target, self.stopping, self.paces_files)

    def _upload(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        exchange: Exchange,
        entry: UrlEntry,
        below: str,
    ) -> Iterable[bytes]:
        """A BITS_POST: its destination is a file below a directory URL (a new name is allowed)."""
        shown = environ.get("PATH_INFO", "")
        url = shown.encode("latin-1").decode("utf-8", "replace")
        if not entry.is_directory:
            target = UploadTarget(entry.group, None, url, "uploads go to names below a directory URL")
        else:
            destination = resolve_below(entry.source, safe_parts(below), shown)
            target = UploadTarget(entry.group, destination, url)
        # The principal of _authenticate once authentication is enforced; until then every
        # client is anonymous (and all anonymous clients are one user for the session limit).
        return handle_bits_post(
            environ, start_response, exchange, self.state.uploads, target, ANONYMOUS, self.stopping
        )

    # --- the answer of a refused or failed request ---
    @staticmethod
    def _error(
        start_response: StartResponse,
        exchange: Exchange,
        status: int,
        message: str,
        extra: Headers | None = None,
        code: str = "",
    ) -> list[bytes]:
        method = exchange.environ["REQUEST_METHOD"]
        error = [(bits.ERROR_CODE, code or HttpStatusError(status).header_value())]
        if not any(name == bits.ERROR_CONTEXT for name, _ in extra or ()):  # else 0x7: an application's
            error.append((bits.ERROR_CONTEXT, bits.ERROR_CONTEXT_REMOTE_FILE))
        headers: Headers
        if method == bits.BITS_POST:  # an Ack: no body (bits-protocol.md 2.1)
            body = b""
            headers = [("Pragma", "no-cache"), (bits.PACKET_TYPE, "Ack"), ("Content-Length", "0"), *error]
        else:
            body = (message + "\n").encode("utf-8") if method != "HEAD" else b""
            length = len(message) + 1
            headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(length)), *error]
        if extra:
            headers.extend(extra)
        exchange.status = status
        start_response(status_line(status), headers)
        exchange.finish(len(body))
        return [body] if body else []
