"""File bodies on their own I/O loop: a wake-up does a ``sendfile`` and nothing else.

waitress's I/O loop rebuilds its poll set from every channel's ``readable()``/``writable()`` on
each wake-up. A file body going to a slow client wakes the loop every time the socket buffer
drains a little, so the engine paid about 90 us of Python per wake-up where nginx pays a few:
at 8 clients of 12 MiB/s the engine used 1.3-1.44x nginx's CPU per GiB (bench/bench_host.py,
``paced`` workload). Here a body that does not leave in one go moves to the listener's ``Pump``:
one persistent epoll set (``selectors`` elsewhere), one ``sendfile`` per writable event, pacing by the
bandwidth buckets, and back to waitress's channel when it is done.

Ownership is simple: a ``FileBody`` belongs either to its channel (waitress's I/O thread, or a
worker holding the channel's ``outbuf_lock``) or to the pump, never both. The pump touches only
the body and the channel's ``last_activity``; when the body ends it sets ``returned`` last and calls
the channel's ``pump_returned``, which has waitress's loop settle the counts in the channel
(``SendfileChannel``).
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import select
import selectors
import socket
import struct
import threading
import time
from typing import Any

from waitress.wasyncore import _DISCONNECTED

from bcs import tunables
from bcs.bandwidth import Paced, as_paced

__all__ = ["DONE", "PAUSED", "WAIT", "EpollPoller", "FileBody", "Poller", "Pump", "SelectorPoller"]

log = logging.getLogger("bcs.host")

_SENDFILE = getattr(os, "sendfile", None)

# What one sending round ended with.
WAIT = 0  # the socket buffer is full: go on when it is writable
PAUSED = 1  # the bandwidth buckets are empty: go on at ``paused_until``
DONE = 2  # the body has ended: ``outcome`` says how

# How a body ended.
SENT = "sent"  # every byte left
SHRANK = "shrank"  # the file got shorter than the response promised: the connection must close
DISCONNECTED = "disconnected"  # the client went away
FAILED = "failed"  # another error (``error``), raised in the channel: waitress logs it and closes
STALLED = "stalled"  # the client took the body slower than the minimum send rate
STOPPED = "stopped"  # the listener stopped


class FileBody:
    """One ``wsgi.file_wrapper`` body on its way out: where it is and how much is left.

    The file position is not moved while the body is sent (``sendfile`` takes the offset);
    ``settle`` writes it back, because the transfer's byte count is read from it when the file
    closes.
    """

    __slots__ = (
        "channel",
        "error",
        "fd",
        "fh",
        "in_pump",
        "offset",
        "outbuf",
        "outcome",
        "paced",
        "paused_until",
        "rate_bytes",
        "rate_since",
        "remain",
        "returned",
        "sent",
        "sock",
        "sockfd",
        "throttled",
    )

    def __init__(self, channel: Any, outbuf: Any) -> None:
        fh = outbuf.file
        self.channel = channel
        self.outbuf = outbuf
        self.sock: socket.socket = channel.socket
        self.sockfd = self.sock.fileno()
        self.fh = fh
        fd = -1
        if _SENDFILE is not None:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                fd = fh.fileno()
        self.fd = fd
        self.offset: int = fh.tell()
        self.remain: int = outbuf.remain
        self.sent = 0  # bytes sent and not yet settled with the channel
        self.paced: Paced | None = as_paced(fh)  # None: a body without bandwidth buckets
        self.paused_until = 0.0
        self.rate_since = 0.0  # start of the send-rate window (the pump's clock)
        self.rate_bytes = 0  # bytes the client had taken at ``rate_since``
        self.throttled = False  # paused by a bandwidth bucket in this window: not the client's fault
        self.outcome = ""
        self.error: Exception | None = None
        self.in_pump = False  # owned by the pump until ``returned``
        self.returned = False

    def send(self) -> int:
        """Send as far as the socket and the bandwidth buckets allow: ``WAIT``, ``PAUSED`` or ``DONE``."""
        paced = self.paced
        while self.remain > 0:
            want = min(self.remain, tunables.SENDFILE_CHUNK)
            now = time.monotonic()
            if paced is not None:
                room = paced.allowance(now)
                if room is not None:
                    if room < 1:
                        self.paused_until = now + tunables.PACE_TICK
                        return PAUSED
                    want = min(want, int(room))
            try:
                if self.fd >= 0:
                    assert _SENDFILE is not None
                    n = _SENDFILE(self.sockfd, self.fd, self.offset, want)
                else:
                    n = self._read_and_send(want)
            except (BlockingIOError, InterruptedError):
                return WAIT
            except OSError as exc:  # the peer gone (waitress's own list) or another error
                self.outcome = DISCONNECTED if exc.errno in _DISCONNECTED else FAILED
                self.error = exc
                return DONE
            if n == 0:
                self.outcome = SHRANK
                return DONE
            self.offset += n
            self.remain -= n
            self.sent += n
            if paced is not None:
                paced.consumed(n, now)
            # A short send means the socket buffer is full: wait for the next writable event
            # instead of asking again for an EAGAIN (as nginx does).
            if n < want:
                return WAIT
        self.outcome = SENT
        return DONE

    def _read_and_send(self, want: int) -> int:
        """No sendfile (Windows) or not a real file: read, then send what the socket takes."""
        fh = self.fh
        fh.seek(self.offset)
        data = fh.read(min(want, tunables.READ_CHUNK))
        if not data:
            return 0
        return int(self.sock.send(data))

    def settle(self) -> int:
        """Bytes sent since the last settle; puts the file position where the body is."""
        n, self.sent = self.sent, 0
        if not self.fh.closed:
            self.fh.seek(self.offset)
        return n


class SelectorPoller:
    """Write readiness of the bodies' sockets through ``selectors`` (kqueue, select: not Linux)."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()

    def add(self, fd: int, body: FileBody | None) -> None:
        """Watch ``fd``: for writing with a body, for reading (the wake-up socket) with None."""
        self._selector.register(fd, selectors.EVENT_WRITE if body is not None else selectors.EVENT_READ, body)

    def remove(self, fd: int) -> None:
        self._selector.unregister(fd)

    def wait(self, timeout: float | None) -> list[FileBody | None]:
        return [key.data for key, _ in self._selector.select(timeout)]

    def close(self) -> None:
        self._selector.close()


