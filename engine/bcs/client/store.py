"""The job store: ``jobs.db`` (SQLite, WAL) in the state directory, one JSON record per job.

Why one JSON record per job: a job and its files are always read and written together (every
state change and every progress checkpoint rewrites the whole record in one transaction), so a
crash leaves either the old or the new record, never a job whose files disagree with its state.
WAL with ``synchronous=NORMAL`` makes a commit durable against a process crash (``kill -9``)
without an fsync per checkpoint; a power loss may lose the last checkpoints, which only makes a
download resume from an earlier offset.

The file is created 0600 because it holds job credentials (passwords) in clear text.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
from pathlib import Path

from bcs.client.job import Job

__all__ = ["JobStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL
)
"""


class JobStore:
    """Persistent jobs; thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        if sys.platform != "win32":
            os.chmod(path, 0o600)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def load(self) -> list[Job]:
        """Every stored job, in creation order."""
        with self._lock:
            rows = self._db.execute("SELECT seq, data FROM jobs ORDER BY seq").fetchall()
        return [Job.from_record(json.loads(data), seq) for seq, data in rows]

    def insert(self, job: Job) -> None:
        data = json.dumps(job.to_record(), separators=(",", ":"))
        with self._lock:
            cur = self._db.execute("INSERT INTO jobs (job_id, data) VALUES (?, ?)", (job.job_id, data))
        job.seq = cur.lastrowid or 0

    def save(self, job: Job) -> None:
        data = json.dumps(job.to_record(), separators=(",", ":"))
        with self._lock:
            self._db.execute("UPDATE jobs SET data = ? WHERE job_id = ?", (data, job.job_id))

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
