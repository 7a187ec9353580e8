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

Authenticate: ``bcs.auth.schemes`` turns the request and its group's ``authentication`` list into
a ``Principal`` (anonymous without a list), kept on the ``Exchange`` for authorize and the access
log's user field. A request without credentials, or a handshake leg, is answered 401 with the
``WWW-Authenticate`` values it gives; refused credentials get 401 with fresh challenges, a client
certificate that does not serve gets 403 with ``BITS-Error-Code: 0x80070005`` (E_ACCESSDENIED); the
reason goes to the access log only (``refused:<reason>``).

Authorize: the URL's SDDL (or the empty-SDDL rule) against the principal's SIDs
(``bcs.auth.access``); SIDs come from the engine's resolver (a directory or a principals map,
``bcs.auth.sids``). Fail closed: an authenticated caller whose SIDs are unknown is refused (403),
a directory that cannot be asked gives 503 + ``Retry-After``; never the file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from bcs import casing
from bcs.auth.access import desired_access, url_rule
from bcs.auth.principal import Principal
from bcs.auth.schemes import Challenge, Refused
from bcs.errors import AccessDeniedError, DirectoryUnavailableError, HttpStatusError
from bcs.host.download import serve_file
from bcs.host.exchange import Answer, Exchange, Headers, HostState, StartResponse, status_line
from bcs.host.listing import serve_listing
from bcs.host.paths import decode_request_path, resolve_below, safe_parts
from bcs.host.routing import GroupRuntime, RoutingTable, UrlEntry
from bcs.host.upload.protocol import UploadTarget, find_reply, handle_bits_post
from bcs.http import bits

__all__ = ["HostApp"]

log = logging.getLogger("bcs.host")

_ACCESS_DENIED = AccessDeniedError().header_value()


def _with_header(start_response: StartResponse, header: tuple[str, str]) -> StartResponse:
    """``start_response`` adding ``header`` to the answer."""

    def start(status: str, headers: Headers, exc_info: Any = None) -> Any:
        return start_response(status, [*headers, header], exc_info)

    return start


def _denied(message: str, why: str) -> Answer:
    return Answer(403, f"access denied: {message}", why=f"refused:{why}", code=_ACCESS_DENIED)


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
        principal, last_token = self._authenticate(environ, exchange, group.runtime)
        reply = find_reply(environ, self.state.uploads, group.runtime, rest, principal)
        if reply is not None:  # an upload-reply's BITS-Reply-URL, its owner's until Close-Session
            return serve_file(environ, start_response, exchange, reply, self.stopping, self.paces_files)
        entry, below = self._route_url(environ, group, rest, slash)
        self._authorize(environ, entry, principal)
        if last_token is not None:  # Kerberos mutual authentication: the acceptor's last token
            start_response = _with_header(start_response, ("WWW-Authenticate", last_token))
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

    def _authenticate(
        self, environ: dict[str, Any], exchange: Exchange, runtime: GroupRuntime
    ) -> tuple[Principal, str | None]:
        """Who is asking, by the group's schemes (``bcs.auth.schemes``); kept on the exchange.

        Returns:
            (the principal, a ``WWW-Authenticate`` value for the answer or None).
        """
        try:
            principal, last_token = self.state.authenticator.authenticate(
                environ, runtime.config.authentication
            )
        except Challenge as challenge:
            raise Answer(
                401,
                "authentication required",
                [("WWW-Authenticate", value) for value in challenge.values],
                why=f"refused:{challenge.reason}" if challenge.reason else "",
            ) from None
        except Refused as refused:
            exchange.user = refused.name
            raise _denied(refused.message, refused.reason) from None
        exchange.principal = principal
        exchange.user = principal.name
        return principal, last_token

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

    def _authorize(self, environ: dict[str, Any], entry: UrlEntry, principal: Principal) -> None:
        """May ``principal`` have this URL: its SDDL against the principal's SIDs (``bcs.auth.access``).

        A URL without an SDDL admits whoever authenticate admitted (any authenticated user, or
        everyone when the group has no scheme), except that with an Active Directory configured
        the directory is asked about the account there too: a disabled, removed or unknown account
        is no authenticated user (403), and an unreachable directory leaves it undecided (503), as
        for a URL with an SDDL. An authenticated principal whose SIDs cannot be found (no directory
        or principals map knows it, or the directory is unreachable) is refused for a URL with an
        SDDL: a deny ACE naming it or one of its groups could not be honoured.
        """
        resolver = self.state.resolver
        if not entry.sddl and not (
            principal.authenticated and resolver is not None and resolver.has_directory
        ):
            return
        desired = desired_access(environ["REQUEST_METHOD"])
        if desired is None:
            return  # a method no URL serves; routing answers it
        group_authenticates = bool(entry.group.config.authentication)
        # no SDDL: D:(A;;FA;;;AU) in a group that authenticates (bcs.auth.access.url_rule)
        rule = url_rule(entry.sddl, group_authenticates=group_authenticates)
        if resolver is not None:
            try:
                if not principal.sids:
                    principal = resolver.resolve(principal)
                if rule.unresolved:  # domain aliases (DA, DU, ...): the domain's SID completes them
                    rule = url_rule(
                        entry.sddl, group_authenticates=group_authenticates, domain_sid=resolver.domain_sid()
                    )
            except DirectoryUnavailableError as exc:
                log.warning("access to %s undecided: %s", entry.suffix, exc.message)
                raise Answer(
                    503,
                    "the directory that decides access cannot be reached; try again later",
                    [("Retry-After", str(exc.retry_after))],
                    why="refused:directory-unavailable",
                    code=exc.header_value(),
                ) from None
            except AccessDeniedError as exc:
                raise _denied(
                    "access denied", casing.kebab_case(exc.reason or "PrincipalRefused").lstrip("-")
                ) from None
        if not principal.sids:
            raise _denied("access denied", "principal-not-resolved")
        if not rule.allows(principal.sids, desired):
            log.debug(
                "%s denied %s: %s",
                principal.name or "anonymous",
                entry.suffix,
                rule.explain(principal.sids, desired),
            )
            raise _denied("access denied", "sddl-denied")

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
                environ,
                start_response,
                exchange,
                entry.source,
                self.stopping,
                self.paces_files,
                self.state.digests if entry.sha256 else None,
            )
        target = resolve_below(entry.source, safe_parts(below), environ.get("PATH_INFO", ""))
        if os.path.isdir(target):
            if not entry.group.config.directory_listing:
                raise Answer(404, "not found (directory listing is disabled)")
            if not rest.endswith("/"):
                location = quote(environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8") + "/")
                raise Answer(301, "moved", [("Location", location)])
            return serve_listing(environ, start_response, exchange, target)
        return serve_file(
            environ,
            start_response,
            exchange,
            target,
            self.stopping,
            self.paces_files,
            self.state.digests if entry.sha256 else None,
        )

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
        # The principal of _authenticate: its name is the user of the per-user session limit
        # (all anonymous clients are one user); authorize has checked write access (BITS_POST).
        return handle_bits_post(
            environ, start_response, exchange, self.state.uploads, target, exchange.principal, self.stopping
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
