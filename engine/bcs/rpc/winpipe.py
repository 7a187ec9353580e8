"""The management pipe on Windows: ``\\\\.\\pipe\\<name>``, byte mode, local clients only.

Cannot run on the Linux CI machines (no Windows there); kept small and reviewed, exercised by the
GitHub Actions workflow on windows-latest. Access control is the pipe's DACL: SYSTEM,
Administrators and the engine's own user get full access, nobody else; and
``PIPE_REJECT_REMOTE_CLIENTS`` refuses remote clients (SMB) outright. Local processes of a network
logon are not denied as such: a PowerShell remoting session (WinRM, or SSH) is one, and it is the
way to manage a remote engine (issue 16: no management listener on the network). Its token holds
NETWORK (S-1-5-2), so a deny ACE for NU would refuse an Administrator's remote session too.
``FILE_FLAG_FIRST_PIPE_INSTANCE`` makes a second engine on the same name fail with
ERROR_ACCESS_DENIED, reported as already running (with the pid and user of the process holding the
name, which may be another user's impostor).

Any local user may create ``\\\\.\\pipe\\<name>`` before the engine does, so clients check who serves
the pipe before sending anything: ``pipe_server_user`` reads the user of the process that created
the server end (``GetNamedPipeServerProcessId``, then that process's token), which must be SYSTEM
or the client's own user. Untested here: no Windows machine runs our tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pywintypes
import win32api
import win32con
import win32file
import win32pipe
import win32security
import winerror

from bcs import tunables
from bcs.errors import AlreadyRunningError

log = logging.getLogger("bcs.rpc")

_BUFFER = 64 * 1024
_FIRST_PIPE_INSTANCE = 0x00080000
_REJECT_REMOTE_CLIENTS = 0x00000008
_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
LOCAL_SYSTEM_SID = "S-1-5-18"

Serve = Callable[[Callable[[int], bytes], Callable[[bytes], Any], "str | None"], None]


def current_user_sid() -> str:
    """The string SID of this process's user."""
    token = win32security.OpenProcessToken(win32api.GetCurrentProcess(), win32con.TOKEN_QUERY)
    return str(
        win32security.ConvertSidToStringSid(
            win32security.GetTokenInformation(token, win32security.TokenUser)[0]
        )
    )


def pipe_server_user(handle: int) -> tuple[int, str]:
    """(pid, string SID of its user) of the process serving a connected pipe client handle.

    Raises:
        OSError: the pid, the process or its token cannot be read (then the server is not trusted).
    """
    try:
        pid = int(win32pipe.GetNamedPipeServerProcessId(handle))
        process = win32api.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
        try:
            token = win32security.OpenProcessToken(process, win32con.TOKEN_QUERY)
            sid = win32security.GetTokenInformation(token, win32security.TokenUser)[0]
        finally:
            win32api.CloseHandle(process)
        return pid, str(win32security.ConvertSidToStringSid(sid))
    except pywintypes.error as exc:
        raise OSError(exc.winerror, exc.strerror) from None


def _describe_holder(path: str) -> str:
    """Who holds pipe ``path``: connect as a client (sending nothing) and read the server's user."""
    try:
        handle = win32file.CreateFile(path, win32file.GENERIC_READ, 0, None, win32file.OPEN_EXISTING, 0, None)
    except pywintypes.error:
        return "another engine"
    try:
        pid, sid = pipe_server_user(int(handle))
    except OSError:
        return "another process"
    finally:
        win32file.CloseHandle(handle)
    if sid in (LOCAL_SYSTEM_SID, current_user_sid()):
        return f"another engine (pid {pid})"
    return f"a process of another user ({sid}, pid {pid}), possibly squatting the name,"


def _security_attributes() -> Any:
    owner_sid = current_user_sid()
    sddl = f"D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;{owner_sid})"
    sa = win32security.SECURITY_ATTRIBUTES()
    sa.SECURITY_DESCRIPTOR = win32security.ConvertStringSecurityDescriptorToSecurityDescriptor(
        sddl, win32security.SDDL_REVISION_1
    )
    return sa


class WindowsPipeListener:
    """One pipe instance waits for a client; each connected instance is served on its own thread."""

    def __init__(self, name: str, serve: Serve) -> None:
        self.path = rf"\\.\pipe\{name}"
        self.name = name
        self._serve = serve
        self._stopping = threading.Event()
        self._sa = _security_attributes()
        self._next: Any = None
        self._thread: threading.Thread | None = None

    def _create(self, first: bool) -> Any:
        open_mode = win32pipe.PIPE_ACCESS_DUPLEX | (_FIRST_PIPE_INSTANCE if first else 0)
        pipe_mode = (
            win32pipe.PIPE_TYPE_BYTE
            | win32pipe.PIPE_READMODE_BYTE
            | win32pipe.PIPE_WAIT
            | _REJECT_REMOTE_CLIENTS
        )
        return win32pipe.CreateNamedPipe(
            self.path, open_mode, pipe_mode, win32pipe.PIPE_UNLIMITED_INSTANCES, _BUFFER, _BUFFER, 0, self._sa
        )

    def claim(self) -> None:
        """Create the first pipe instance; fails when another engine owns the name."""
        try:
            self._next = self._create(first=True)
        except pywintypes.error as exc:
            if exc.winerror in (winerror.ERROR_ACCESS_DENIED, winerror.ERROR_PIPE_BUSY):
                holder = _describe_holder(self.path)
                raise AlreadyRunningError(
                    f"{holder} is already serving pipe '{self.name}'; stop it (bcs stop) or choose another --pipe-name"
                ) from None
            raise

    def listen(self) -> None:
        self._thread = threading.Thread(target=self._accept_loop, name="rpc-accept", daemon=True)
        self._thread.start()
        log.info("management pipe %s listening at %s", self.name, self.path)

    def stop(self) -> None:
        self._stopping.set()
        try:  # wake the accept loop blocked in ConnectNamedPipe
            h = win32file.CreateFile(
                self.path, win32file.GENERIC_READ, 0, None, win32file.OPEN_EXISTING, 0, None
            )
            win32file.CloseHandle(h)
        except pywintypes.error:
            pass
        if self._thread is not None:
            self._thread.join(tunables.THREAD_JOIN_TIMEOUT)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            handle = self._next
            try:
                win32pipe.ConnectNamedPipe(handle, None)
            except pywintypes.error as exc:
                if exc.winerror != winerror.ERROR_PIPE_CONNECTED:
                    win32file.CloseHandle(handle)
                    self._next = self._create(first=False)
                    continue
            self._next = self._create(first=False)
            if self._stopping.is_set():
                win32file.CloseHandle(handle)
                break
            threading.Thread(target=self._serve_one, args=(handle,), name="rpc-conn", daemon=True).start()
        win32file.CloseHandle(self._next)

    def _serve_one(self, handle: Any) -> None:
        def read(n: int) -> bytes:
            try:
                _, data = win32file.ReadFile(handle, min(n, _BUFFER))
                return bytes(data)
            except pywintypes.error:
                return b""  # ERROR_BROKEN_PIPE: the client went away

        def write(data: bytes) -> None:
            win32file.WriteFile(handle, data)

        try:
            user = win32pipe.GetNamedPipeHandleState(handle, False, True)[4]
        except pywintypes.error:
            user = None
        try:
            self._serve(read, write, user)
        except pywintypes.error:
            pass
        finally:
            try:
                win32file.FlushFileBuffers(handle)
                win32pipe.DisconnectNamedPipe(handle)
            except pywintypes.error:
                pass
            win32file.CloseHandle(handle)
