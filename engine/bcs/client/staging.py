"""The temporary files of a download job: name, open/resume, restart, recover, commit, discard.

Data only ever goes to a hidden temporary file beside its destination (``.BIT<hex>.tmp``, the
hidden attribute on Windows); the job's progress for a file is the length of the valid prefix
of that file. ``commit`` fsyncs it and renames it over the destination (atomic), then fsyncs the
folder, so a destination is either untouched or complete, whatever crashes when.

The caller holds the job service's lock around ``open_temp`` (so a Cancel cannot miss a file
created meanwhile), ``recover``, ``commit`` and ``discard``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid

from bcs.client.job import JobFile
from bcs.durable import fsync_dir

__all__ = ["commit", "discard", "is_linked", "open_temp", "recover", "restart", "temp_name"]

_BINARY = getattr(os, "O_BINARY", 0)


def temp_name(local_path: str) -> str:
    """A fresh temporary name in the folder of ``local_path``."""
    return os.path.join(os.path.dirname(local_path), f".BIT{uuid.uuid4().hex[:8].upper()}.tmp")


def open_temp(f: JobFile) -> tuple[int, int]:
    """Open (or create) the temporary file of ``f`` and cut it to its valid prefix.

    Returns:
        The descriptor and the offset to resume from: ``f.bytes_transferred``, or 0 when the file
        is shorter than that checkpoint (its prefix is not trusted then).

    Raises:
        OSError: the file cannot be opened (folder gone, access denied, ...).
    """
    fd = os.open(f.temporary_name, os.O_RDWR | os.O_CREAT | _BINARY, 0o666)
    try:
        _hide(f.temporary_name)
        size = os.fstat(fd).st_size
        offset = f.bytes_transferred if size >= f.bytes_transferred else 0
        if size != offset:
            os.ftruncate(fd, offset)
    except BaseException:
        os.close(fd)
        raise
    return fd, offset


def restart(fd: int) -> None:
    """Empty an open temporary file (the remote file changed: it starts again from 0).

    Raises:
        OSError: it cannot be truncated.
    """
    os.ftruncate(fd, 0)


def is_linked(fd: int) -> bool:
    """Whether the open temporary file still has a name (it or its folder was not deleted).

    Raises:
        OSError: the descriptor cannot be examined.
    """
    return os.fstat(fd).st_nlink > 0


def recover(f: JobFile) -> None:
    """After a stop or a crash: make ``f``'s progress agree with its temporary file on disk."""
    if f.committed:
        return
    try:
        size = os.stat(f.temporary_name).st_size
    except OSError:
        size = -1
    if f.completed and size != f.bytes_transferred:
        f.completed = False  # the finished temp file is gone or damaged: fetch it again
    if f.completed:
        return
    if size < f.bytes_transferred:
        f.bytes_transferred = 0  # shorter than the checkpoint: the prefix is not trusted
        if size > 0:
            _truncate(f.temporary_name, 0)
    elif size > f.bytes_transferred:
        _truncate(f.temporary_name, f.bytes_transferred)  # bytes after the checkpoint


def commit(f: JobFile) -> None:
    """fsync the finished temporary file, rename it over the destination, fsync the folder.

    Raises:
        OSError: any step failed; the destination is then untouched or already complete.
    """
    fd = os.open(f.temporary_name, os.O_RDONLY | _BINARY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(f.temporary_name, f.local_path)
    _unhide(f.local_path)
    fsync_dir(os.path.dirname(f.local_path))
    f.committed = True


def discard(f: JobFile) -> bool:
    """Delete the temporary file of an unfinished or cancelled file; False when it cannot be."""
    if f.committed:
        return True
    try:
        os.unlink(f.temporary_name)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def _truncate(path: str, size: int) -> None:
    with contextlib.suppress(OSError):
        os.truncate(path, size)


def _hide(path: str) -> None:
    """Windows: the hidden attribute (the dot prefix hides it on Unix)."""
    if sys.platform == "win32":
        import ctypes

        ctypes.windll.kernel32.SetFileAttributesW(path, 0x2)  # type: ignore[attr-defined]


def _unhide(path: str) -> None:
    if sys.platform == "win32":
        import ctypes

        ctypes.windll.kernel32.SetFileAttributesW(path, 0x80)  # type: ignore[attr-defined]
