"""The management pipe on Unix: a stream socket where .NET's ``NamedPipeClientStream`` connects.

The socket lives at ``$TMPDIR/CoreFxPipe_<name>`` (``/tmp/`` when TMPDIR is unset). Mode 0600; a
peer whose SO_PEERCRED uid is neither the engine's nor root is refused. A lock file beside the
socket (flock) makes a second engine on the same name fail at once with a clear message, and makes
removing a stale socket safe. Both paths are in a directory every local user can write to: the lock
is opened without following links (``bcs.lockfile``), and a lock or socket owned by another uid is
refused, naming that uid, never removed or reused. Clients check the other way round
(``bcs.rpc.client``): the server's uid must be root or theirs.
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
from bcs.rpc.protocol import SERVER_ERROR, encode, error_response

__all__ = ["Serve", "UnixSocketListener", "peer_credentials"]

log = logging.getLogger("bcs.rpc")

# Serves one accepted connection: (read, write, peer uid, peer pid); returns when it is done.
Serve = Callable[[Callable[[int], bytes], Callable[[bytes], Any], "int | None", "int | None"], None]


def _refusal(error: BcsError) -> bytes:
    return encode(error_response(None, SERVER_ERROR, error))


class UnixSocketListener:
    """Accepts connections on the pipe's socket and serves each on its own thread."""

    def __init__(self, name: str, path: str, serve: Serve) -> None:
        self.name = name
        self.path = path
        self._serve = serve
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(tunables.RPC_MAX_CONNECTIONS)
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._lock_file: LockFile | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def claim(self) -> None:
        """Take the pipe name (its lock file); AlreadyRunningError when another engine holds it."""
        self._acquire_lock()

    def listen(self) -> None:
        """Start accepting connections (after ``claim``)."""
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
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (Linux)
            self._listener.close()
        if self._thread is not None:
            self._thread.join(tunables.THREAD_JOIN_TIMEOUT)
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
                self._serve(conn.recv, conn.sendall, uid, pid)
            except (OSError, TimeoutError):
                pass  # the client went away or idled out; nothing to answer
            finally:
                with self._conns_lock:
                    self._conns.discard(conn)
                self._slots.release()


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
