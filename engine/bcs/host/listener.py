"""Listeners: one per port, started and stopped live as URL groups come and go.

Plain HTTP runs on waitress (design.md, measured decision). The socket is bound by
``bind_port`` *before* the configuration change is accepted, so a port in use vetoes the change
with a clear error instead of failing later in a thread. Both stacks bind dual-stack ``[::]`` when
the system has IPv6 (``0.0.0.0`` otherwise): HTTP.SYS listens on every address and routes by the
Host header, and so do we.

HTTPS (cheroot with the builtin TLS adapter) plugs in as another ``Listener`` subclass with the
same WSGI app; ``make_listener`` is the seam.

Connections (both stacks): each client connection is a ``Connection``, put in the WSGI environ of
its every request as ``environ["bcs.connection"]``, so per-connection state (NTLM and Negotiate
handshakes, ``bcs.auth.negotiate``) can be keyed by it; when it closes, the listener marks it
``closed`` and calls ``HostState.connection_closed`` with it. Both cost nothing per request beyond
one dict entry: the object is made once per connection.

Hostile clients (issue #11), one rule each, all in ``HostServer`` and ``SendfileChannel``:

* A client address holds at most ``CONNECTIONS_PER_ADDRESS`` connections of a port; more are
  reset at accept, before waitress builds a channel for them. So one address cannot take
  waitress's ``connection_limit`` (``MAX_CONNECTIONS``) from the others; and when many addresses
  fill it, the longest-idle connections waiting for a request make room (``DRAIN_IDLE``).
* The request head must arrive within ``HEADER_TIMEOUT`` of accept (first request) or of its
  first byte, whatever the byte rate (slowloris); a keep-alive connection may wait
  ``IDLE_TIMEOUT`` for its next request. A sweep closes the others, every quarter of the shortest
  timeout and only while the listener has connections: an idle engine does not wake up.
* A response must leave at ``MIN_SEND_RATE`` over ``SEND_RATE_WINDOW`` once only the client can
  hold it up (file bodies: in the pump; other output: once the worker waits for the client).
* Bare CR or LF in a request head gets 400 at once. waitress refuses them too, but only when the
  head ends with CRLF CRLF, which such a client never sends: it waited for the timeout. RFC 9112
  allows accepting a bare LF; we do not, as waitress does not for complete heads: one reading of
  line ends, so nothing behind a proxy that reads them otherwise can smuggle a request.
* A Content-Length too long for ``int()`` gets 400 (waitress dropped the connection).

BITS uploads: waitress reads a whole request body before the app runs, in memory up to
``inbuf_overflow`` (512 KiB) and in a temporary file beyond, so memory stays flat whatever the
fragment size. A Fragment that starts at its session's next offset is written once instead:
when its head is complete, ``HostRequestParser`` makes its body buffer a ``DirectBody``
(``bcs.host.upload.direct``), which writes each piece at its offset in the staging file as it
arrives; the app then only validates and counts it. Other bodies are spooled by waitress and
copied by the app. A connection closed mid-body closes its request here (``del_channel``), so
the session's claim ends with it. A ``BITS_POST`` whose
Content-Length exceeds ``UPLOAD_MAX_FRAGMENT`` is answered 413 as an Ack as soon as its head is
read (the client sends smaller fragments), before any of its body is stored. waitress writes
header names as ``Bits-Packet-Type``; ``HostTask`` gives the BITS headers back the spelling
Windows uses (``BITS-Packet-Type``), for peers that compare names case-sensitively.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import logging
import re
import socket
import struct
import sys
import threading
import time
from typing import Any

from waitress.adjustments import Adjustments
from waitress.buffers import ReadOnlyFileBasedBuffer
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask
from waitress.utilities import BadRequest, Error
from waitress.wasyncore import loop

from bcs import tunables
from bcs.errors import E_NOTIMPL, BcsError, BusyError, HttpStatusError
from bcs.host.app import HostApp
from bcs.host.exchange import HostState
from bcs.host.pump import DISCONNECTED, DONE, SENT, SHRANK, STALLED, FileBody, Pump, unsent
from bcs.host.upload.direct import open_direct
from bcs.http import bits

__all__ = [
    "Connection",
    "HostRequestParser",
    "HostServer",
    "Listener",
    "WaitressListener",
    "bind_port",
    "make_listener",
    "raise_open_files",
    "send_buffer_size",
]

log = logging.getLogger("bcs.host")

# A CR not followed by LF, or an LF without its CR (RFC 9112 section 2.2).
_BARE_LINE_END = re.compile(rb"\r(?=[^\n])|(?<!\r)\n")
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close with RST, no TIME_WAIT kept
_connection_numbers = itertools.count(1)


class Connection:
    """One client connection, as ``environ["bcs.connection"]`` shows it to the app and the authenticators.

    Hashable by identity and never reused (unlike a socket number or a client port), so state kept
    for it cannot pass to a later connection. ``closed`` turns true when the connection closes,
    before ``HostState.connection_closed`` is called with it.
    """

    __slots__ = ("closed", "number")

    def __init__(self) -> None:
        self.number = next(_connection_numbers)  # for logs
        self.closed = False

    def __repr__(self) -> str:
        return f"<connection {self.number}{' closed' if self.closed else ''}>"

    def end(self, state: HostState | None) -> None:
        """The connection has closed: mark it and tell ``state.connection_closed`` (once)."""
        if self.closed:
            return
        self.closed = True
        hook = state.connection_closed if state is not None else None
        if hook is not None:
            try:
                hook(self)
            except Exception:
                log.exception("closing %r: the connection-closed hook failed", self)


class FragmentTooLarge(Error):  # type: ignore[misc]
    """The 413 Ack of a BITS_POST whose body is larger than the server's buffer."""

    code = 413
    reason = "Content Too Large"

    def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        headers = [
            ("Pragma", "no-cache"),
            (bits.PACKET_TYPE, "Ack"),
            (bits.ERROR_CODE, HttpStatusError(413).header_value()),
            (bits.ERROR_CONTEXT, bits.ERROR_CONTEXT_REMOTE_FILE),
        ]
        return f"{self.code} {self.reason}", headers, b""


