"""Listeners: one per port, started and stopped live as URL groups come and go.

Plain HTTP runs on waitress (design.md, measured decision). The socket is bound by
``bind_port`` *before* the configuration change is accepted, so a port in use vetoes the change
with a clear error instead of failing later in a thread. Both stacks bind dual-stack ``[::]`` when
the system has IPv6 (``0.0.0.0`` otherwise): HTTP.SYS listens on every address and routes by the
Host header, and so do we.

HTTPS (cheroot with the builtin TLS adapter) plugs in as another ``Listener`` subclass with the
same WSGI app; ``make_listener`` is the seam. Per-connection authentication state will hang off
the listener's connection objects.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import sys
import threading
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.wasyncore import loop

from bcs.errors import BusyError, NotImplError
from bcs.host import tunables
from bcs.host.app import HostApp, HostState

__all__ = ["Listener", "WaitressListener", "bind_port", "make_listener"]

log = logging.getLogger("bcs.host")


def bind_port(port: int) -> socket.socket:
    """Bind a listening TCP socket on every address of ``port``.

    Raises:
        BusyError: the port is in use (or not allowed) - names the port.
    """
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

    def __init__(self, port: int, state: HostState, threads: int) -> None:
        self.port = port
        self.threads = threads
        self.stopping = threading.Event()
        self.app = HostApp(state, port, self.stopping)

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

    def __init__(self, port: int, state: HostState, threads: int) -> None:
        super().__init__(port, state, threads)
        self._sock: socket.socket | None = bind_port(port)
        self._map: dict[int, Any] = {}
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._run = True

    def start(self) -> None:
        sock = self._sock
        assert sock is not None
        self._server = create_server(
            self.app,
            map=self._map,
            sockets=[sock],
            threads=self.threads,
            ident="BITS-Compact-Server",
            connection_limit=tunables.MAX_CONNECTIONS,
            channel_timeout=tunables.CHANNEL_TIMEOUT,
            asyncore_use_poll=True,
            expose_tracebacks=False,
        )
        self._sock = None  # owned by the server now
        self._thread = threading.Thread(target=self._loop, name=f"bcs-http-{self.port}", daemon=True)
        self._thread.start()
        log.info("listening on http port %d (%d threads)", self.port, self.threads)

    def _loop(self) -> None:
        while self._run:
            try:
                loop(timeout=1.0, map=self._map, use_poll=True, count=1)
            except Exception:
                log.exception("http listener on port %d: I/O loop error", self.port)

    def set_threads(self, threads: int) -> None:
        if threads != self.threads and self._server is not None:
            self._server.task_dispatcher.set_thread_count(threads)
        super().set_threads(threads)

    def stop(self) -> None:
        """Close the port and every connection; running transfers end."""
        self.stopping.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        server = self._server
        if server is None:
            return
        self._run = False
        with contextlib.suppress(Exception):
            server.trigger.pull_trigger()
        if self._thread is not None:
            self._thread.join(tunables.STOP_TIMEOUT)
        for obj in list(self._map.values()):
            with contextlib.suppress(Exception):
                if isinstance(obj, HTTPChannel):
                    obj.handle_close()  # closes its buffers: file bodies end their transfers
                else:
                    obj.close()
        server.task_dispatcher.shutdown(timeout=tunables.STOP_TIMEOUT)
        self._server = None
        log.info("stopped listening on http port %d", self.port)

    def status(self) -> dict[str, Any]:
        out = super().status()
        server = self._server
        out["connections"] = len(server.active_channels) if server is not None else 0
        return out


def make_listener(scheme: str, port: int, state: HostState, threads: int) -> Listener:
    """The listener for ``scheme`` on ``port``, its socket bound (not yet serving).

    Raises:
        BusyError: the port is in use.
        NotImplError: HTTPS (cheroot listener and certificate bindings) is not available yet.
    """
    if scheme == "http":
        return WaitressListener(port, state, threads)
    raise NotImplError(
        f"https URL groups are not served yet (port {port}): TLS listeners land with the security work",
        noun="UrlGroup",
        target=port,
    )
