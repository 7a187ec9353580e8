"""A JSON-RPC client for the management pipe (used by the ``bcs`` CLI and by the tests).

Before the first byte is sent the client checks who serves the pipe, because any local user can
create ``/tmp/CoreFxPipe_<name>`` before the engine starts and collect what clients send
(credentials in ``job.create``). The server must run as root or as the client's own user:

* Linux: the listening process's uid from ``SO_PEERCRED`` (set by the kernel, cannot be faked).
* Other Unix (no ``SO_PEERCRED`` in Python): the owner of the socket file, which must be a socket
  and not a symbolic link; in a sticky ``/tmp`` no other user can replace a socket owned by root
  or by the client's user.
* Windows: the user of the process that created the pipe (``GetNamedPipeServerProcessId``) must
  be SYSTEM or the client's user (``bcs.rpc.winpipe.pipe_server_user``; not run on our CI).

Anything else raises ``UntrustedEngineError`` naming the path and the uid, and nothing is sent.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import stat
import sys
from typing import Any

from bcs.errors import AccessDeniedError, EngineNotRunningError, RpcError, UntrustedEngineError
from bcs.rpc.transport import pipe_path, resolve_pipe_name
from bcs.rpc.unixsocket import peer_credentials

__all__ = ["EngineNotRunningError", "RpcClient", "RpcError", "UntrustedEngineError"]


def _untrusted(pipe_name: str, path: str, who: str, allowed: str) -> UntrustedEngineError:
    remedy = "Stop that process" if sys.platform == "win32" else f"Stop that process, remove {path} as root"
    return UntrustedEngineError(
        f"refusing to talk to pipe '{pipe_name}' at {path}: it is served by {who}, not by {allowed}, "
        "so it is not your engine (another local user may be impersonating it); nothing was sent. "
        f"{remedy}, then start the engine with `bcs serve`."
    )


def verify_unix_server(sock: socket.socket, pipe_name: str, path: str) -> None:
    """Raise UntrustedEngineError unless root or this process's uid serves ``sock`` (connected to ``path``)."""
    me = os.geteuid()
    allowed = "root" if me == 0 else f"root or you (uid {me})"
    uid, pid = peer_credentials(sock)
    if uid is not None:
        if uid not in (0, me):
            raise _untrusted(pipe_name, path, f"uid {uid} (pid {pid})", allowed)
        return
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise _untrusted(pipe_name, path, f"an unknown owner ({exc.strerror})", allowed) from None
    if not stat.S_ISSOCK(st.st_mode):
        raise _untrusted(
            pipe_name, path, f"something that is not a socket, owned by uid {st.st_uid}", allowed
        )
    if st.st_uid not in (0, me):
        raise _untrusted(pipe_name, path, f"a socket owned by uid {st.st_uid}", allowed)


def _verify_windows_server(handle: int, pipe_name: str, path: str) -> None:
    from bcs.rpc.winpipe import LOCAL_SYSTEM_SID, current_user_sid, pipe_server_user

    me = current_user_sid()
    allowed = f"SYSTEM or you ({me})"
    try:
        pid, sid = pipe_server_user(handle)
    except OSError as exc:
        raise _untrusted(pipe_name, path, f"a process whose user cannot be read ({exc})", allowed) from None
    if sid not in (LOCAL_SYSTEM_SID, me):
        raise _untrusted(pipe_name, path, f"user {sid} (pid {pid})", allowed)


class RpcClient:
    """One connection to the engine; many calls over it, one at a time."""

    def __init__(self, pipe_name: str | None = None, timeout: float | None = 60.0) -> None:
        self.pipe_name = resolve_pipe_name(pipe_name)
        self.path = pipe_path(self.pipe_name)
        self._ids = itertools.count(1)
        self._timeout = timeout
        self._sock: Any = None
        self._buf = b""

    def __enter__(self) -> RpcClient:
        if self._sock is None:
            self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect to the pipe and check who serves it (see the module docstring); sends nothing.

        Raises:
            EngineNotRunningError: with a message that says how to start the engine.
            UntrustedEngineError: the pipe is served by another user (path and uid in the message).
            AccessDeniedError: the pipe belongs to another user's engine, which refuses us.
        """
        try:
            if sys.platform == "win32":
                import msvcrt

                pipe = open(self.path, "r+b", buffering=0)  # noqa: SIM115 - closed by close()
                try:
                    _verify_windows_server(msvcrt.get_osfhandle(pipe.fileno()), self.pipe_name, self.path)
                except BaseException:
                    pipe.close()
                    raise
                self._sock = pipe
            else:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.settimeout(self._timeout)
                    sock.connect(self.path)
                    verify_unix_server(sock, self.pipe_name, self.path)
                except BaseException:
                    sock.close()
                    raise
                self._sock = sock
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise EngineNotRunningError(
                f"no engine is running on pipe '{self.pipe_name}' ({self.path}): {exc.strerror}. "
                "Start one with `bcs serve` (or Start-BcsServer)."
            ) from None
        except PermissionError:
            raise AccessDeniedError(self._denied_message(), noun="Server") from None

    def _denied_message(self) -> str:
        owner = "another user"
        if sys.platform != "win32":
            with contextlib.suppress(OSError):
                owner = f"uid {os.lstat(self.path).st_uid}"
        return (
            f"pipe '{self.pipe_name}' at {self.path} belongs to {owner}: only that user and root may "
            "manage that engine. Run as that user, or start your own engine with another --pipe-name."
        )

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def send_line(self, data: bytes) -> None:
        if sys.platform == "win32":
            self._sock.write(data)
        else:
            self._sock.sendall(data)

    def read_line(self) -> bytes:
        while b"\n" not in self._buf:
            chunk = self._sock.read(65536) if sys.platform == "win32" else self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the engine closed the connection")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def request(self, message: Any) -> Any:
        """Send one raw JSON-RPC message (or batch) and return the decoded answer."""
        if self._sock is None:
            self.connect()
        self.send_line(json.dumps(message).encode("utf-8") + b"\n")
        return json.loads(self.read_line())

    def call(self, method: str, params: dict[str, Any] | None = None, **kwparams: Any) -> Any:
        """Call a method and return its result.

        Raises:
            RpcError: the engine answered with an error.
        """
        request_id = next(self._ids)
        merged = {**(params or {}), **kwparams}
        answer = self.request({"jsonrpc": "2.0", "id": request_id, "method": method, "params": merged})
        if "error" in answer:
            err = answer["error"]
            raise RpcError(err.get("code", 0), err.get("message", ""), err.get("data"))
        return answer.get("result")