class HostRequestParser(HTTPRequestParser):  # type: ignore[misc]
    """waitress's parser, answering 400 at once to bare line ends and to absurd Content-Lengths,
    and 413 (an Ack) to a BITS_POST too large for one fragment."""

    completed: bool
    error: Error | None
    fragment_too_large = False
    host_state: HostState | None = None  # set by the channel: where the upload sessions are

    def __init__(self, adj: Any, host_state: HostState | None = None) -> None:
        super().__init__(adj)
        self.host_state = host_state

    def received(self, data: bytes) -> int:
        consumed: int = HTTPRequestParser.received(self, data)
        if self.fragment_too_large and not isinstance(self.error, FragmentTooLarge):
            self.error = FragmentTooLarge(f"a fragment of at most {tunables.UPLOAD_MAX_FRAGMENT} bytes")
            self.completed = True
            return consumed
        if self.completed or self.body_rcv is not None:
            return consumed
        # The head still open: look at what just came (and the byte before it, for a CRLF split
        # between two reads) for the line ends that would keep it open for ever.
        head: bytes = self.header_plus
        if _BARE_LINE_END.search(head, max(0, len(head) - len(data) - 1)):
            HTTPRequestParser.parse_header(self, b"GET / HTTP/1.1\r\n")  # what the error answer needs
            self.error = BadRequest("Bare CR or LF found in HTTP message")
            self.completed = True
        return consumed

    def parse_header(self, header_plus: bytes) -> None:
        try:
            HTTPRequestParser.parse_header(self, header_plus)
        except ValueError as exc:  # int() of thousands of digits
            raise ParsingError("Content-Length is invalid") from exc
        if self.command != bits.BITS_POST:
            return
        if self.content_length > tunables.UPLOAD_MAX_FRAGMENT:
            self.fragment_too_large = True
        elif self.content_length > 0 and self.host_state is not None and not self.chunked:
            # A Fragment at its session's next offset: its body goes straight to the staging file.
            direct = open_direct(self.host_state.uploads, self.headers, self.content_length)
            if direct is not None:
                self.body_rcv.buf = direct


