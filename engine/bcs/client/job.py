"""The BITS job model: enumerations with the BITS numbers, the one transition table, job records.

Rules of the state machine (bits-protocol.md 3.2), written once as data in ``TRANSITIONS``:

* Every job is created SUSPENDED. ``resume`` queues it (SUSPENDED/ERROR/TRANSIENT_ERROR/TRANSFERRED
  -> QUEUED; a no-op in the action states).
* The scheduler moves QUEUED -> CONNECTING (``connect``); the first response moves CONNECTING ->
  TRANSFERRING (``receive``); a time slice that ends or a preempting job moves an active job back
  to QUEUED (``yield``); all files done -> TRANSFERRED (``finish``).
* A transient error -> TRANSIENT_ERROR (``transient_error``), retried after minimumRetryDelay
  (``retry`` -> QUEUED); a fatal error, the no-progress timeout or maxDownloadTime -> ERROR
  (``fatal_error``).
* ``suspend`` from any non-final state -> SUSPENDED (idempotent); ``complete`` -> ACKNOWLEDGED;
  ``cancel`` -> CANCELLED. ACKNOWLEDGED and CANCELLED are final: every event there is illegal.

Anything not in the table raises ``InvalidStateError`` (``BG_E_INVALID_STATE``, noun "Job").

The fields that travel with a state change (the error object, the retry time, the start of the
no-progress period, the transient-error count, the completion time) change inside ``Job.move``
and nowhere else, by the rules of ``_COMPANIONS``:

* the error object exists only in ERROR and TRANSIENT_ERROR (bits-protocol.md 3.2);
* ``transient_error`` takes the error and the retry time and counts one more transient error;
* ``fatal_error`` takes the error (a transient one counts once more and becomes fatal) or, given
  none, makes the last transient error fatal (no-progress timeout);
* ``resume`` from a stopped state starts afresh: no retry time, no no-progress period;
* ``suspend``, ``retry`` and ``fatal_error`` drop the retry time; ``finish`` ends the no-progress
  period and stamps the completion time.
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bcs.client.settings import Credential, JobSettings
from bcs.errors import BcsError, InvalidArgumentError, InvalidStateError, error_from_hresult, format_hresult

__all__ = [
    "ACTION_STATES",
    "FINAL_STATES",
    "TRANSITIONS",
    "ErrorContext",
    "Job",
    "JobError",
    "JobEvent",
    "JobFile",
    "JobState",
    "JobType",
    "Priority",
    "Reply",
    "UploadState",
    "iso_time",
    "normalize_job_id",
    "transition",
]


class JobType(enum.IntEnum):
    """BG_JOB_TYPE."""

    Download = 0
    Upload = 1
    UploadReply = 2


class JobState(enum.IntEnum):
    """BG_JOB_STATE."""

    Queued = 0
    Connecting = 1
    Transferring = 2
    Suspended = 3
    Error = 4
    TransientError = 5
    Transferred = 6
    Acknowledged = 7
    Cancelled = 8


class Priority(enum.IntEnum):
    """BG_JOB_PRIORITY (lower value = more important)."""

    Foreground = 0
    High = 1
    Normal = 2
    Low = 3


class ErrorContext(enum.IntEnum):
    """BG_ERROR_CONTEXT."""

    None_ = 0
    Unknown = 1
    GeneralQueueManager = 2
    QueueManagerNotification = 3
    LocalFile = 4
    RemoteFile = 5
    GeneralTransport = 6
    RemoteApplication = 7

    @property
    def label(self) -> str:
        return self.name.rstrip("_")


class JobEvent(str, enum.Enum):
    """What moves a job: calls (suspend ... add_file), the scheduler and the transfer loop."""

    SUSPEND = "suspend"
    COMPLETE = "complete"
    CANCEL = "cancel"
    SET = "set"
    ADD_FILE = "add_file"
    RESUME = "resume"
    CONNECT = "connect"  # the scheduler gives the job a turn
    RECEIVE = "receive"  # the first response of a turn
    YIELD = "yield"  # the turn ends without a verdict (slice over, preempted, stopped)
    FINISH = "finish"  # every file is transferred
    TRANSIENT_ERROR = "transient_error"
    FATAL_ERROR = "fatal_error"
    RETRY = "retry"  # the retry time of a transient error came


S = JobState
E = JobEvent
ACTION_STATES = frozenset({S.Queued, S.Connecting, S.Transferring, S.TransientError})
FINAL_STATES = frozenset({S.Acknowledged, S.Cancelled})
_NON_FINAL = tuple(s for s in S if s not in FINAL_STATES)

# (state, event) -> next state. The whole state machine; nothing else moves a job.
TRANSITIONS: dict[tuple[JobState, JobEvent], JobState] = {
    **{(s, E.SUSPEND): S.Suspended for s in _NON_FINAL},
    **{(s, E.COMPLETE): S.Acknowledged for s in _NON_FINAL},
    **{(s, E.CANCEL): S.Cancelled for s in _NON_FINAL},
    **{(s, E.SET): s for s in _NON_FINAL},
    **{(s, E.ADD_FILE): s for s in _NON_FINAL},
    # Resume: queue a stopped job; in the action states it changes nothing.
    (S.Suspended, E.RESUME): S.Queued,
    (S.Error, E.RESUME): S.Queued,
    (S.TransientError, E.RESUME): S.Queued,
    (S.Transferred, E.RESUME): S.Queued,  # only when files were added after the transfer
    (S.Queued, E.RESUME): S.Queued,
    (S.Connecting, E.RESUME): S.Connecting,
    (S.Transferring, E.RESUME): S.Transferring,
    # Scheduler and transfer loop.
    (S.Queued, E.CONNECT): S.Connecting,
    (S.Connecting, E.RECEIVE): S.Transferring,
    (S.Transferring, E.RECEIVE): S.Transferring,
    (S.Connecting, E.YIELD): S.Queued,
    (S.Transferring, E.YIELD): S.Queued,
    (S.Connecting, E.FINISH): S.Transferred,
    (S.Transferring, E.FINISH): S.Transferred,
    (S.Connecting, E.TRANSIENT_ERROR): S.TransientError,
    (S.Transferring, E.TRANSIENT_ERROR): S.TransientError,
    (S.Queued, E.FATAL_ERROR): S.Error,
    (S.Connecting, E.FATAL_ERROR): S.Error,
    (S.Transferring, E.FATAL_ERROR): S.Error,
    (S.TransientError, E.FATAL_ERROR): S.Error,  # no-progress timeout, maxDownloadTime
    (S.TransientError, E.RETRY): S.Queued,
}


def transition(state: JobState, event: JobEvent, job_id: str | None = None) -> JobState:
    """The state after ``event`` in ``state``.

    Raises:
        InvalidStateError: the event is not allowed in that state.
    """
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidStateError(
            f"{event.value.replace('_', ' ')} is not allowed while the job is {state.name}",
            noun="Job",
            target=job_id,
        ) from None


def normalize_job_id(text: str) -> str:
    """The canonical form of a job id: a braced upper-case GUID, ``{A0FF...}``.

    Raises:
        InvalidArgumentError: the text is not a GUID.
    """
    try:
        return "{" + str(uuid.UUID(text.strip())).upper() + "}"
    except ValueError:
        raise InvalidArgumentError(f"not a job id (GUID): {text!r}", noun="Job", target=text) from None


def new_job_id() -> str:
    return "{" + str(uuid.uuid4()).upper() + "}"


def iso_time(epoch: float | None) -> str | None:
    """UTC ISO 8601 with milliseconds, or None."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


