"""One request and its answer, as every step of the file host sees it.

Owns ``Exchange`` (the record of one request: its status, who asked, the connection-limit slot it
holds, the bytes it sent and the access-log line written when it ends), ``Answer`` (an error answer
raised from any step, which the app turns into the response), the status lines, and
``HostState``, what the exchanges of every listener read (routing table, server bucket, access log).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bcs.auth.negotiate import NegotiateAcceptor
from bcs.auth.principal import ANONYMOUS, Principal
from bcs.auth.schemes import Authenticator
from bcs.auth.sids import SidResolver
from bcs.host.digests import DigestStore

if TYPE_CHECKING:
    from bcs.bandwidth import TokenBucket
    from bcs.host.accesslog import AccessLog
    from bcs.host.limits import Slot
    from bcs.host.routing import GroupRuntime, RoutingTable
    from bcs.host.upload.store import UploadStore

__all__ = ["Answer", "Exchange", "Headers", "HostState", "StartResponse", "status_line"]

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
    409: "Conflict",
    413: "Content Too Large",
    416: "Range Not Satisfiable",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


def status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Unknown')}"


class HostState:
    """What the apps of all listeners share: the routing table, the server bucket, logging, and
    the authentication step with its connection-bound handshakes."""

    def __init__(self, table: RoutingTable, server_bucket: TokenBucket) -> None:
        self.table = table
        self.server_bucket = server_bucket
        self.access_log: AccessLog | None = None  # None: access log turned off
        self.authenticator = Authenticator(NegotiateAcceptor())
        # Names to SIDs (a directory or a principals map), or None when neither is configured.
        self.resolver: SidResolver | None = None
        # Called by the listeners with a connection's ``environ["bcs.connection"]`` once it has
        # closed (from an I/O or worker thread), so per-connection state can be dropped.
        self.connection_closed: Callable[[Any], None] | None = self.authenticator.acceptor.forget
        self.uploads: UploadStore | None = None  # BITS upload sessions (None: no state directory)
        self.digests = DigestStore(None)  # pinned SHA-256 of files of URLs with sha256 (replaced at start)


class Answer(Exception):
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


class Exchange:
    """Book-keeping of one request: counters, the connection-limit slot and the access-log line.

    ``finish`` ends it once, whoever calls it first (the app for short answers, the file or the
    body when waitress closes it): it gives the slot back, counts the bytes and logs the line.
    """

    __slots__ = (
        "_done",
        "environ",
        "group",
        "principal",
        "slot",
        "started",
        "state",
        "status",
        "user",
        "why",
    )

    def __init__(self, state: HostState, environ: dict[str, Any], started: float) -> None:
        self.state = state
        self.environ = environ
        self.started = started
        self.group: GroupRuntime | None = None
        self.slot: Slot | None = None  # a place under the group's connection limit, while sending
        self.status = 0
        self.why = ""  # why a request was refused, for the access log (only where the status is not enough)
        self.principal: Principal = ANONYMOUS  # who asked, once authenticated; what authorization reads
        self.user = ""  # the access log's user: the principal's name, or whom refused credentials named
        self._done = False

    def finish(self, nbytes: int) -> None:
        if self._done:
            return
        self._done = True
        if self.slot is not None:
            self.slot.release()
        group = self.group
        if group is not None and (nbytes or self.status >= 400):
            counters = group.counters
            with counters.lock:
                counters.bytes_sent += nbytes
                if self.status >= 500:
                    counters.server_errors += 1
                elif self.status >= 400:
                    counters.client_errors += 1
        access = self.state.access_log
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
                    self.user,
                    self.why,
                )
            )