_BITS_NAMES = {name.lower().encode("ascii"): name.encode("ascii") for name in bits.RESPONSE_HEADERS}


def _bits_spelling(head: bytes) -> bytes:
    """A response head with the BITS header names spelled as Windows does (waitress re-cases them)."""
    if b"\r\nBits-" not in head:
        return head
    lines = head.split(b"\r\n")
    for i, line in enumerate(lines):
        name, colon, rest = line.partition(b":")
        proper = _BITS_NAMES.get(name.lower()) if colon else None
        if proper is not None:
            lines[i] = proper + b":" + rest
    return b"\r\n".join(lines)


class HostErrorTask(ErrorTask):  # type: ignore[misc]
    """waitress's error task (400, 413, 431 ...); BITS header names keep their spelling."""

    def build_response_header(self) -> bytes:
        return _bits_spelling(ErrorTask.build_response_header(self))


class HostTask(WSGITask):  # type: ignore[misc]
    """waitress's WSGI task, with the request's ``Connection`` in its environ; BITS header names
    keep their spelling."""

    def build_response_header(self) -> bytes:
        return _bits_spelling(WSGITask.build_response_header(self))

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] | None = self.environ
        if environ is None:  # built once per request, then cached by waitress
            environ = WSGITask.get_environment(self)
            environ["bcs.connection"] = self.channel.connection
        return environ


