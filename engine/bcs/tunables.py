"""Every tunable of the engine in one table: a comment each, with the BITS default beside it.

Values here are defaults; settings that an administrator changes live in ``config.yaml`` and
override them (``bcs.config``). Nothing else in the engine hard-codes a limit, timeout or size.
The file host's defences against slow and idle clients are fixed here, not ``config.yaml``
settings: like HTTP.SYS's timeouts they protect the server rather than shape one group's service,
and a wrong value (a header deadline of 0) would only open the hole again.

Tests shorten a few of them through ``tuned`` and a test-only ``BCS_TEST_<name>`` environment
variable (never set in production); that function is the only place that reads those variables.
"""

from __future__ import annotations

import os
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

# --- Threads --------------------------------------------------------------------------------------
THREAD_JOIN_TIMEOUT: Final = (
    5.0  # seconds to wait for a helper thread (job scheduler, access-log writer) to end
)

# --- Config ---------------------------------------------------------------------------------------
MAX_URL_GROUPS: Final = 25  # BITS Compact Server sizing (25 groups); configurable up to 100 000
CONNECTION_LIMIT: Final = 3  # simultaneous transfers per URL group (original default)
MAX_CONNECTION_LIMIT: Final = 1_000_000  # the highest connectionLimit a URL group accepts
MIN_BANDWIDTH_LIMIT: Final = 1024  # bytes/s; the original refused anything lower
LOG_FILE_BYTES: Final = 10 * 1024 * 1024  # rotating engine log, size of one file
LOG_FILE_COUNT: Final = 5  # rotated engine log files kept
DIGEST_READ_CHUNK: Final = 1 << 20  # bytes per read while hashing a hosted file (bcs.host.digests)
DIGEST_CREATE_WAIT: Final = 2.0  # seconds url.create waits for a new file's digest before answering
METRICS_IDLE_TIMEOUT: Final = 10.0  # seconds a /metrics connection may stay idle (one thread each)

# --- Bandwidth (bcs.bandwidth.TokenBucket) --------------------------------------------------------
HOST_BUCKET_BURST: Final = (
    0.05  # seconds of rate an idle host bucket lets out at once to a non-blocking sender
)
CLIENT_BUCKET_BURST: Final = 0.25  # seconds of rate an idle client bucket lets in before pacing starts
BUCKET_WAIT_STEP: Final = 0.1  # longest sleep of a paced client read between two looks at cancellation

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
#                                  (BCS_TEST_TIME_SLICE)
CLIENT_SCHEDULER_TICK: Final = 0.5  # seconds between two looks of the job scheduler at the timers of its jobs
CLIENT_TOMBSTONE_SECONDS: Final = 3600.0  # Acknowledged/Cancelled jobs answer job.get this long (memory only)
CLIENT_TOMBSTONE_MAX: Final = 1000  # ... but only the most recent ones (memory bound at high job rates)
CLIENT_STOP_JOIN: Final = 10.0  # seconds to wait for a transfer thread to stop (suspend, shutdown)
CLIENT_RANGE_RESTARTS: Final = (
    2  # a resumed file answered 416 starts again from 0 while it restarted fewer times
)
CLIENT_FILE_RESTARTS: Final = (
    3  # restarts of one file in one turn (416, changed Last-Modified); one more fails it
)
# Uploads (bits-protocol.md 2.5). Fragments adapt to the link: each is sized to take about
# CLIENT_UPLOAD_FRAGMENT_SECONDS at the rate the last one went (at most doubling), between the
# floor and the ceiling; a 413 halves the ceiling for the rest of the turn, never below the floor.
CLIENT_UPLOAD_FRAGMENT_FIRST: Final = 1024 * 1024  # bytes of a turn's first fragment
CLIENT_UPLOAD_FRAGMENT_MAX: Final = 32 * 1024 * 1024  # bytes of a fragment at most (Windows: 13 MB;
#                                                       our server takes up to 64 MiB, UPLOAD_MAX_FRAGMENT)
CLIENT_UPLOAD_FRAGMENT_MIN: Final = 5120  # bytes: a 413 never shrinks a fragment below this (Windows: 5 KB)
CLIENT_UPLOAD_FRAGMENT_SECONDS: Final = 2.0  # the time one fragment should take: a stop or a crash
#                                              costs at most that much resending
CLIENT_UPLOAD_SEND_BLOCK: Final = 1024 * 1024  # bytes read from the local file and sent at once
CLIENT_UPLOAD_NEW_SESSIONS: Final = 3  # sessions a turn may start after the server lost one
#                                        (BG_E_SESSION_NOT_FOUND); one more is BG_E_NO_PROGRESS, transient
CLIENT_UPLOAD_STALLS: Final = 3  # Acks in a row that move the upload nowhere; one more is an invalid response
CLIENT_SESSION_END_TIMEOUT: Final = 30.0  # s to connect and to wait for the Ack of the Close-Session
#                                           of job.complete and the Cancel-Session of job.cancel
CLIENT_REPLY_DATA_MAX: Final = 1024 * 1024  # bytes of an upload reply job.get returns (GetReplyData: 1 MB)

