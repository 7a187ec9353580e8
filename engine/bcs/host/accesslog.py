"""The access log: one line per HTTP request, written in batches off the request path.

Line format (space-separated, never containing spaces itself)::

    2026-11-21T08:30:00.123Z 127.0.0.1 GET /Demo/hello.txt 200 1234 0.003 -
    time (UTC)               client    method URL (as sent) status bytes seconds user [why]

``user`` is the name the request authenticated as (``Exchange.user``: a client certificate's UPN
or CN), or the name refused credentials carried; ``-`` when anonymous. ``why`` is there only
when the engine refused a request for a reason the status alone does not say, e.g.
``refused:authentication-not-enforced`` or ``refused:no-client-certificate`` (see ``bcs.host.app``).

With ``server.accessLogFormat: json`` each line is one JSON object with the same fields (a log
shipper reads it without a pattern); ``why`` is omitted when empty and ``user`` is null when
anonymous::

    {"time": "2026-11-21T08:30:00.123Z", "client": "127.0.0.1", "method": "GET",
     "url": "/Demo/hello.txt", "status": 200, "bytes": 1234, "seconds": 0.003, "user": null}

A request only appends a tuple to a deque (about a microsecond); a writer thread formats and
writes what has accumulated every ``ACCESS_LOG_FLUSH_INTERVAL`` seconds with one ``write``, and sleeps
while nothing is logged (an idle engine does not wake up for it). Measured: a
``logging`` call with a flushing file handler per request cost 68 us, a third of the time the
engine spends on a 64 KiB request. The lines also go to the ``bcs.access`` logger when a handler
is attached to it (an embedding application may want them); the engine's own log does not get them.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from pathlib import Path
from urllib.parse import quote

from bcs import tunables

__all__ = ["AccessLog", "Entry"]

logger = logging.getLogger("bcs.access")
logger.propagate = False

# Kept as is in the user field: UPNs (alice@example.com) and Windows names (DOMAIN\user) stay readable.
_USER_SAFE = "@.-_\\"

# time (epoch s), client, method, raw URI, status, bytes, seconds, user, why ("" for most requests)
Entry = tuple[float, str, str, str, int, int, float, str, str]


class AccessLog:
    """An append-only access.log fed by request threads, written by one writer thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: collections.deque[Entry] = collections.deque()
        self._stop = threading.Event()
        self._pending = threading.Event()  # set by record(): there is something to write
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._thread = threading.Thread(target=self._run, name="bcs-access-log", daemon=True)
        self._thread.start()
        self._second = -1
        self._stamp = ""
        self.format = "text"  # or "json" (server.accessLogFormat); read by the writer thread only

    def record(self, entry: Entry) -> None:
        self._entries.append(entry)
        if not self._pending.is_set():
            self._pending.set()

    def flush(self) -> None:
        """Write what has accumulated (the writer thread does this on its own)."""
        entries = self._entries
        if not entries:
            return
        lines = []
        while entries:
            lines.append(self._format(entries.popleft()))
        text = "".join(lines)
        if self._fh.closed:
            return
        self._fh.write(text)
        self._fh.flush()
        if logger.handlers:
            for line in lines:
                logger.info(line.rstrip("\n"))

    def close(self) -> None:
        self._stop.set()
        self._pending.set()
        self._thread.join(tunables.THREAD_JOIN_TIMEOUT)
        self.flush()
        self._fh.close()

    def _run(self) -> None:
        while True:
            self._pending.wait()
            stopping = self._stop.wait(
                tunables.ACCESS_LOG_FLUSH_INTERVAL
            )  # gather a moment's lines into one write
            self._pending.clear()  # before flushing: a line recorded meanwhile sets it again
            try:
                self.flush()
            except Exception:  # a full disk must not kill the writer; the engine log says why
                logging.getLogger("bcs.host").exception("writing %s failed", self.path)
            if stopping:
                return

    def _format(self, entry: Entry) -> str:
        when, client, method, uri, status, nbytes, seconds, user, why = entry
        second = int(when)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        if client.startswith("::ffff:"):
            client = client[7:]
        if self.format == "json":
            record: dict[str, object] = {
                "time": f"{self._stamp}.{int(when * 1000) % 1000:03d}Z",
                "client": client or None,
                "method": method,
                "url": uri,
                "status": status,
                "bytes": nbytes,
                "seconds": round(seconds, 3),
                "user": user or None,
            }
            if why:
                record["why"] = why
            # ensure_ascii: a URL's lone surrogates or control characters stay escaped, one line each
            return json.dumps(record, ensure_ascii=True, separators=(", ", ": ")) + "\n"
        return (
            f"{self._stamp}.{int(when * 1000) % 1000:03d}Z {client or '-'} {method} "
            f"{quote(uri, safe='/%?=&;:@!$()*+,~[]')} {status} {nbytes} {seconds:.3f} "
            f"{quote(user, safe=_USER_SAFE) if user else '-'}{' ' + why if why else ''}\n"
        )