class SendfileChannel(HTTPChannel):  # type: ignore[misc]
    """waitress's channel, sending file bodies with ``os.sendfile`` (zero copy) and pacing them.

    waitress reads a ``wsgi.file_wrapper`` body into Python bytes and sends those (two copies and
    the GIL per chunk); nginx uses sendfile. Measured on 8 x 1 GiB downloads, sendfile cut the
    engine's CPU per GiB from 0.39 to 0.17 s (bench/bench_host.py). Other buffers go through
    waitress unchanged.

    A file body gets one round here; what does not leave in it (the socket is full, or the
    bandwidth buckets are empty) goes on in the listener's ``Pump`` and comes back when it has
    ended. So a throttled or slow transfer holds no worker thread and costs waitress's loop
    nothing, and a limit set while a transfer runs applies to it at once.
    """

    parser_class: Any = HostRequestParser  # per channel: bound to the listener's HostState
    request: Any  # waitress's parser of the request being read (None between requests)
    task_class = HostTask
    error_task_class = HostErrorTask
    _body: FileBody | None = None  # the file body being sent, here or in the pump
    address_key: str | None = None  # the client address counted in ``HostServer.per_address``
    head_started = 0.0  # when the current request head began (0: no request yet)
    bytes_out = 0  # bytes handed to the socket, for the send-rate window
    rate_since = 0.0  # start of the send-rate window (0: no window open)
    rate_bytes = 0  # what the client had taken at ``rate_since``

    def __init__(self, server: Any, sock: socket.socket, addr: Any, adj: Any, map: Any = None) -> None:
        self.connection = Connection()
        self.parser_class = functools.partial(
            HostRequestParser, host_state=getattr(server, "host_state", None)
        )
        super().__init__(server, sock, addr, adj, map)

    def received(self, data: bytes) -> bool:
        if self.request is None:
            # The first head counts from accept (nginx's client_header_timeout), later ones from
            # their first byte (handle_read has just set last_activity).
            self.head_started = self.last_activity if self.head_started else self.creation_time
        return bool(super().received(data))

    def del_channel(self, map: Any = None) -> None:
        request = self.request
        if request is not None and not request.completed:
            # A body cut short: waitress leaves it to the garbage collector; a direct fragment
            # body must end its claim on the session now.
            self.request = None
            with contextlib.suppress(Exception):
                request.close()
        key = self.address_key
        if key is not None:
            self.address_key = None
            self.server.forget_address(key)
        super().del_channel(map)
        self.connection.end(self.server.host_state)

    def writable(self) -> bool:
        body = self._body
        if body is not None and body.in_pump:
            return body.returned  # ended by the pump and not yet taken back (see pump_returned)
        return bool(super().writable())

    def pump_returned(self) -> None:
        """The pump has ended this channel's body (called from the pump's thread).

        waitress's loop takes it back in a trigger thunk rather than on the next writable event:
        the socket of a client that stopped reading never becomes writable again.
        """
        self.server.trigger.pull_trigger(self._take_back)

    def _take_back(self) -> None:
        if self.connected:
            self.handle_write()

    def _flush_some(self, do_close: bool = True) -> bool:
        # waitress's loop over the out buffers, with the file body part for file buffers.
        sent = 0
        while True:
            outbuf = self.outbufs[0]
            outbuflen = outbuf.__len__()
            blocked = False
            if outbuflen > 0 and isinstance(outbuf, ReadOnlyFileBasedBuffer):
                num_sent, blocked = self._send_file(outbuf, do_close)
                sent += num_sent
                outbuflen = outbuf.__len__()
            while outbuflen > 0 and not blocked:
                chunk = outbuf.get(self.sendbuf_len)
                num_sent = self.send(chunk, do_close=do_close)
                if not num_sent:
                    blocked = True
                    break
                outbuf.skip(num_sent, True)
                outbuflen -= num_sent
                sent += num_sent
                self.total_outbufs_len -= num_sent
            if blocked:
                break
            if len(self.outbufs) > 1:
                toclose = self.outbufs.pop(0)
                try:
                    toclose.close()
                except Exception:
                    self.logger.exception("Unexpected error when closing an outbuf")
            else:
                break
        if sent:
            self.last_activity = time.time()
            self.bytes_out += sent
            return True
        return False

    def _send_file(self, outbuf: Any, do_close: bool) -> tuple[int, bool]:
        """Send a file body: one round here, the rest in the pump.

        Returns:
            (bytes sent, blocked): blocked while the body is not finished.
        """
        body = self._body
        if body is not None and body.in_pump and body.outbuf is outbuf:
            if not body.returned:
                return 0, True  # the pump has it (a worker flushing towards its high watermark)
            body.in_pump = body.returned = False
            step = DONE
        else:
            body = self._body = FileBody(self, outbuf)
            step = body.send()
        sent = body.settle()
        if sent:
            outbuf.remain -= sent
            self.total_outbufs_len -= sent
        if step != DONE:
            self.server.pump.add(body)
            return sent, True
        self._body = None
        outcome = body.outcome
        if outcome == SENT:
            return sent, False
        if outcome in (SHRANK, STALLED):
            # End the response short (as waitress would) or give up on a client that reads nothing.
            self.total_outbufs_len -= outbuf.remain
            outbuf.remain = 0
            self.will_close = True
            return sent, outcome == STALLED
        if outcome == DISCONNECTED:
            if do_close:
                self.handle_close()
            return sent, True
        assert body.error is not None
        raise body.error