class EpollPoller:
    """The same on a bare ``select.epoll`` (Linux): half the Python per wake-up of ``selectors``.

    A ready poll measured 1.5 us against 2.9 us for ``selectors``, more with cold caches after a
    big ``sendfile``; at 8 clients of 12 MiB/s the engine's CPU per GiB was 1.12-1.19x nginx's in
    two runs against 1.21-1.29x with ``selectors`` (bench/bench_host.py, 5 rounds each).
    """

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._bodies: dict[int, FileBody | None] = {}

    def add(self, fd: int, body: FileBody | None) -> None:
        self._epoll.register(fd, select.EPOLLOUT if body is not None else select.EPOLLIN)
        self._bodies[fd] = body

    def remove(self, fd: int) -> None:
        self._epoll.unregister(fd)
        del self._bodies[fd]

    def wait(self, timeout: float | None) -> list[FileBody | None]:
        get = self._bodies.get
        events = self._epoll.poll(-1 if timeout is None else timeout, len(self._bodies))
        return [get(fd) for fd, _ in events]

    def close(self) -> None:
        self._epoll.close()


Poller = EpollPoller if hasattr(select, "epoll") else SelectorPoller

try:
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ  # SIOCOUTQ on a TCP socket
except (ImportError, AttributeError):  # Windows; elsewhere the ioctl may fail: unsent() says 0
    _OUTQ = None


def unsent(fd: int) -> int:
    """Bytes in a socket's send queue that the peer has not acknowledged yet (0 where unknown).

    With a 4 MiB send buffer, what ``sendfile`` hands to the kernel says little about what the
    client takes: a client reading 1 KB/s sees a big ``sendfile`` every hour or so. What left the
    queue is what the client took.
    """
    if _OUTQ is None:
        return 0
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, _OUTQ, b"\0\0\0\0"))[0])
    except OSError:
        return 0


