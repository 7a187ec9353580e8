"""The management pipe: its name and path, the line loop over a connection, and ``PipeServer``,
which chooses the platform's listener:

* Unix: ``bcs.rpc.unixsocket``, a socket at ``$TMPDIR/CoreFxPipe_<name>``, where .NET's
  ``NamedPipeClientStream(".", name)`` connects, so the cmdlets work unchanged.
* Windows: ``bcs.rpc.winpipe``, ``\\\\.\\pipe\\<name>`` with a DACL for SYSTEM, Administrators and the
  engine's owner.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from bcs import tunables
from bcs.errors import InvalidArgumentError
from bcs.rpc.protocol import INVALID_REQUEST, encode, error_response
from bcs.rpc.registry import CallContext
from bcs.rpc.unixsocket import UnixSocketListener

__all__ = [
    "LineHandler",
    "PipeServer",
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


class PipeServer:
    """The management pipe of this platform: chooses its listener, serves each connection's lines."""

    def __init__(self, name: str, handle: LineHandler, make_context: Callable[..., CallContext]) -> None:
        self.name = name
        self.path = pipe_path(name)
        self._handle = handle
        self._make_context = make_context
        self._listener: Any
        if sys.platform == "win32":
            from bcs.rpc.winpipe import WindowsPipeListener

            self._listener = WindowsPipeListener(name, self._serve_windows)
        else:
            self._listener = UnixSocketListener(name, self.path, self._serve_unix)

    def claim(self) -> None:
        """Take the pipe name; raises AlreadyRunningError when another engine holds it."""
        self._listener.claim()

    def listen(self) -> None:
        """Start accepting connections (after ``claim``)."""
        self._listener.listen()

    def stop(self) -> None:
        self._listener.stop()

    def _serve_unix(
        self, read: Callable[[int], bytes], write: Callable[[bytes], Any], uid: int | None, pid: int | None
    ) -> None:
        serve_lines(read, write, self._handle, self._make_context(peer_uid=uid, peer_pid=pid))

    def _serve_windows(
        self, read: Callable[[int], bytes], write: Callable[[bytes], Any], user: str | None
    ) -> None:
        serve_lines(read, write, self._handle, self._make_context(peer_name=user))