class HostServer(TcpWSGIServer):  # type: ignore[misc]
    """waitress's TCP server with a cap per client address and the slow-client sweep."""

    channel_class = SendfileChannel

    def __init__(
        self,
        app: Any,
        map: dict[int, Any],
        sock: socket.socket,
        adj: Any,
        threads: int,
        host_state: HostState | None = None,
    ) -> None:
        self.host_state = host_state  # its connection_closed hears of every closed connection
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(threads)
        sockinfo = (sock.family, sock.type, sock.proto, sock.getsockname())
        super().__init__(
            app, map, True, sock, dispatcher=dispatcher, adj=adj, bind_socket=False, sockinfo=sockinfo
        )
        self.per_address: dict[str, int] = {}
        self.address_cap = int(tunables.tuned("CONNECTIONS_PER_ADDRESS", tunables.CONNECTIONS_PER_ADDRESS))
        self.header_timeout = tunables.tuned("HEADER_TIMEOUT", tunables.HEADER_TIMEOUT)
        self.idle_timeout = tunables.tuned("IDLE_TIMEOUT", tunables.IDLE_TIMEOUT)
        self.min_send_rate = tunables.tuned("MIN_SEND_RATE", tunables.MIN_SEND_RATE)
        self.send_rate_window = tunables.tuned("SEND_RATE_WINDOW", tunables.SEND_RATE_WINDOW)
        shortest = min(self.header_timeout, self.idle_timeout, self.send_rate_window)
        self.sweep_interval = tunables.sweep_interval(shortest)
        self.refused = 0  # connections reset at accept (over their address's cap)
        self.drained = 0  # idle connections closed to make room at the connection limit
        self._capped: set[str] = set()  # addresses at their cap, logged once until they drop below
        self._accept_failing = False

    def handle_accept(self) -> None:
        # One accept per wake-up, as waitress (and nginx without multi_accept); after a refused
        # connection go on accepting, so a flood over the cap costs an accept and a close each
        # and does not fill the backlog in front of the others.
        for _ in range(tunables.ACCEPTS_PER_WAKEUP):
            if len(self._map) >= self.adj.connection_limit:
                return
            try:
                accepted = self.accept()
            except OSError as exc:  # EMFILE and the like: logged once, not on every attempt
                if not self._accept_failing:
                    self._accept_failing = True
                    log.warning("http port %s: accept failed: %s", self.effective_port, exc)
                return
            self._accept_failing = False
            if accepted is None:
                return
            conn, addr = accepted
            key = str(addr[0])
            count = self.per_address.get(key, 0)
            if count >= self.address_cap:
                self.refused += 1
                with contextlib.suppress(OSError):
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
                conn.close()
                if key not in self._capped:
                    self._capped.add(key)
                    log.warning(
                        "http port %s: %s has %d connections open, closing more at accept",
                        self.effective_port,
                        key,
                        count,
                    )
                continue
            try:
                self.set_socket_options(conn)
            except OSError:
                conn.close()
                continue
            self.per_address[key] = count + 1
            channel = self.channel_class(self, conn, addr, self.adj, map=self._map)
            channel.address_key = key
            return

    def forget_address(self, key: str) -> None:
        count = self.per_address.get(key, 0) - 1
        if count > 0:
            self.per_address[key] = count
        else:
            self.per_address.pop(key, None)
        self._capped.discard(key)

    def drain_idle(self) -> None:
        """At the connection limit, close the longest-idle connections that wait for a request.

        A client on a fresh address would otherwise wait until a timeout frees a place (nginx does
        the same with its keep-alive connections when it runs out). Connections inside a request
        are left alone: the header deadline bounds those. Called by the listener's loop between
        two polls (closing inside a poll round could hand a stale event to a reused descriptor).
        """
        idle = [
            channel
            for channel in self.active_channels.values()
            if channel.request is None
            and not channel.requests
            and not channel.total_outbufs_len
            and channel._body is None
        ]
        idle.sort(key=lambda channel: channel.last_activity)
        for channel in idle[: tunables.DRAIN_IDLE]:
            channel.handle_close()
        self.drained += min(len(idle), tunables.DRAIN_IDLE)

    def maintenance(self, now: float) -> None:
        """waitress's idle sweep, replaced by ``sweep`` (run by the listener's loop)."""

    def sweep(self, now: float) -> None:
        """Close connections past their header deadline, idle timeout or below the send rate.

        Args:
            now: ``time.time()``, the clock of waitress's ``last_activity``.
        """
        for channel in list(self.active_channels.values()):
            body = channel._body
            if body is not None and body.in_pump:
                channel.rate_since = 0.0  # the pump judges the body's rate
                continue
            if channel.requests or channel.total_outbufs_len:
                self._judge_rate(channel, now)
                continue
            channel.rate_since = 0.0
            request = channel.request
            if request is None:  # between requests, or none yet
                since = channel.last_activity
                limit = self.idle_timeout if channel.head_started else self.header_timeout
            elif not request.headers_finished:
                since, limit = channel.head_started, self.header_timeout
            else:  # a request body on its way
                since, limit = channel.last_activity, self.idle_timeout
            if now - since > limit:
                channel.handle_close()

    def _judge_rate(self, channel: SendfileChannel, now: float) -> None:
        """The send-rate window of a response held in waitress (not a file body in the pump).

        Judged only while the client alone holds it up: the response is all buffered (no task
        running) or its worker waits for the buffer to drain. A paced or slow application
        resets the window.
        """
        if not channel.total_outbufs_len or (
            channel.requests and channel.total_outbufs_len < self.adj.outbuf_high_watermark
        ):
            channel.rate_since = 0.0
            return
        taken = channel.bytes_out - unsent(channel.socket.fileno())
        if not channel.rate_since:
            channel.rate_since, channel.rate_bytes = now, taken
            return
        elapsed = now - channel.rate_since
        if elapsed < self.send_rate_window:
            return
        if taken - channel.rate_bytes < max(1.0, self.min_send_rate * elapsed):
            # Not will_close: that waits for a writable event, which a full socket never gives.
            channel.handle_close()
        else:
            channel.rate_since, channel.rate_bytes = now, taken