class Pump:
    """The loop that sends a listener's long file bodies: one thread, one selector.

    It sleeps in ``select`` without a timeout while it holds no body, so an idle listener costs
    nothing. A body whose client takes less than ``min_rate`` bytes/s (at least one byte) over a
    ``window`` of seconds ends ``STALLED``, and its channel closes: a client that stops reading
    gives its transfer slot back (HTTP.SYS MinSendRate). Windows in which a bandwidth bucket paused
    the body are not judged: then the server, not the client, set the pace. The rate is checked
    by a sweep every quarter window, not per ``sendfile``.
    """

    def __init__(
        self,
        name: str,
        window: float = tunables.SEND_RATE_WINDOW,
        min_rate: float = tunables.MIN_SEND_RATE,
        poller: type[SelectorPoller | EpollPoller] = Poller,
    ) -> None:
        self.name = name
        self.window = window
        self.min_rate = min_rate
        self._poller = poller()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._poller.add(self._wake_r.fileno(), None)
        self._lock = threading.Lock()
        self._incoming: list[FileBody] = []
        self._bodies: set[FileBody] = set()
        self._paused: list[tuple[float, int, FileBody]] = []  # heap of (resume at, tie, body)
        self._tie = 0
        self._running = True
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def add(self, body: FileBody) -> None:
        """Take ``body`` over (from its channel's thread); it comes back through ``returned``."""
        body.in_pump = True
        with self._lock:
            first = not self._incoming
            self._incoming.append(body)
        if first:
            self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"x")

    def stop(self, timeout: float = tunables.STOP_TIMEOUT) -> None:
        """End the loop; bodies still held are settled (``STOPPED``) but not returned to waitress."""
        self._running = False
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            held = list(self._bodies) + self._incoming
            self._incoming = []
        for body in held:
            body.outcome = STOPPED
            # The listener closes the channels next: their files record the bytes that left.
            with contextlib.suppress(OSError, ValueError):
                body.settle()
        self._bodies.clear()
        with contextlib.suppress(OSError):
            self._poller.close()
        self._wake_r.close()
        self._wake_w.close()

    def __len__(self) -> int:
        return len(self._bodies)

    def _run(self) -> None:
        wait = self._poller.wait
        next_sweep = 0.0
        while self._running:
            timeout: float | None = None
            now = time.monotonic()
            if self._bodies:
                if not next_sweep:
                    next_sweep = now + self._sweep_interval()
                timeout = next_sweep - now
                if self._paused:
                    timeout = min(timeout, self._paused[0][0] - now)
                timeout = max(0.0, timeout)
            else:
                next_sweep = 0.0
            try:
                for body in wait(timeout):
                    if body is None:
                        self._take_incoming()
                    else:
                        self._go_on(body, watched=True)
                if self._paused:
                    self._resume_due()
                if next_sweep and time.monotonic() >= next_sweep:
                    next_sweep = 0.0
                    self._sweep()
            except Exception:
                log.exception("%s: file body loop error", self.name)

    def _sweep_interval(self) -> float:
        return tunables.sweep_interval(self.window)

    def _take_incoming(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_r.recv(4096)
        with self._lock:
            incoming, self._incoming = self._incoming, []
        for body in incoming:
            self._bodies.add(body)
            body.rate_since = time.monotonic()
            body.rate_bytes = body.offset - unsent(body.sockfd)
            body.throttled = False
            if body.paused_until:
                self._pause(body)
            else:
                self._watch(body)

    def _watch(self, body: FileBody) -> None:
        try:
            self._poller.add(body.sockfd, body)
        except (KeyError, ValueError, OSError) as exc:
            body.outcome = DISCONNECTED if isinstance(exc, OSError) else FAILED
            body.error = exc
            self._return(body, registered=False)

    def _pause(self, body: FileBody) -> None:
        body.throttled = True
        self._tie += 1
        heapq.heappush(self._paused, (body.paused_until, self._tie, body))

    @staticmethod
    def _send(body: FileBody) -> int:
        try:
            return body.send()
        except Exception as exc:  # a bug must end this body, not spin the loop on it
            body.outcome = FAILED
            body.error = exc
            return DONE

    def _go_on(self, body: FileBody, watched: bool) -> None:
        """One sending round, then where ``body`` waits next: its socket, its buckets or its channel.

        ``watched``: the body's socket is in the poller (it was writable), else it was paused.
        """
        step = self._send(body)
        if step == WAIT:
            if not watched:
                self._watch(body)
            return
        if watched:
            self._poller.remove(body.sockfd)
        if step == PAUSED:
            self._pause(body)
        else:
            self._return(body, registered=False)

    def _resume_due(self) -> None:
        now = time.monotonic()
        paused = self._paused
        while paused and paused[0][0] <= now:
            body = heapq.heappop(paused)[2]
            body.paused_until = 0.0  # non-zero exactly while the body is in the heap
            self._go_on(body, watched=False)

    def _sweep(self) -> None:
        """End bodies whose client took less than ``min_rate`` over the last ``window``."""
        now = time.monotonic()
        wall = time.time()
        window = self.window
        for body in list(self._bodies):
            elapsed = now - body.rate_since
            if elapsed >= window:
                taken = body.offset - unsent(body.sockfd)
                slow = not body.throttled and taken - body.rate_bytes < max(1.0, self.min_rate * elapsed)
                body.rate_since, body.rate_bytes, body.throttled = now, taken, False
            else:
                slow = False
            if slow:
                body.outcome = STALLED
                paused = bool(body.paused_until)
                if paused:
                    self._paused = [entry for entry in self._paused if entry[2] is not body]
                    heapq.heapify(self._paused)
                self._return(body, registered=not paused)
            else:
                # The listener's idle timeout counts from the channel's last activity: this one is busy.
                body.channel.last_activity = wall

    def _return(self, body: FileBody, registered: bool) -> None:
        if registered:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._poller.remove(body.sockfd)
        self._bodies.discard(body)
        body.returned = True  # last: the channel reads the body only after this
        try:
            body.channel.pump_returned()
        except Exception:
            log.exception("%s: handing a body back failed", self.name)
