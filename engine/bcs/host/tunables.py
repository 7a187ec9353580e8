"""Tunables of the file host, one comment each (an extension of ``bcs.tunables``).

Administrator settings (connection and bandwidth limits, maximum URL groups, access log) live in
``config.yaml``; these are the fixed sizes and timeouts of the HTTP side.
"""

from __future__ import annotations

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
CHANNEL_TIMEOUT: Final = 300  # seconds an idle connection stays open (waitress 120; BITS waits 5 min)
LISTEN_RETRY_SECONDS: Final = 10.0  # a port that was in use is tried again this often (HTTP.SYS: no retry)
STOP_TIMEOUT: Final = 5.0  # seconds to wait for a listener's threads when it stops