def raise_open_files() -> None:
    """Raise the soft limit of open files towards ``OPEN_FILES`` (the hard limit permitting).

    Each connection is a descriptor; at the common soft limit of 1024, about 1000 connections made
    accept() fail with EMFILE for everyone. nginx has worker_rlimit_nofile for the same reason.
    """
    try:
        import resource
    except ImportError:  # Windows: no such limit on sockets
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = tunables.OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, tunables.OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def send_buffer_size() -> int:
    """The ``SO_SNDBUF`` for listening sockets (accepted sockets inherit it), or 0 to leave it alone.

    A Python server pays per wake-up, so file bodies should leave in big steps: a fixed
    ``tunables.SEND_BUFFER`` cut the engine's CPU per GiB by a quarter to a third
    (bench/bench_host.py). It is set only where the system allows that much (``net.core.wmem_max``);
    a smaller fixed buffer would switch off the kernel's autotuning and slow long-distance transfers.
    """
    if not sys.platform.startswith("linux") or tunables.SEND_BUFFER <= 0:
        return 0
    try:
        with open("/proc/sys/net/core/wmem_max", encoding="ascii") as fh:
            allowed = int(fh.read().strip())
    except (OSError, ValueError):
        return 0
    return tunables.SEND_BUFFER if allowed >= tunables.SEND_BUFFER else 0


def bind_port(port: int) -> socket.socket:
    """Bind a listening TCP socket on every address of ``port``.

    Raises:
        BusyError: the port is in use (or not allowed) - names the port.
    """
    sndbuf = send_buffer_size()
    attempts: list[tuple[socket.AddressFamily, str]] = []
    if socket.has_ipv6:
        attempts.append((socket.AF_INET6, "::"))
    attempts.append((socket.AF_INET, "0.0.0.0"))
    last: OSError | None = None
    for family, address in attempts:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if sys.platform == "win32":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined]
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            if sndbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
            sock.bind((address, port))
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
            if exc.errno in (errno.EADDRINUSE, errno.EACCES, getattr(errno, "WSAEADDRINUSE", -1)):
                break
    assert last is not None
    if last.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
        raise BusyError(f"port {port} is already in use by another program", noun="UrlGroup", target=port)
    if last.errno == errno.EACCES:
        raise BusyError(
            f"port {port} cannot be opened: permission denied (ports below 1024 need privileges)",
            noun="UrlGroup",
            target=port,
        )
    raise BusyError(f"port {port} cannot be opened: {last.strerror or last}", noun="UrlGroup", target=port)


class Listener:
    """One port: a server running the port's ``HostApp`` in its own threads."""

    scheme = "http"
    paces_files = False

    def __init__(self, port: int, state: HostState, threads: int) -> None:
        self.port = port
        self.state = state
        self.threads = threads
        self.stopping = threading.Event()
        self.app = HostApp(state, port, self.stopping, paces_files=self.paces_files)

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def set_threads(self, threads: int) -> None:
        self.threads = threads

    def status(self) -> dict[str, Any]:
        return {"port": self.port, "scheme": self.scheme, "threads": self.threads}


