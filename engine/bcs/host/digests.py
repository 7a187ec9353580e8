"""SHA-256 digests of hosted files (``url.create`` with ``sha256: true``), served as ``Repr-Digest``.

Owns the record of each file's digest and the one thread that computes them. A record is taken
the first time a file is seen (at ``url.create`` for a file URL, at the first request for a file
below a directory URL) and pins the file's content: the file's size and mtime are compared with
the record on every request, and a file whose size or mtime changed is hashed again before it is
served. Same content (a touch, a copy of the same bytes) -> the record follows the new size/mtime
and the file is served; other content -> the file is ``changed``: refused (409) until its URL is
published again (``url.delete`` + ``url.create``), which drops the records below its source. A
file is never served under a digest it does not have.

States a request sees (``DigestStore.check``): ``KNOWN`` (serve, with the digest), ``PENDING``
(being hashed: 503 + ``Retry-After``, which BITS clients retry), ``CHANGED`` (409).

Records persist in ``<state dir>/digests.json`` (written atomically), so a file changed while the
engine was stopped is still caught. Hashing reads the file in ``DIGEST_READ_CHUNK`` pieces
(hashlib releases the GIL on large updates, so requests go on meanwhile); a file that changes
while it is hashed is hashed again.
"""

from __future__ import annotations

import base64
import collections
import enum
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bcs import tunables
from bcs.durable import write_atomic

__all__ = ["DigestState", "DigestStore", "repr_digest"]

log = logging.getLogger("bcs.host")


class DigestState(enum.Enum):
    KNOWN = "Known"
    PENDING = "Pending"
    CHANGED = "Changed"


@dataclass
class _Record:
    size: int
    mtime_ns: int
    sha256: str  # hex
    changed: bool = False  # the file now holds other content (observed below)
    observed: str = ""  # the other content's digest, for the log and url.get

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": self.size, "mtimeNs": self.mtime_ns, "sha256": self.sha256}
        if self.changed:
            out["changed"] = True
            out["observed"] = self.observed
        return out


def repr_digest(hex_digest: str) -> str:
    """The ``Repr-Digest`` field value (RFC 9530) of a SHA-256 given in hex."""
    return "sha-256=:" + base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii") + ":"


def _hash(path: str) -> tuple[str, int, int] | None:
    """(hex digest, size, mtime_ns) of a file that did not change while it was read; None if it did."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        before = os.fstat(fh.fileno())
        while chunk := fh.read(tunables.DIGEST_READ_CHUNK):
            digest.update(chunk)
        after = os.fstat(fh.fileno())
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        return None
    return digest.hexdigest(), after.st_size, after.st_mtime_ns


class DigestStore:
    """File path -> its pinned digest; one hashing thread; persisted in ``digests.json``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: kept in memory only (no state directory)
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)  # a file's hashing ended
        self._records: dict[str, _Record] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._queued: set[str] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---
    def open(self) -> None:
        if self.path is not None and self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                for name, r in data.get("files", {}).items():
                    self._records[name] = _Record(
                        int(r["size"]),
                        int(r["mtimeNs"]),
                        str(r["sha256"]),
                        bool(r.get("changed", False)),
                        str(r.get("observed", "")),
                    )
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                # Fail closed: without the records every file is hashed again and pinned anew, which
                # would accept a file changed while the engine was stopped. Say so loudly.
                log.error("%s cannot be read (%s): digests are computed again from the files", self.path, exc)
        self._thread = threading.Thread(target=self._run, name="bcs-digests", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(tunables.THREAD_JOIN_TIMEOUT)
            self._thread = None

    # --- what requests ask ---
    def check(self, path: str, size: int, mtime_ns: int) -> tuple[DigestState, str]:
        """The state of ``path`` as opened (its fstat size and mtime) and its digest when KNOWN."""
        with self._lock:
            record = self._records.get(path)
            if record is not None and record.changed:
                return DigestState.CHANGED, record.sha256
            if record is not None and (record.size, record.mtime_ns) == (size, mtime_ns):
                return DigestState.KNOWN, record.sha256
            self._enqueue(path)
            return DigestState.PENDING, record.sha256 if record is not None else ""

    def describe(self, path: str) -> dict[str, Any]:
        """What ``url.get`` shows of a file URL: state and digest (hex) when known."""
        try:
            st = os.stat(path)
        except OSError:
            return {"digestState": DigestState.PENDING.value, "sha256Digest": None}
        state, digest = self.check(path, st.st_size, st.st_mtime_ns)
        return {"digestState": state.value, "sha256Digest": digest if state is DigestState.KNOWN else None}

    def wait(self, path: str, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for ``path``'s hashing to end (url.create of a small file)."""
        with self._lock:
            self._done.wait_for(lambda: path not in self._queued, timeout)

    # --- what the API changes ---
    def watch(self, path: str) -> None:
        """Hash ``path`` now (in the background) unless its record is current."""
        try:
            st = os.stat(path)
        except OSError:
            return
        self.check(path, st.st_size, st.st_mtime_ns)

    def forget(self, source: str) -> None:
        """Drop the records of ``source`` and of every file below it (its URL is published anew)."""
        below = source.rstrip(os.sep) + os.sep
        with self._lock:
            gone = [p for p in self._records if p == source or p.startswith(below)]
            for name in gone:
                del self._records[name]
            if gone:
                self._save()

    # --- the hashing thread ---
    def _enqueue(self, path: str) -> None:
        if path not in self._queued:
            self._queued.add(path)
            self._queue.append(path)
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            while not self._stop.is_set():
                with self._lock:
                    if not self._queue:
                        break
                    path = self._queue[0]
                try:
                    result = _hash(path)
                except OSError as exc:
                    log.warning("digest of %s: %s", path, exc.strerror or exc)
                    result = None
                    failed = True
                else:
                    failed = False
                with self._lock:
                    self._queue.popleft()
                    if result is None and not failed:
                        self._queue.append(path)  # it changed while read: again, after the others
                        continue
                    self._queued.discard(path)
                    if result is not None:
                        self._record(path, *result)
                    self._done.notify_all()

    def _record(self, path: str, digest: str, size: int, mtime_ns: int) -> None:
        record = self._records.get(path)
        if record is None:
            self._records[path] = _Record(size, mtime_ns, digest)
        elif record.changed:
            return
        elif digest == record.sha256:
            record.size, record.mtime_ns = size, mtime_ns  # touched or rewritten with the same bytes
        else:
            record.changed, record.observed = True, digest
            log.warning(
                "%s changed since its SHA-256 was recorded (%s, now %s): refused until its URL is "
                "published again",
                path,
                record.sha256,
                digest,
            )
        self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        data = {"version": 1, "files": {name: r.to_dict() for name, r in sorted(self._records.items())}}
        try:
            write_atomic(self.path, json.dumps(data, indent=1).encode("utf-8"))
        except OSError as exc:
            log.error("writing %s failed: %s", self.path, exc)
