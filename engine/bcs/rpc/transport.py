"""The management pipe: where it lives, who may connect, and the line loop over a connection.

* Unix: a stream socket at ``$TMPDIR/CoreFxPipe_<name>`` (``/tmp/`` when TMPDIR is unset), which is
  where .NET's ``NamedPipeClientStream(".", name)`` connects, so the cmdlets work unchanged.
  Mode 0600; a peer whose SO_PEERCRED uid is neither the engine's nor root is refused.
  A lock file beside the socket (flock) makes a second engine on the same name fail at once
  with a clear message, and makes removing a stale socket safe. Both paths are in a directory
  every local user can write to: the lock is opened without following links (``bcs.lockfile``),
  and a lock or socket owned by another uid is refused, naming that uid, never removed or reused.
  Clients check the other way round (``bcs.rpc.client``): the server's uid must be root or theirs.
* Windows: ``\\\\.\\pipe\\<name>`` (``bcs.rpc.winpipe``), DACL for SYSTEM, Administrators and the
  engine's owner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import struct
import sys
import threading
from collections.abc import Callable
from typing import Any

from bcs import tunables
from bcs.errors import AccessDeniedError, AlreadyRunningError, BcsError, BusyError, InvalidArgumentError
from bcs.lockfile import LockFile, describe_entry
from bcs.rpc.protocol import INVALID_REQUEST, SERVER_ERROR, encode, error_response
from bcs.rpc.registry import CallContext

__all__ = [
    "LineHandler",
    "PipeServer",
    "peer_credentials",
    "pipe_path",
    "resolve_pipe_name",
    "serve_lines",
]

log = logging.getLogger("bcs.rpc")

LineHandler = Callable[[bytes, CallContext], "bytes | None"]


def resolve_pipe_name(name: str | None) -> str:
    """The pipe name: explicit, else ``BCS_PIPE_NAME``, else ``BitsCompactServer``."""
    return name or os.environ.get("BCS_PIPE_NAME") or tunables.PIPE_NAME


def pipe_path(name: str) -> str:
    """Where a client connects for pipe ``name`` on this platform (as .NET computes it)."""
    if sys.platform == "win32":
        return rf"\\.\pipe\{name}"
    if name.startswith("/"):
        return name
    tmp = os.environ.get("TMPDIR") or "/tmp/"
    if not tmp.endswith("/"):
        tmp += "/"
    return f"{tmp}CoreFxPipe_{name}"


def serve_lines(
    read: Callable[[int], bytes],
    write: Callable[[bytes], Any],
    handle: LineHandler,
    ctx: CallContext,
    max_line: int = tunables.RPC_MAX_LINE,
) -> None:
    """Read ``\\n``-terminated requests until EOF, answering each; a line over ``max_line`` is refused.

    A partial line at EOF (a client that disconnects mid-line) is dropped unanswered.
    """
    buf = bytearray()
    scanned = 0  # bytes of buf known to hold no newline
    discarding = False  # inside an over-long line: drop bytes until its newline
    while True:
        data = read(65536)
        if not data:
            return
        buf += data
        while True:
            nl = buf.find(b"\n", scanned)
            if nl < 0:
                scanned = len(buf)
                if len(buf) > max_line:
                    if not discarding:
                        write(_too_long(max_line))
                        discarding = True
                    buf.clear()
                    scanned = 0
                break
            line = bytes(buf[:nl])
            del buf[: nl + 1]
            scanned = 0
            if discarding:
                discarding = False
                continue
            if len(line) > max_line:
                write(_too_long(max_line))
                continue
            if not line.strip():
                continue
            answer = handle(line.rstrip(b"\r"), ctx)
            if answer is not None:
                write(answer)


def _too_long(max_line: int) -> bytes:
    err = InvalidArgumentError(
        f"Invalid request: line longer than {max_line} bytes", reason="LineTooLong", noun="Rpc"
    )
    return encode(error_response(None, INVALID_REQUEST, err))


def _refusal(error: BcsError) -> bytes:
    return encode(error_response(None, SERVER_ERROR, error))


class PipeServer:
    """Accepts management connections on the platform's pipe and serves each on its own thread."""

    def __init__(self, name: str, handle: LineHandler, make_context: Callable[..., CallContext]) -> None:
        self.name = name
        self.path = pipe_path(name)
        self._handle = handle
        self._make_context = make_context
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(tunables.RPC_MAX_CONNECTIONS)
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._lock_file: LockFile | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._win: Any = None

    # --- lifecycle ---
    def claim(self) -> None:
        """Take the pipe name; raises AlreadyRunningError when another engine holds it."""
        if sys.platform == "win32":
            from bcs.rpc.winpipe import WindowsPipeListener

            self._win = WindowsPipeListener(self.name, self._serve_connection_win)
            self._win.claim()
            return
        self._acquire_lock()

    def listen(self) -> None:
        """Start accepting connections (after ``claim``)."""
        if self._win is not None:
            self._win.listen()
            return
        path = self.path
        if len(path.encode()) > 107:
            raise InvalidArgumentError(f"pipe path {path} is longer than the 107 bytes a Unix socket allows")
        self._refuse_foreign_socket()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # our own stale socket: the lock proves no engine owns it
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # The socket is born 0600 (no window where others may connect, and no chmod by path,
        # which would follow a link); bind() itself never follows one.
        old_umask = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old_umask)
        sock.listen(64)
        if not sys.platform.startswith("linux"):
            sock.settimeout(0.5)  # only Linux wakes a blocked accept() on shutdown()
        self._listener = sock  # stop() wakes the blocked accept() with shutdown()
        self._thread = threading.Thread(target=self._accept_loop, name="rpc-accept", daemon=True)
        self._thread.start()
        log.info("management pipe %s listening at %s", self.name, path)

    def stop(self) -> None:
        self._stopping.set()
        if self._win is not None:
            self._win.stop()
            return
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (Linux)
            self._listener.close()
        if self._thread is not None:
            self._thread.join(5)
        with self._conns_lock:
            for conn in list(self._conns):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        try:
            if self._listener is not None:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        if self._lock_file is not None:
            # Unlink while still holding the lock (see _acquire_lock), then release it.
            if self._lock_file.is_at_path():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path + ".lock")
            self._lock_file.close()
            self._lock_file = None

    def _acquire_lock(self) -> None:
        lock_path = self.path + ".lock"
        remedy = "choose another --pipe-name"
        while True:
            lock = LockFile.open(lock_path, remedy)
            if not lock.try_lock():
                holder = lock.holder()
                lock.close()
                raise AlreadyRunningError(
                    f"another engine (pid {holder}) is already serving pipe '{self.name}' at {self.path}; "
                    "stop it (bcs stop) or choose another --pipe-name"
                )
            # The previous owner unlinks the lock file when it stops; a lock taken on such an
            # unlinked file proves nothing, so take it again on the file now at the path.
            if lock.is_at_path():
                break
            lock.close()
        try:
            self._refuse_foreign_socket()
        except BaseException:
            lock.close()
            raise
        lock.write_pid()
        self._lock_file = lock

    def _refuse_foreign_socket(self) -> None:
        """Refuse a socket path that holds anything but a socket of our own uid (a squatter's)."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if stat.S_ISSOCK(st.st_mode) and st.st_uid == os.geteuid():
            return
        raise AccessDeniedError(
            f"{self.path} is {describe_entry(self.path, st)} owned by uid {st.st_uid}, not by this engine's uid {os.geteuid()}: "
            f"another local user may be squatting pipe '{self.name}'. Remove it (as root or uid "
            f"{st.st_uid}) or choose another --pipe-name",
            reason="PipePathTaken",
        )

    # --- connections ---
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                log.exception("accept failed")
                continue
            threading.Thread(target=self._serve_unix, args=(conn,), name="rpc-conn", daemon=True).start()

    def _serve_unix(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(tunables.RPC_IDLE_TIMEOUT)
            uid, pid = peer_credentials(conn)
            if uid is not None and uid not in (os.geteuid(), 0):
                log.warning("refused management connection from uid %s (pid %s)", uid, pid)
                _send_quietly(
                    conn,
                    _refusal(
                        AccessDeniedError(
                            f"uid {uid} may not manage this engine (only uid {os.geteuid()} and root may)",
                            noun="Server",
                        )
                    ),
                )
                return
            if not self._slots.acquire(blocking=False):
                _send_quietly(
                    conn,
                    _refusal(
                        BusyError(
                            f"too many management connections (limit {tunables.RPC_MAX_CONNECTIONS})",
                            noun="Server",
                        )
                    ),
                )
                return
            with self._conns_lock:
                self._conns.add(conn)
            try:
                ctx = self._make_context(peer_uid=uid, peer_pid=pid)
                serve_lines(conn.recv, conn.sendall, self._handle, ctx)
            except (OSError, TimeoutError):
                pass  # the client went away or idled out; nothing to answer
            finally:
                with self._conns_lock:
                    self._conns.discard(conn)
                self._slots.release()

    def _serve_connection_win(
        self, read: Callable[[int], bytes], write: Callable[[bytes], Any], user: str | None
    ) -> None:
        ctx = self._make_context(peer_name=user)
        serve_lines(read, write, self._handle, ctx)


def peer_credentials(conn: socket.socket) -> tuple[int | None, int | None]:
    """(uid, pid) of the peer via SO_PEERCRED; (None, None) where the platform has no such option."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None, None
    raw = conn.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", raw)
    return uid, pid


def _send_quietly(conn: socket.socket, data: bytes) -> None:
    """Send a refusal and close gracefully: half-close, then drain what the peer already sent, so the
    kernel does not answer the unread bytes with a reset that would destroy the refusal in flight."""
    with contextlib.suppress(OSError):
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(1.0)
        for _ in range(16):
            if not conn.recv(65536):
                break