class WaitressListener(Listener):
    """Plain HTTP on waitress; bodies from ``wsgi.file_wrapper`` leave from waitress's I/O thread."""

    paces_files = True

    def __init__(self, port: int, state: HostState, threads: int) -> None:
        super().__init__(port, state, threads)
        self._sock: socket.socket | None = bind_port(port)
        self._map: dict[int, Any] = {}
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._pump: Pump | None = None
        self._run = True

    def start(self) -> None:
        sock = self._sock
        assert sock is not None
        raise_open_files()
        adj = Adjustments(
            sockets=[sock],
            threads=self.threads,
            ident="BITS-Compact-Server",
            connection_limit=tunables.MAX_CONNECTIONS,
            recv_bytes=tunables.RECV_BYTES,
            asyncore_use_poll=True,
            expose_tracebacks=False,
        )
        self._server = server = HostServer(self.app, self._map, sock, adj, self.threads, self.state)
        server.pump = self._pump = Pump(
            f"bcs-body-{self.port}", window=server.send_rate_window, min_rate=server.min_send_rate
        )
        self._pump.start()
        self._sock = None  # owned by the server now
        self._thread = threading.Thread(target=self._loop, name=f"bcs-http-{self.port}", daemon=True)
        self._thread.start()
        log.info("listening on http port %d (%d threads)", self.port, self.threads)

    def _loop(self) -> None:
        # Every event wakes the loop itself (sockets, waitress's trigger; throttled bodies wait in
        # the pump). The only timer is the sweep of slow and idle connections, and only while
        # there are connections: a listener without any sleeps until one arrives.
        server = self._server
        interval = server.sweep_interval
        channels = server.active_channels
        connections = self._map
        limit = server.adj.connection_limit
        next_sweep = 0.0
        now = time.monotonic()
        while self._run:
            timeout: float | None = None
            if channels:
                if not next_sweep:
                    next_sweep = now + interval
                timeout = max(0.0, next_sweep - now)
            else:
                next_sweep = 0.0
            try:
                loop(timeout=timeout, map=connections, use_poll=True, count=1)
                if len(connections) >= limit:
                    server.drain_idle()
                now = time.monotonic()
                if next_sweep and now >= next_sweep:
                    next_sweep = 0.0
                    server.sweep(time.time())
            except Exception:
                log.exception("http listener on port %d: I/O loop error", self.port)

    def set_threads(self, threads: int) -> None:
        if threads != self.threads and self._server is not None:
            self._server.task_dispatcher.set_thread_count(threads)
        super().set_threads(threads)

    def stop(self) -> None:
        """Close the port and every connection; running transfers end."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        server = self._server
        if server is None:
            self.stopping.set()
            return
        self._run = False
        with contextlib.suppress(Exception):
            server.trigger.pull_trigger()
        if self._thread is not None:
            self._thread.join(tunables.STOP_TIMEOUT)
        if self._pump is not None:
            # Before the connections close: the pump must not send on a socket number reused.
            self._pump.stop()
        # Connections first: a worker thread still writing a body then gets waitress's
        # ClientDisconnected (logged at INFO) instead of an error on a closed trigger.
        trigger = server.trigger
        for obj in list(self._map.values()):
            with contextlib.suppress(Exception):
                if isinstance(obj, HTTPChannel):
                    obj.handle_close()  # closes its buffers: file bodies end their transfers
                elif obj is not trigger:
                    obj.close()
        self.stopping.set()  # wakes iterated bodies sleeping for their next chunk
        server.task_dispatcher.shutdown(timeout=tunables.STOP_TIMEOUT)
        with contextlib.suppress(Exception):
            trigger.close()
        self._server = None
        log.info("stopped listening on http port %d", self.port)

    def status(self) -> dict[str, Any]:
        out = super().status()
        server = self._server
        out["connections"] = len(server.active_channels) if server is not None else 0
        out["refusedConnections"] = server.refused if server is not None else 0  # over the cap per address
        out["drainedConnections"] = server.drained if server is not None else 0  # idle, closed at the limit
        return out


def make_listener(scheme: str, port: int, state: HostState, threads: int) -> Listener:
    """The plain-HTTP listener on ``port``, its socket bound (not yet serving); https is ``bcs.host.tls``.

    Raises:
        BusyError: the port is in use.
    """
    if scheme != "http":
        raise BcsError(E_NOTIMPL, f"no {scheme} listener here (port {port})", noun="UrlGroup", target=port)
    return WaitressListener(port, state, threads)