# --- Principal -> SID resolution (bcs.auth.sids) ------------------------------------------------------
SID_CACHE_SECONDS: Final = 300  # default auth.ldap.cacheSeconds: a name's SIDs are used this long
#                                 (Windows: a token keeps its groups for the logon's life; we re-read sooner)
SID_CACHE_MAX_SECONDS: Final = 86_400  # the highest cacheSeconds accepted (a day)
SID_CACHE_ENTRIES: Final = 10_000  # names cached at most; the least recently used is dropped
SID_REFRESH_AT: Final = 0.5  # a name read again after this fraction of cacheSeconds is refreshed in the
#                              background, so no request waits for LDAP while it stays in use
LDAP_CONNECT_TIMEOUT: Final = 5.0  # s to open the TCP connection to the DC (BCS_TEST_LDAP_CONNECT_TIMEOUT)
LDAP_RECEIVE_TIMEOUT: Final = (
    10.0  # s for the TLS handshake and each LDAP answer (BCS_TEST_LDAP_RECEIVE_TIMEOUT)
)
LDAP_RETRY_SECONDS: Final = 10  # after a failure, lookups fail at once this long, and their 503 says
#                                 Retry-After: this (BCS_TEST_LDAP_RETRY_SECONDS)
MAX_PRINCIPAL_NAME: Final = 1024  # characters of a principal name looked up; longer is refused

# --- File host: requests --------------------------------------------------------------------------
MAX_PATH_BYTES: Final = 4096  # longest decoded request path; longer gets 414 (HTTP.SYS: 260 chars/segment)
MAX_SEGMENT_BYTES: Final = 255  # longest path segment (NAME_MAX on Linux, 255 on NTFS); longer gets 414
MAX_LISTING_ENTRIES: Final = 10_000  # entries shown by a directory listing
RETRY_AFTER_SECONDS: Final = 5  # Retry-After of a 503 beyond the connection limit (BITS retries anyway)
ACCESS_LOG_FLUSH_INTERVAL: Final = 0.25  # seconds between two writes of the access log (lines gathered)

