"""The engine's lock files (pipe lock beside the socket, ``engine.lock`` in the state directory).

A lock file may sit where other local users can write: the pipe lock lives in ``/tmp``, and a state
directory may have been prepared by someone else. Opened naively (``open(path, "a+")`` as root), a
symbolic link planted there is followed and its target truncated, and a file planted there makes
the engine believe "another engine" runs. So a lock file is:

* opened with ``O_NOFOLLOW`` and never with ``O_TRUNC``/``O_APPEND``;
* checked before anything is written: a regular file with a single link, owned by this process's
  uid; anything else is refused with ``AccessDeniedError`` (reason ForeignLockFile) naming the path and the owner's uid;
* locked on Unix with ``flock`` on the whole file; on Windows with ``msvcrt.locking``, which locks
  from the *current position*: every engine seeks to the same fixed offset first (so two engines
  contend for the same byte), far beyond the pid text (Windows locks are mandatory, so the second
  engine can still read the first one's pid).

Windows: there is no ``O_NOFOLLOW`` and ``st_uid`` is always 0, so only the file-type checks apply
(creating a symbolic link needs a privilege there, and the state directory is under ProgramData).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys

from bcs.errors import AccessDeniedError

__all__ = ["WINDOWS_LOCK_OFFSET", "LockFile", "describe_entry"]

# The byte every engine locks on Windows: beyond any pid text, below the 2 GiB msvcrt can seek to.
WINDOWS_LOCK_OFFSET = 0x40000000

_OPEN_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO planted at the path must not hang the engine
    | getattr(os, "O_BINARY", 0)
)


def describe_entry(path: str, st: os.stat_result) -> str:
    """What ``lstat`` found at ``path``, for a message ("a symbolic link to /etc/shadow")."""
    if stat.S_ISLNK(st.st_mode):
        try:
            return f"a symbolic link to {os.readlink(path)}"
        except OSError:
            return "a symbolic link"
    if stat.S_ISREG(st.st_mode):
        return "a file"
    if stat.S_ISSOCK(st.st_mode):
        return "a socket"
    if stat.S_ISDIR(st.st_mode):
        return "a directory"
    return "a special file"


def _windows() -> bool:
    return sys.platform == "win32"


class LockFile:
    """One open lock file; ``open`` refuses what a local attacker may have planted at the path."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.locked = False

    @classmethod
    def open(cls, path: str, remedy: str) -> LockFile:
        """Open (creating it 0600) the lock file at ``path``; nothing is written yet.

        Args:
            path: the lock file.
            remedy: what the message suggests besides removing the file ("choose another --pipe-name").

        Raises:
            AccessDeniedError: the path holds a symbolic link, a non-regular file, a file with
                other hard links, or a file owned by another uid.
        """
        try:
            fd = os.open(path, _OPEN_FLAGS, 0o600)
        except OSError as exc:
            # ELOOP (Linux) / EMLINK (BSD) for a symbolic link; EACCES when fs.protected_regular
            # keeps even root from opening another user's file in /tmp.
            try:
                st = os.lstat(path)
            except OSError:
                raise exc from None
            cls._refuse_unless_ours(path, st, remedy)
            raise
        try:
            cls._refuse_unless_ours(path, os.fstat(fd), remedy)
            if not _windows():
                os.fchmod(fd, 0o600)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    @staticmethod
    def _refuse_unless_ours(path: str, st: os.stat_result, remedy: str) -> None:
        problem = ""
        if not stat.S_ISREG(st.st_mode):
            problem = f"it is {describe_entry(path, st)}, not a lock file"
        elif st.st_nlink != 1:
            problem = f"it has {st.st_nlink} hard links"
        elif not _windows() and st.st_uid != os.geteuid():
            problem = f"it belongs to uid {st.st_uid}, not to this engine's uid {os.geteuid()}"
        if problem:
            owner, remover = "", "an administrator"
            if not _windows():  # st_uid means nothing there
                owner, remover = f" (owner uid {st.st_uid})", f"root or uid {st.st_uid}"
            raise AccessDeniedError(
                f"refusing lock file {path}{owner}: {problem}; another local user may "
                f"have planted it. Remove it (as {remover}) or {remedy}",
                reason="ForeignLockFile",
                noun="Server",
            )

    def try_lock(self) -> bool:
        """Take the lock without waiting; False when another engine holds it."""
        self.locked = _try_lock(self.fd)
        return self.locked

    def holder(self) -> str:
        """The pid the holder wrote, or "unknown"."""
        try:
            os.lseek(self.fd, 0, os.SEEK_SET)
            text = os.read(self.fd, 64).decode("ascii", "replace").strip()
        except OSError:
            text = ""
        return text or "unknown"

    def write_pid(self) -> None:
        """Replace the content with this process's pid (after ``try_lock``)."""
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.ftruncate(self.fd, 0)
        os.write(self.fd, str(os.getpid()).encode("ascii"))

    def is_at_path(self) -> bool:
        """Whether the open file is still the one at ``path`` (a stopping engine unlinks its lock)."""
        try:
            return os.lstat(self.path).st_ino == os.fstat(self.fd).st_ino
        except FileNotFoundError:
            return False

    def close(self) -> None:
        if self.fd < 0:
            return
        if self.locked and _windows():
            with contextlib.suppress(OSError):
                _unlock_windows(self.fd)
        os.close(self.fd)
        self.fd = -1
        self.locked = False


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)  # msvcrt.locking locks from here
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def _unlock_windows(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