@dataclass
class JobError:
    """The error object of a job in ERROR/TRANSIENT_ERROR: context, HRESULT, description."""

    context: ErrorContext
    code: int
    name: str
    description: str
    file_index: int | None = None
    transient: bool = False

    @classmethod
    def from_exception(cls, exc: BcsError, context: ErrorContext, file_index: int | None) -> JobError:
        return cls(context, exc.code, exc.code_name, exc.message, file_index, bool(exc.transient))

    def registry_error(self) -> BcsError:
        """The registry's error for this HRESULT (category, errorId)."""
        return error_from_hresult(self.code, self.description, noun="Job")

    def to_dict(self) -> dict[str, Any]:
        return {
            "context": int(self.context),
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "fileIndex": self.file_index,
            "transient": self.transient,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobError:
        return cls(
            ErrorContext(data["context"]),
            data["code"],
            data["name"],
            data["description"],
            data.get("fileIndex"),
            data.get("transient", False),
        )


@dataclass
class UploadState:
    """What an upload file carries between turns and engine restarts (bits-protocol.md 2.5).

    Saved with the job as soon as it changes, before the next packet goes out: a session id that
    was lost would leave the server holding the destination for the session's lifetime.
    """

    session_id: str | None = None  # BITS-Session-Id of the server's session (None: none yet)
    host_id: str | None = None  # BITS-Host-Id: the host the packets of the session go to
    host_fallback: int | None = None  # BITS-Host-Id-Fallback-Timeout, s (None: never fall back)
    host_progress_at: float | None = None  # wall time of the last progress through host_id
    local_size: int = -1  # the local file when the upload began: size and mtime (ns); a change
    local_mtime_ns: int = -1  # once bytes were acknowledged is BG_E_LOCAL_FILE_CHANGED

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "hostId": self.host_id,
            "hostFallback": self.host_fallback,
            "hostProgressAt": self.host_progress_at,
            "localSize": self.local_size,
            "localMtimeNs": self.local_mtime_ns,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UploadState:
        return cls(
            data.get("sessionId"),
            data.get("hostId"),
            data.get("hostFallback"),
            data.get("hostProgressAt"),
            data.get("localSize", -1),
            data.get("localMtimeNs", -1),
        )


@dataclass
class Reply:
    """The reply of an UploadReply job: fetched from ``BITS-Reply-URL`` into a hidden temporary
    file beside ``file_name``, renamed to ``file_name`` by Complete (bits-protocol.md 2.7)."""

    file_name: str  # replyFileName: given at job.create or generated beside the local file
    temporary_name: str
    url: str | None = None  # BITS-Reply-URL of the last fragment's Ack, resolved
    bytes_total: int = -1  # -1 = unknown (the upload half is not done)
    bytes_transferred: int = 0
    completed: bool = False  # the whole reply is in the temporary file, fsynced
    committed: bool = False  # renamed to file_name by Complete

    def to_dict(self) -> dict[str, Any]:
        return {
            "fileName": self.file_name,
            "temporaryName": self.temporary_name,
            "url": self.url,
            "bytesTotal": self.bytes_total,
            "bytesTransferred": self.bytes_transferred,
            "completed": self.completed,
            "committed": self.committed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        return cls(
            data["fileName"],
            data["temporaryName"],
            data.get("url"),
            data.get("bytesTotal", -1),
            data.get("bytesTransferred", 0),
            data.get("completed", False),
            data.get("committed", False),
        )


@dataclass
class JobFile:
    """One file of a job; progress is the length of the valid prefix of the temporary file
    (downloads) or the offset the server acknowledged (uploads, which have no temporary file)."""

    remote_url: str
    local_path: str
    temporary_name: str
    bytes_total: int = -1  # -1 = unknown (BG_SIZE_UNKNOWN)
    bytes_transferred: int = 0
    completed: bool = False  # transferred entirely and fsynced (temp file holds the whole file)
    committed: bool = False  # renamed to local_path by Complete
    last_modified: str | None = None  # the server's Last-Modified; a change restarts the file
    upload: UploadState | None = None  # upload jobs only
    sha256: str = ""  # expected SHA-256 (lower-case hex) of a downloaded file; checked before it is done

    def to_dict(self) -> dict[str, Any]:
        data = {
            "remoteUrl": self.remote_url,
            "localPath": self.local_path,
            "temporaryName": self.temporary_name,
            "bytesTotal": self.bytes_total,
            "bytesTransferred": self.bytes_transferred,
            "completed": self.completed,
            "committed": self.committed,
            "lastModified": self.last_modified,
        }
        if self.upload is not None:
            data["upload"] = self.upload.to_dict()
        if self.sha256:
            data["sha256"] = self.sha256
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobFile:
        return cls(
            data["remoteUrl"],
            data["localPath"],
            data["temporaryName"],
            data.get("bytesTotal", -1),
            data.get("bytesTransferred", 0),
            data.get("completed", False),
            data.get("committed", False),
            data.get("lastModified"),
            UploadState.from_dict(data["upload"]) if data.get("upload") else None,
            data.get("sha256", ""),
        )


@dataclass
class Job:
    """One BITS job: settings, files, state, error and counters. Mutated only by ``JobService``."""

    job_id: str
    owner: str
    transfer_type: JobType
    state: JobState = JobState.Suspended
    settings: JobSettings = field(default_factory=JobSettings)
    credentials: list[Credential] = field(default_factory=list)
    files: list[JobFile] = field(default_factory=list)
    reply: Reply | None = None  # UploadReply jobs only
    error: JobError | None = None
    transient_error_count: int = 0
    creation_time: float = field(default_factory=time.time)
    modification_time: float = field(default_factory=time.time)
    transfer_completion_time: float | None = None
    active_seconds: float = 0.0  # time spent in the action states, for maxDownloadTime
    seq: int = 0  # creation order, for listing
    # In memory only (monotonic clocks do not survive a restart).
    change_count: int = 1
    retry_at: float | None = None  # monotonic: TRANSIENT_ERROR -> QUEUED
    no_progress_since: float | None = None  # monotonic: first transient error without progress since
    active_since: float | None = None  # monotonic: entered an action state
    last_started: float = 0.0  # monotonic: last time the scheduler gave it a turn (round-robin)
    final_at: float | None = None  # monotonic: reached a final state (tombstone expiry)
    _json: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    _json_key: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def priority(self) -> Priority:
        return Priority[self.settings.priority]

    @property
    def bytes_total(self) -> int:
        if any(f.bytes_total < 0 for f in self.files):
            return -1
        return sum(f.bytes_total for f in self.files)

    @property
    def bytes_transferred(self) -> int:
        return sum(f.bytes_transferred for f in self.files)

    @property
    def files_transferred(self) -> int:
        return sum(1 for f in self.files if f.completed)

    def move(
        self, event: JobEvent, *, error: JobError | None = None, retry_at: float | None = None
    ) -> JobState:
        """Apply ``event`` through the transition table, with the fields that go with it.

        Args:
            event: what happened.
            error: the error of ``transient_error``/``fatal_error``.
            retry_at: the monotonic retry time of ``transient_error``.

        Raises:
            InvalidStateError: the event is illegal in the current state (nothing changes).
        """
        new = transition(self.state, event, self.job_id)
        now = time.monotonic()
        if self.state in ACTION_STATES and new not in ACTION_STATES and self.active_since is not None:
            self.active_seconds += now - self.active_since
            self.active_since = None
        elif new in ACTION_STATES and self.active_since is None:
            self.active_since = now
        if new in FINAL_STATES:
            self.final_at = now
        if event is E.TRANSIENT_ERROR:
            assert error is not None and retry_at is not None
            self.error = error
            self.transient_error_count += 1
        elif event is E.FATAL_ERROR:
            if error is None:
                error = self.error  # the last transient error, now final (no-progress timeout)
            elif error.transient:
                self.transient_error_count += 1
            if error is not None:
                error.transient = False
            self.error = error
        elif new not in (JobState.Error, JobState.TransientError):
            self.error = None  # the error object exists only in ERROR/TRANSIENT_ERROR (bits-protocol.md 3.2)
        if event in _CLEARS_RETRY:
            self.retry_at = retry_at if event is E.TRANSIENT_ERROR else None
        if event in _ENDS_NO_PROGRESS:
            self.no_progress_since = None
        if event is E.FINISH:
            self.transfer_completion_time = time.time()
        self.state = new
        self.touch()
        return new

    def touch(self) -> None:
        self.modification_time = time.time()
        self.change_count += 1

    def active_time(self) -> float:
        extra = time.monotonic() - self.active_since if self.active_since is not None else 0.0
        return self.active_seconds + extra

    # --- persistence -------------------------------------------------------------------------------
    def to_record(self) -> dict[str, Any]:
        """The stored form (includes passwords: jobs.db is 0600)."""
        return {
            "jobId": self.job_id,
            "owner": self.owner,
            "transferType": self.transfer_type.name,
            "state": self.state.name,
            "settings": self.settings.to_record(),
            "credentials": [
                {"target": c.target, "scheme": c.scheme, "userName": c.user_name, "password": c.password}
                for c in self.credentials
            ],
            "files": [f.to_dict() for f in self.files],
            "reply": self.reply.to_dict() if self.reply else None,
            "error": self.error.to_dict() if self.error else None,
            "transientErrorCount": self.transient_error_count,
            "creationTime": self.creation_time,
            "modificationTime": self.modification_time,
            "transferCompletionTime": self.transfer_completion_time,
            "activeSeconds": self.active_time(),
            # Monotonic deadlines are stored as wall-clock times so that they survive a restart.
            "retryAt": _to_wall(self.retry_at),
            "noProgressSince": _to_wall(self.no_progress_since),
        }

    @classmethod
    def from_record(cls, data: dict[str, Any], seq: int) -> Job:
        settings = JobSettings.from_record(data.get("settings", {}))
        now, wall = time.monotonic(), time.time()
        retry_at = data.get("retryAt")
        since = data.get("noProgressSince")
        job = cls(
            job_id=data["jobId"],
            owner=data["owner"],
            transfer_type=JobType[data["transferType"]],
            state=JobState[data["state"]],
            settings=settings,
            credentials=[
                Credential(c["target"], c["scheme"], c["userName"], c["password"])
                for c in data.get("credentials", [])
            ],
            files=[JobFile.from_dict(f) for f in data.get("files", [])],
            reply=Reply.from_dict(data["reply"]) if data.get("reply") else None,
            error=JobError.from_dict(data["error"]) if data.get("error") else None,
            transient_error_count=data.get("transientErrorCount", 0),
            creation_time=data["creationTime"],
            modification_time=data["modificationTime"],
            transfer_completion_time=data.get("transferCompletionTime"),
            active_seconds=data.get("activeSeconds", 0.0),
            seq=seq,
        )
        if retry_at is not None:
            # What was left of the delay; a wall clock set back cannot stretch it past the job's delay.
            left = min(max(0.0, retry_at - wall), float(settings.minimum_retry_delay))
            job.retry_at = now + left
        if since is not None:
            job.no_progress_since = now - max(0.0, wall - since)
        return job

    # --- the RPC object ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The camelCase Job object of the RPC contract (no passwords).

        Cached until the job changes (``change_count``, progress, state), so that listing
        thousands of idle jobs costs a dict copy each.
        """
        reply_bytes = self.reply.bytes_transferred if self.reply else 0
        key = (self.change_count, self.bytes_transferred, reply_bytes, self.state, self.retry_at)
        if self._json_key == key and self._json is not None and self.state is not JobState.TransientError:
            return dict(self._json)
        self._json = self._build_json()
        self._json_key = key
        return dict(self._json)

    def _build_json(self) -> dict[str, Any]:
        s = self.settings.to_record()
        err = self.error
        registered = err.registry_error() if err else None  # category and errorId of its HRESULT
        retry_in = None
        if self.state is JobState.TransientError and self.retry_at is not None:
            retry_in = max(0.0, round(self.retry_at - time.monotonic(), 3))
        return {
            "jobId": self.job_id,
            "displayName": s["displayName"],
            "description": s["description"],
            "transferType": self.transfer_type.name,
            "transferTypeValue": int(self.transfer_type),
            "jobState": self.state.name,
            "jobStateValue": int(self.state),
            "priority": s["priority"],
            "priorityValue": int(self.priority),
            "owner": self.owner,
            "bytesTotal": self.bytes_total,
            "bytesTransferred": self.bytes_transferred,
            "filesTotal": len(self.files),
            "filesTransferred": self.files_transferred,
            "creationTime": iso_time(self.creation_time),
            "modificationTime": iso_time(self.modification_time),
            "transferCompletionTime": iso_time(self.transfer_completion_time),
            "errorContext": err.context.label if err else None,
            "errorContextValue": int(err.context) if err else None,
            "errorCode": format_hresult(err.code) if err else None,
            "errorName": err.name if err else None,
            "errorDescription": err.description if err else None,
            # From the HRESULT registry, so a cmdlet can build a proper ErrorRecord for a failed job.
            "errorCategory": registered.category if registered else None,
            "errorId": registered.error_id if registered else None,
            "errorFileIndex": err.file_index if err else None,
            "transientErrorCount": self.transient_error_count,
            "retryInSeconds": retry_in,
            "minimumRetryDelay": s["minimumRetryDelay"],
            "noProgressTimeout": s["noProgressTimeout"],
            "maxDownloadTime": s["maxDownloadTime"],
            "customHeaders": s["customHeaders"],
            "credentials": [c.public() for c in self.credentials],
            "proxyUsage": s["proxyUsage"],
            "proxyList": s["proxyList"],
            "proxyBypass": s["proxyBypass"],
            "securityFlags": s["securityFlags"],
            "caBundle": s["caBundle"],
            "clientCertificate": s["clientCertificate"],
            "bandwidthLimit": s["bandwidthLimit"],
            "dynamic": s["dynamic"],
            "files": [
                {k: v for k, v in f.to_dict().items() if k not in ("lastModified", "upload")}
                for f in self.files
            ],
            # BG_JOB_REPLY_PROGRESS and GetReplyFileName (UploadReply jobs; null for the others)
            "replyFileName": self.reply.file_name if self.reply else None,
            "replyBytesTotal": self.reply.bytes_total if self.reply else None,
            "replyBytesTransferred": self.reply.bytes_transferred if self.reply else None,
            "changeCount": self.change_count,
        }


# Events that set or drop the retry time, and events that end the no-progress period.
_CLEARS_RETRY = frozenset({E.TRANSIENT_ERROR, E.FATAL_ERROR, E.RETRY, E.SUSPEND, E.RESUME})
_ENDS_NO_PROGRESS = frozenset({E.RESUME, E.FINISH})


def _to_wall(deadline: float | None) -> float | None:
    """A monotonic time as epoch seconds (None stays None)."""
    if deadline is None:
        return None
    return time.time() + (deadline - time.monotonic())
