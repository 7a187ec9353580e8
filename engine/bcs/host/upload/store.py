"""The upload sessions on disk: ``<state dir>/uploads/`` holds an index and one staging file each.

* ``index.db`` (SQLite, WAL, ``synchronous=FULL``): one row per session, keyed by its braced
  upper-case GUID. Every write is one committed transaction, durable when it returns.
* ``<GUID>.part``: the bytes received so far, written in place at their offsets.

What is trusted after a crash (``kill -9`` or power loss), and why:
the row's ``durable`` offset is written only after the staging file was fsynced up to it
(``checkpoint``), so the bytes below it are on disk whatever happened; bytes after it may be
missing or, on some file systems, zeros. On ``open`` each session resumes from
``min(durable, size of the staging file)`` and the staging file is cut to that length. The
client finds out through the protocol: its next fragment starts beyond what the server has, gets
416 with ``BITS-Received-Content-Range`` and is resent from there (bits-protocol.md 2.4, 2.5).
So an Ack never waits for an fsync except the last one: a session becomes UPLOADED only with
every byte durable, and the destination appears only by a rename of a durable file.

Close-Session commits: the staging file is renamed to the destination (``os.link`` when an
existing file must not be replaced, so that it never is, even by a race) and the folder is
fsynced; then the row becomes a CLOSED tombstone. A crash between the two leaves an UPLOADED row
without a staging file: ``open`` knows the rename happened (only a commit removes the staging
file of an UPLOADED session; a cancel writes its tombstone first) and records the tombstone. When
the state dir and the destination are on different file systems the file is copied to a hidden
``.<name>.<GUID>.bcs-upload`` beside the destination, fsynced and renamed from there; ``open``
removes such a copy a crash left behind.

One active session per destination: the store keeps who holds each destination (rebuilt on
``open``); the protocol decides what a second Create-Session gets.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bcs import tunables
from bcs.durable import fsync_dir
from bcs.errors import ERROR_INVALID_DATA, BcsError
from bcs.host.upload.session import SessionEvent, SessionState, UploadSession

__all__ = ["DestinationExists", "UploadStore"]

log = logging.getLogger("bcs.host.upload")

# The index: (column, attribute of UploadSession, SQL type); ``received`` is not stored (after a
# restart a session resumes from ``durable``).
_FIELDS = (
    ("id", "session_id", "TEXT PRIMARY KEY"),
    ("url_group", "url_group", "TEXT NOT NULL"),
    ("url", "url", "TEXT NOT NULL"),
    ("destination", "destination", "TEXT NOT NULL"),
    ("owner", "owner", "TEXT NOT NULL"),
    ("owner_name", "owner_name", "TEXT NOT NULL"),
    ("content_name", "content_name", "TEXT NOT NULL"),
    ("protocol", "protocol", "TEXT NOT NULL"),
    ("state", "state", "TEXT NOT NULL"),
    ("durable", "durable", "INTEGER NOT NULL"),
    ("total", "total", "INTEGER"),
    ("created", "created", "REAL NOT NULL"),
    ("last_activity", "last_activity", "REAL NOT NULL"),
    ("ended", "ended", "REAL"),
    ("notify", "notify", "TEXT NOT NULL"),
    ("notified", "notified", "INTEGER NOT NULL"),
    ("reply_url", "reply_url", "TEXT NOT NULL"),
    ("copy", "copy_to_destination", "INTEGER NOT NULL"),
)
_SCHEMA = "CREATE TABLE IF NOT EXISTS sessions (" + ", ".join(f"{c} {t}" for c, _, t in _FIELDS) + ")"
_COLUMNS = ", ".join(c for c, _, _ in _FIELDS)
_INSERT = f"INSERT OR REPLACE INTO sessions ({_COLUMNS}) VALUES ({', '.join('?' for _ in _FIELDS)})"
_STAGING_SUFFIX = ".part"
_REPLY_SUFFIX = ".reply"
_COPY_SUFFIX = ".bcs-upload"


class DestinationExists(Exception):
    """The destination exists and may not be replaced."""


def destination_key(path: str) -> str:
    """The key under which a destination is held (case-insensitive where the file system is)."""
    return os.path.normcase(path)


def _file_name(session_id: str) -> str:
    return session_id.strip("{}")


class UploadStore:
    """The sessions of one engine: index, staging files and who holds which destination."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._sessions: dict[str, UploadSession] = {}
        self._holders: dict[str, str] = {}  # destination key -> id of the active session holding it
        # Held by Create-Session from "who holds the destination" to the new session holding it.
        self.create_lock = threading.Lock()

    # --- lifecycle ---
    def open(self) -> None:
        """Create or open the index and recover every session (see the module docstring)."""
        path = self.directory / "index.db"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if sys.platform != "win32":
                os.chmod(self.directory, 0o700)
            db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(_SCHEMA)
            with self._lock:
                self._db = db
                self._recover()
        except (sqlite3.Error, OSError) as exc:
            raise BcsError(
                ERROR_INVALID_DATA,
                f"the upload session index {path} cannot be used ({exc}); move {self.directory} away "
                "to start without the upload sessions it holds",
                noun="Server",
                target=str(path),
            ) from None

    def close(self) -> None:
        """Record the progress of every active session (a clean stop loses nothing), then close."""
        for session in self.sessions():
            if not session.active or session.received == session.durable:
                continue
            if not session.lock.acquire(timeout=tunables.STOP_TIMEOUT):
                continue  # a request still writing: its last checkpoint stands
            try:
                fd = os.open(self.staging_path(session), os.O_WRONLY | getattr(os, "O_BINARY", 0))
                try:
                    self.checkpoint(session, fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                log.error("upload session %s: cannot record its progress: %s", session.session_id, exc)
            finally:
                session.lock.release()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # --- queries ---
    def staging_path(self, session: UploadSession) -> str:
        return str(self.directory / (_file_name(session.session_id) + _STAGING_SUFFIX))

    def reply_path(self, session: UploadSession) -> str:
        """Where the reply of a server application is kept until Close-Session (upload-reply)."""
        return str(self.directory / (_file_name(session.session_id) + _REPLY_SUFFIX))

    def get(self, session_id: str) -> UploadSession | None:
        with self._lock:
            return self._sessions.get(session_id)

    def sessions(self) -> list[UploadSession]:
        """Every session, tombstones included, oldest first."""
        with self._lock:
            return sorted(self._sessions.values(), key=lambda s: s.created)

    def holder(self, destination: str) -> UploadSession | None:
        """The active session that will write ``destination``, or None."""
        with self._lock:
            found = self._holders.get(destination_key(destination))
            return self._sessions.get(found) if found is not None else None

    def count_active(self, url_group: str, owner: str) -> int:
        """Active sessions of ``owner`` in the group ``url_group``."""
        with self._lock:
            return sum(
                1
                for s in self._sessions.values()
                if s.active and s.url_group == url_group and s.owner == owner
            )

    # --- changes ---
    def create(self, session: UploadSession) -> None:
        """Record a new session (durably) and make its empty staging file; it holds its destination."""
        path = self.staging_path(session)
        with self._lock:
            self._write_row(session)
            self._sessions[session.session_id] = session
            if session.notify == "None":
                self._holders[destination_key(session.destination)] = session.session_id
        # After the row: a crash in between leaves a row whose missing staging file ``open`` makes.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666)
        except OSError:
            self.drop(session)
            raise
        os.close(fd)

    def checkpoint(self, session: UploadSession, fd: int) -> None:
        """Make ``session.received`` durable: fsync the staging file, then record the offset."""
        os.fsync(fd)
        session.durable = session.received
        session.checkpointed = time.monotonic()
        self.record(session)

    def record(self, session: UploadSession) -> None:
        """Write the session's row as it is now (state, durable offset, total, times)."""
        with self._lock:
            if session.session_id in self._sessions:
                self._write_row(session)

    def end(self, session: UploadSession, event: SessionEvent) -> None:
        """Cancel or expire a session: tombstone first, then its staging file goes.

        The caller holds ``session.lock``.
        """
        with self._lock:
            session.advance(event)
            self._release(session)
            if session.state is SessionState.EXPIRED:
                self._delete_row(session.session_id)
                self._sessions.pop(session.session_id, None)
            else:
                self._write_row(session)
        self._remove_files(session)

    def commit(self, session: UploadSession, allow_overwrite: bool) -> None:
        """Place the uploaded file at its destination durably, then record the CLOSED tombstone.

        The caller holds ``session.lock``; the session is UPLOADED.

        Raises:
            DestinationExists: it exists and ``allow_overwrite`` is off (the session stays UPLOADED).
            OSError: the file could not be placed (the session stays UPLOADED).
        """
        staging = self.staging_path(session)
        destination = session.destination
        try:
            _place(staging, destination, allow_overwrite)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            copy = _copy_path(session)
            try:
                shutil.copyfile(staging, copy)
                with open(copy, "rb+") as fh:
                    os.fsync(fh.fileno())
                _place(copy, destination, allow_overwrite)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(copy)
                raise
            os.unlink(staging)
        fsync_dir(os.path.dirname(destination))
        with self._lock:
            session.advance(SessionEvent.CLOSE)
            self._release(session)
            self._write_row(session)
        self._remove_files(session)

    def close_without_placing(self, session: UploadSession) -> None:
        """Close a session whose file a server application took: nothing is placed.

        The caller holds ``session.lock``; the session is UPLOADED.
        """
        with self._lock:
            session.advance(SessionEvent.CLOSE)
            self._release(session)
            self._write_row(session)
        self._remove_files(session)

    def cleanup(self, now: float, timeout_of: Callable[[str], float]) -> list[UploadSession]:
        """Expire sessions without progress for their group's timeout, and old tombstones.

        Args:
            now: ``time.time()``.
            timeout_of: the session timeout in seconds of a group (by prefix key).

        Returns:
            The sessions removed.
        """
        tombstone = tunables.tuned("UPLOAD_TOMBSTONE_SECONDS", tunables.UPLOAD_TOMBSTONE_SECONDS)
        removed = []
        for session in self.sessions():
            if not session.lock.acquire(blocking=False):
                continue  # a request of its own is running: it makes progress
            try:
                if session.active:
                    due = now - session.last_activity >= timeout_of(session.url_group)
                else:
                    due = now - (session.ended or session.last_activity) >= tombstone
                if not due or session.state is SessionState.EXPIRED:
                    continue
                if session.active:
                    log.info("upload session %s expired (no progress)", session.session_id)
                self.end(session, SessionEvent.EXPIRE)
            finally:
                session.lock.release()
            removed.append(session)
        return removed

    def drop(self, session: UploadSession) -> None:
        """Forget a session at once (``upload.delete`` of a tombstone)."""
        with self._lock:
            self._release(session)
            self._delete_row(session.session_id)
            self._sessions.pop(session.session_id, None)

    # --- inside ---
    def _remove_files(self, session: UploadSession) -> None:
        for path in (self.staging_path(session), self.reply_path(session)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _release(self, session: UploadSession) -> None:
        key = destination_key(session.destination)
        if self._holders.get(key) == session.session_id:
            del self._holders[key]

    def _write_row(self, s: UploadSession) -> None:
        assert self._db is not None
        values = []
        for _, attr, _ in _FIELDS:
            value = getattr(s, attr)
            values.append(value.value if isinstance(value, SessionState) else value)
        self._db.execute(_INSERT, values)

    def _delete_row(self, session_id: str) -> None:
        assert self._db is not None
        self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def _recover(self) -> None:
        """Load every row and make each staging file agree with what the row trusts."""
        assert self._db is not None
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM sessions").fetchall()
        known: set[str] = set()
        for row in rows:
            try:
                session = _session_of(row)
            except (ValueError, TypeError):
                log.error("upload index: dropping unreadable session row %r", row[0])
                self._delete_row(str(row[0]))
                continue
            known.add(_file_name(session.session_id) + _STAGING_SUFFIX)
            known.add(_file_name(session.session_id) + _REPLY_SUFFIX)
            with contextlib.suppress(OSError):
                os.unlink(_copy_path(session))  # a cross-device copy a crash interrupted
            if session.active:
                self._recover_active(session)
            else:
                self._remove_files(session)
            self._sessions[session.session_id] = session
            if session.active and session.notify == "None":
                self._holders[destination_key(session.destination)] = session.session_id
        for name in os.listdir(self.directory):
            if name.endswith((_STAGING_SUFFIX, _REPLY_SUFFIX)) and name not in known:
                log.info("upload store: removing %s, which no session owns", name)
                with contextlib.suppress(OSError):
                    os.unlink(self.directory / name)
        if rows:
            log.info("upload store: %d session(s) recovered from %s", len(self._sessions), self.directory)

    def _recover_active(self, session: UploadSession) -> None:
        path = self.staging_path(session)
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            size = None
        if size is None and session.state is SessionState.UPLOADED:
            # Only a commit removes the staging file of an UPLOADED session: the rename happened.
            session.advance(SessionEvent.CLOSE)
            self._write_row(session)
            return
        trusted = min(session.durable, size or 0)
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o666)
        try:
            if size != trusted:
                os.ftruncate(fd, trusted)
                os.fsync(fd)
        finally:
            os.close(fd)
        if session.state is SessionState.UPLOADED and trusted != session.total:
            # Cannot happen (complete fsyncs first); a damaged staging file starts over.
            log.error(
                "upload session %s: staging file shorter than recorded; receiving again", session.session_id
            )
            session.state = SessionState.RECEIVING
        if trusted != session.durable:
            log.warning(
                "upload session %s: staging file has %d of the %d bytes recorded; resuming from %d",
                session.session_id,
                size or 0,
                session.durable,
                trusted,
            )
        session.received = session.durable = trusted
        self._write_row(session)


def _session_of(row: tuple[Any, ...]) -> UploadSession:
    """A session from its index row.

    Raises:
        ValueError, TypeError: the row does not hold a session.
    """
    values = {attr: value for (_, attr, _), value in zip(_FIELDS, row, strict=True)}
    session = UploadSession(
        **{k: v for k, v in values.items() if k not in ("state", "notified", "copy_to_destination")}
    )
    session.state = SessionState(values["state"])
    session.notified = bool(values["notified"])
    session.copy_to_destination = bool(values["copy_to_destination"])
    session.received = session.durable = int(session.durable)
    return session


def _copy_path(session: UploadSession) -> str:
    folder, name = os.path.split(session.destination)
    return os.path.join(folder, f".{name}.{_file_name(session.session_id)}{_COPY_SUFFIX}")


def _place(source: str, destination: str, allow_overwrite: bool) -> None:
    """Rename ``source`` to ``destination``; without ``allow_overwrite`` never replace a file.

    Raises:
        DestinationExists: the destination exists and may not be replaced.
        OSError: EXDEV when they are on different file systems, or another failure.
    """
    if allow_overwrite:
        os.replace(source, destination)
        return
    if sys.platform == "win32":
        try:
            os.rename(source, destination)  # fails when the destination exists
        except FileExistsError:
            raise DestinationExists(destination) from None
        return
    try:
        os.link(source, destination)  # atomic "create unless it exists"
    except FileExistsError:
        if os.path.samefile(source, destination):  # our own link: a crash came before the unlink
            os.unlink(source)
            return
        raise DestinationExists(destination) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # A file system without hard links (FAT, some FUSE): check, then rename (a short race).
        if os.path.lexists(destination):
            raise DestinationExists(destination) from None
        os.rename(source, destination)
        return
    os.unlink(source)