# --- File host: bodies ----------------------------------------------------------------------------
READ_CHUNK: Final = 256 * 1024  # bytes read per step for file_wrapper and iterated bodies
SENDFILE_CHUNK: Final = 64 * 1024 * 1024  # most bytes handed to one sendfile() call
SEND_BUFFER: Final = 4 * 1024 * 1024  # SO_SNDBUF of served connections where wmem_max allows (0: autotune)
PACE_STEPS: Final = 20  # a throttled transfer sends rate/20 bytes per step (20 steps a second)
PACE_TICK: Final = 0.02  # seconds a throttled file body waits before asking its bucket again
MIN_PACED_CHUNK: Final = 1024  # smallest paced step (the minimum bandwidth limit is 1024 B/s)
# Bytes read and handed to OpenSSL per step of an https file body: with 64 KiB the engine spent
# 12-23 % more CPU per GiB than with 256 KiB; 256 KiB, 512 KiB and 1 MiB were alike within the noise
# of three A/B runs (README "Benchmarks"), and the smallest costs the least memory per sender.
TLS_SEND_CHUNK: Final = 256 * 1024
TLS_SEND_BUFFERS_KEPT: Final = 8  # idle TLS_SEND_CHUNK buffers kept for the next bodies (the rest freed)

# --- File host: BITS uploads (bits-protocol.md section 2; the IIS default beside each) -------------
UPLOAD_MAX_FRAGMENT: Final = 64 * 1024 * 1024  # bytes of one Fragment body; larger gets 413 and the
#                                                client sends smaller ones (Windows sends at most 13 MB)
UPLOAD_CHUNK: Final = 1024 * 1024  # bytes moved from a request body to the staging file at once
UPLOAD_CHECKPOINT_BYTES: Final = 64 * 1024 * 1024  # progress is fsynced and recorded at least this
#                                                    often (what a crash costs in resending at most)
UPLOAD_CHECKPOINT_SECONDS: Final = 5.0  # ... and at least this often while bytes arrive (slow links)
#                                         (BCS_TEST_UPLOAD_CHECKPOINT_BYTES, _SECONDS)
UPLOAD_SESSION_TIMEOUT: Final = 1_209_600  # s without progress, then deleted (BITSSessionTimeout 14 d)
UPLOAD_CLEANUP_INTERVAL: Final = 43_200.0  # s between sweeps of expired sessions (BITS: every 12 h)
#                                            (BCS_TEST_UPLOAD_CLEANUP_INTERVAL)
UPLOAD_TOMBSTONE_SECONDS: Final = 3600.0  # s a closed or cancelled session still answers a resent
#                                           Close/Cancel, whose Ack was lost (BCS_TEST_UPLOAD_TOMBSTONE_SECONDS)
UPLOAD_EMPTY_SESSION_HOLD: Final = 120.0  # s a session that received nothing holds its destination;
#                                           then a new Create-Session takes it over (the Ack of the
#                                           first may have been lost) (BCS_TEST_UPLOAD_EMPTY_SESSION_HOLD)
UPLOAD_NOTIFY_TIMEOUT: Final = 300.0  # s to connect to a server application and for each read of its
#                                       answer (IIS: 5 min each) (BCS_TEST_UPLOAD_NOTIFY_TIMEOUT)
UPLOAD_SESSIONS_PER_USER: Final = 50  # active sessions of a user in a group (BITSNumberOfSessionsLimit)
UPLOAD_HOST_ID_FALLBACK: Final = 86_400  # s, BITS-Host-Id-Fallback-Timeout (BITSHostIdFallbackTimeout 1 d)
MAX_UPLOAD_SESSION_TIMEOUT: Final = 31_536_000  # s, the longest sessionTimeout accepted (a year)
MAX_HOST_ID_CHARS: Final = 300  # characters of hostId (IIS limit)
MAX_NOTIFICATION_URL_CHARS: Final = 2200  # characters of notificationUrl (IIS limit)

