"""Tunables of the file host, one comment each (an extension of ``bcs.tunables``).

Administrator settings (connection and bandwidth limits, maximum URL groups, access log) live in
``config.yaml``; these are the fixed sizes and timeouts of the HTTP side. The defences against
slow and idle clients are server-wide constants, not ``config.yaml`` settings: like HTTP.SYS's
timeouts they protect the server rather than shape one group's service, and a wrong value (a
header deadline of 0) would only open the hole again. Tests shorten them with ``tuned``.
"""

from __future__ import annotations

import os
from typing import Final

# --- Requests -------------------------------------------------------------------------------------
MAX_PATH_BYTES: Final = 4096  # longest decoded request path; longer gets 414 (HTTP.SYS: 260 chars/segment)
MAX_SEGMENT_BYTES: Final = 255  # longest path segment (NAME_MAX on Linux, 255 on NTFS); longer gets 414
MAX_LISTING_ENTRIES: Final = 10_000  # entries shown by a directory listing
RETRY_AFTER_SECONDS: Final = 5  # Retry-After of a 503 beyond the connection limit (BITS retries anyway)

# --- Bodies ---------------------------------------------------------------------------------------
READ_CHUNK: Final = 256 * 1024  # bytes read per step for file_wrapper and iterated bodies
SENDFILE_CHUNK: Final = 64 * 1024 * 1024  # most bytes handed to one sendfile() call
SEND_BUFFER: Final = 4 * 1024 * 1024  # SO_SNDBUF of served connections where wmem_max allows (0: autotune)
PACE_STEPS: Final = 20  # a throttled transfer sends rate/20 bytes per step (20 steps a second)
PACE_TICK: Final = 0.02  # seconds a throttled file body waits before asking its bucket again
MIN_PACED_CHUNK: Final = 1024  # smallest paced step (the minimum bandwidth limit is 1024 B/s)

# --- Listeners (waitress) -------------------------------------------------------------------------
BASE_THREADS: Final = 4  # worker threads of a listener beyond its groups' connection limits (waitress: 4)
UNLIMITED_GROUP_THREADS: Final = 8  # threads counted for a group whose connection limit is 0
MAX_THREADS: Final = 256  # worker threads of one listener at most
MAX_CONNECTIONS: Final = 1000  # open connections per listener (waitress default 100)
DRAIN_IDLE: Final = 32  # idle connections closed at once when MAX_CONNECTIONS is reached (nginx: up to 32)
LISTEN_RETRY_SECONDS: Final = 10.0  # a port that was in use is tried again this often (HTTP.SYS: no retry)
STOP_TIMEOUT: Final = 5.0  # seconds to wait for a listener's threads when it stops
OPEN_FILES: Final = 65536  # the engine raises its soft RLIMIT_NOFILE towards this (hard limit permitting)

# --- Slow, idle and greedy clients (per listener; the HTTP.SYS and nginx defaults beside each) ----
# Checked by a sweep every quarter of the shortest of the three timeouts (15 s with these values),
# only while the listener has connections: a timeout fires up to a quarter late.
HEADER_TIMEOUT: Final = 60.0  # s for a whole request head, from accept or from its first byte,
#                               whatever the byte rate (nginx client_header_timeout 60 s, HTTP.SYS HeaderWait 120 s)
IDLE_TIMEOUT: Final = 120.0  # s a keep-alive connection waits for its next request, or a request
#                              body for its next byte (HTTP.SYS IdleConnection and EntityBody 120 s, nginx keepalive_timeout 75 s)
MIN_SEND_RATE: Final = 150  # B/s a client must take a response at, measured over SEND_RATE_WINDOW;
#                             slower closes the connection and frees its transfer slot (HTTP.SYS MinSendRate 150 B/s)
SEND_RATE_WINDOW: Final = 60.0  # s over which MIN_SEND_RATE is measured; time a bandwidth limit
#                                 holds the body back does not count (nginx send_timeout 60 s)
CONNECTIONS_PER_ADDRESS: Final = 64  # open connections of one client address on one port; more are
#                                      closed at accept (nginx limit_conn: off, its docs' example 1; HTTP.SYS: none)


def tuned(name: str) -> float:
    """The tunable ``name``, or the test-only variable ``BCS_TEST_<name>`` (never set in production)."""
    override = os.environ.get(f"BCS_TEST_{name}")
    return float(override) if override else float(globals()[name])
