"""Every tunable of the engine in one table: a comment each, with the BITS default beside it.

Values here are defaults; settings that an administrator changes live in ``config.yaml`` and
override them (``bcs.config``). Nothing else in the engine hard-codes a limit, timeout or size.
"""

from __future__ import annotations

from typing import Final

# --- Management transport -------------------------------------------------------------------------
PIPE_NAME: Final = "BitsCompactServer"  # pipe name of the original product; BCS_PIPE_NAME overrides
RPC_MAX_LINE: Final = 4 * 1024 * 1024  # longest JSON-RPC request line accepted (bytes)
RPC_MAX_CONNECTIONS: Final = 64  # simultaneous management connections; more are refused
RPC_IDLE_TIMEOUT: Final = 3600.0  # seconds a management connection may stay silent
RPC_MAX_BATCH: Final = 1000  # calls in one JSON-RPC batch
RPC_MAX_DEPTH: Final = 64  # nesting of arrays/objects in one request line; deeper is refused (-32600)
RPC_MAX_INTEGER: Final = 2**63 - 1  # largest magnitude of a JSON/YAML integer (int64, as .NET's long)
SHOWN_VALUE_CHARS: Final = 200  # characters of a rejected value quoted in an error message or log line
RPC_LOG_LINE_CHARS: Final = 1000  # characters of one rejection log line; the rest is cut, length noted
RPC_LOG_BURST: Final = 20  # rejection log lines of one kind (method + outcome) per window; then counted
RPC_LOG_WINDOW: Final = 60.0  # seconds of that window; one "suppressed K similar lines" line closes it

# --- Bandwidth (bcs.bandwidth.TokenBucket) --------------------------------------------------------
HOST_BUCKET_BURST: Final = (
    0.05  # seconds of rate an idle host bucket lets out at once to a non-blocking sender
)
CLIENT_BUCKET_BURST: Final = 0.25  # seconds of rate an idle client bucket lets in before pacing starts
BUCKET_WAIT_STEP: Final = 0.1  # longest sleep of a paced client read between two looks at cancellation

# --- Config ---------------------------------------------------------------------------------------
MAX_URL_GROUPS: Final = 25  # BITS Compact Server sizing (25 groups); configurable up to 100 000
CONNECTION_LIMIT: Final = 3  # simultaneous transfers per URL group (original default)
MAX_CONNECTION_LIMIT: Final = 1_000_000  # the highest connectionLimit a URL group accepts
MIN_BANDWIDTH_LIMIT: Final = 1024  # bytes/s; the original refused anything lower
LOG_FILE_BYTES: Final = 10 * 1024 * 1024  # rotating engine log, size of one file
LOG_FILE_COUNT: Final = 5  # rotated engine log files kept

# --- BITS client (bits-protocol.md section 3) ------------------------------------------------------
MINIMUM_RETRY_DELAY: Final = 600  # seconds (BITS default 600, floor 5)
MINIMUM_RETRY_DELAY_FLOOR: Final = 5  # seconds (COM floor)
NO_PROGRESS_TIMEOUT: Final = 1_209_600  # seconds, 14 days (BITS default)
MAX_DOWNLOAD_TIME: Final = 7_776_000  # seconds, 90 days (BITS 3+ default)
DISPLAY_NAME_MAX: Final = 256  # characters
DESCRIPTION_MAX: Final = 1024  # characters
MAX_FILES_PER_JOB: Final = 200  # BITS MaxFilesPerJob policy default
CLIENT_CONNECT_TIMEOUT: Final = 60.0  # seconds to connect to a server (BITS: request send 5 min)
CLIENT_READ_TIMEOUT: Final = 300.0  # seconds without response data before a transient error (BITS 5 min)
CLIENT_MAX_REDIRECTS: Final = 10  # redirects followed per request
CLIENT_READ_BLOCK: Final = 1024 * 1024  # bytes read from the socket and written to the temp file at once
CLIENT_CHECKPOINT_BYTES: Final = 4 * 1024 * 1024  # progress persisted to jobs.db at least this often
CLIENT_CHECKPOINT_SECONDS: Final = 2.0  # ... and at least this often while bytes arrive (slow links)
CLIENT_PROGRESS_INTERVAL: Final = 0.25  # seconds between changeCount bumps for progress (job.wait)
CLIENT_TIME_SLICE: Final = 60.0  # seconds a background job runs before others of its priority get a turn
CLIENT_SCHEDULER_TICK: Final = 0.5  # seconds between two looks of the job scheduler at the timers of its jobs
CLIENT_TOMBSTONE_SECONDS: Final = 3600.0  # Acknowledged/Cancelled jobs answer job.get this long (memory only)
CLIENT_TOMBSTONE_MAX: Final = 1000  # ... but only the most recent ones (memory bound at high job rates)
CLIENT_STOP_JOIN: Final = 10.0  # seconds to wait for a transfer thread to stop (suspend, shutdown)