# --- File host: listeners (waitress) --------------------------------------------------------------
BASE_THREADS: Final = 4  # worker threads of a listener beyond its groups' connection limits (waitress: 4)
UNLIMITED_GROUP_THREADS: Final = 8  # threads counted for a group whose connection limit is 0
MAX_THREADS: Final = 256  # worker threads of one listener at most
MAX_CONNECTIONS: Final = 1000  # open connections per listener (waitress default 100)
RECV_BYTES: Final = 256 * 1024  # bytes read from a socket at once (waitress: 8192). Upload bodies
#                                 arrive this way: 1 GiB of 64 MiB fragments took 4.3 engine CPU s at
#                                 8192, 1.7-2.0 s at 256 KiB
ACCEPTS_PER_WAKEUP: Final = 64  # connections accepted in one wake-up while refused ones keep coming
DRAIN_IDLE: Final = 32  # idle connections closed at once when MAX_CONNECTIONS is reached (nginx: up to 32)
LISTEN_RETRY_SECONDS: Final = 10.0  # a port that was in use is tried again this often (HTTP.SYS: no retry)
CERT_EXPIRY_WARNING_DAYS: Final = 30  # a bound certificate this close to its end is warned about in the log
TLS_LISTEN_BACKLOG: Final = 1024  # https ports' listen() backlog (cheroot's 5 made connects wait)
#                                     (BCS_TEST_LISTEN_RETRY)
STOP_TIMEOUT: Final = 5.0  # seconds to wait for a listener's threads when it stops
OPEN_FILES: Final = 65536  # the engine raises its soft RLIMIT_NOFILE towards this (hard limit permitting)

# --- File host: authentication ---------------------------------------------------------------------
CLIENT_CERT_CACHE_SIZE: Final = 1024  # parsed client certificates kept (~1 KiB each; reading one ~80 us)
MAX_PRINCIPAL_NAME_CHARS: Final = 1024  # longest name taken from a client certificate (UPN or CN)
# --- File host: NTLM and Negotiate handshakes (bcs.auth.negotiate) --------------------------------
NEGOTIATE_MAX_PENDING: Final = 4096  # half-done handshakes held at once, engine-wide; the oldest is dropped
#                                      for a new one (one per connection at most, so open connections bound it too)
NEGOTIATE_HANDSHAKE_TIMEOUT: Final = 60.0  # s from a handshake's first token to its last; later legs are
#                                            refused and it starts over (NTLM and SPNEGO take 2 round trips)
NEGOTIATE_MAX_TOKEN: Final = 65536  # base64 characters of one Authorization token (Windows' Kerberos
#                                     MaxTokenSize is 48 000 bytes, 64 000 in base64); longer is refused unread
BASIC_CACHE_SECONDS: Final = 60.0  # a Basic user name + password checked once per minute, not per request
#                                   (IIS caches a Basic logon token 15 min; a shorter one lets a changed
#                                   password take effect sooner); HMAC digests only, in memory
BASIC_CACHE_ENTRIES: Final = 4096  # remembered Basic successes at most (least recently used dropped)

# --- File host: slow, idle and greedy clients (per listener; the HTTP.SYS and nginx defaults beside each)
# Checked by a sweep every SWEEPS_PER_TIMEOUT-th of the shortest of the three timeouts (15 s with
# these values), only while the listener has connections: a timeout fires up to a quarter late.
# Each can be shortened by BCS_TEST_<its name>.
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
SWEEPS_PER_TIMEOUT: Final = 4  # sweeps per shortest timeout (or per send-rate window in the pump)
SWEEP_MIN_INTERVAL: Final = 0.05  # s between two sweeps at least (tests shorten the timeouts a lot)
SWEEP_MAX_INTERVAL: Final = 30.0  # s between two sweeps at most


def tuned(name: str, default: float) -> float:
    """``default``, or the test-only environment variable ``BCS_TEST_<name>`` when it is set.

    Args:
        name: the variable's name without its prefix, e.g. ``HEADER_TIMEOUT``.
        default: the tunable it stands in for, e.g. ``HEADER_TIMEOUT``.
    """
    override = os.environ.get(f"BCS_TEST_{name}")
    return float(override) if override else float(default)


def sweep_interval(shortest: float) -> float:
    """Seconds between two sweeps of connections whose shortest timeout is ``shortest``."""
    return max(SWEEP_MIN_INTERVAL, min(SWEEP_MAX_INTERVAL, shortest / SWEEPS_PER_TIMEOUT))
