"""The BITS client service: the jobs in memory and in ``jobs.db``, the scheduler, the transfers.

One lock (``JobService.lock``) guards every job; one condition on it wakes the scheduler and the
``job.wait`` long-polls. State changes go through ``Job.move`` (the transition table in
``bcs.client.job``) and are persisted before the caller is answered.

Scheduling (bits-protocol.md 3.3): foreground jobs all run at once; background jobs (High,
Normal, Low) share ``client.backgroundSlots`` slots, higher priority first (a higher-priority job
preempts a lower one at once), round-robin inside a priority by time slices of
``CLIENT_TIME_SLICE`` seconds. A global token bucket (``client.bandwidthLimit``) and one per job
(``bandwidthLimit``) cap the rate.

Crash safety: data only ever goes to hidden temporary files beside the destinations; ``Complete``
fsyncs and renames them, so a destination is either untouched or complete. Progress is
checkpointed every ``CLIENT_CHECKPOINT_BYTES`` and on every state change; on start, jobs that
were active resume from the persisted offset once the temporary file's size confirms it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bcs import tunables
from bcs.client.job import (
    ACTION_STATES,
    FINAL_STATES,
    SETTABLE_DEFAULTS,
    Credential,
    ErrorContext,
    Job,
    JobError,
    JobFile,
    JobState,
    JobType,
    Priority,
    new_job_id,
    normalize_job_id,
    transition,
)
from bcs.client.session import parse_proxy
from bcs.client.store import JobStore
from bcs.client.throttle import TokenBucket
from bcs.client.transfer import Transfer, local_error
from bcs.errors import (
    AccessDeniedError,
    BcsError,
    EmptyJobError,
    InvalidArgumentError,
    InvalidProxyInfoError,
    InvalidStateError,
    JobNotFoundError,
    MaxDownloadTimeoutError,
    NotImplError,
    PathNotFoundError,
    ProxyBypassListTooLargeError,
    ProxyListTooLargeError,
    TooManyFilesError,
    TooManyFilesInJobError,
)

__all__ = ["JobService"]

log = logging.getLogger("bcs.client")

RUNNING = (JobState.Connecting, JobState.Transferring)
SCHEDULABLE = (JobState.Queued, JobState.Connecting, JobState.Transferring)
PROXY_LIST_MAX = 32767


def owner_name(uid: int | None, name: str | None) -> str:
    """The user name of a caller (peer uid on Unix, account name on Windows)."""
    if name:
        return name
    if uid is not None and sys.platform != "win32":
        import pwd

        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return str(uid)
    import getpass

    return getpass.getuser()


class JobService:
    """Jobs, their store, the scheduler thread and the transfer threads."""

    name = "client"

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # any change: wakes job.wait long-polls
        self.reschedule = threading.Condition(self.lock)  # state changes only: wakes the scheduler
        self.jobs: dict[str, Job] = {}
        self.tombstones: dict[str, Job] = {}
        self.transfers: dict[str, Transfer] = {}
        self.busy: set[str] = set()  # jobs being completed or cancelled (the scheduler leaves them)
        self.store: JobStore | None = None
        self.slots = 1
        self.global_bucket = TokenBucket()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_notify: dict[str, float] = {}

    # --- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        self.store = JobStore(Path(self.engine.state_dir) / "jobs.db")
        self._apply_config(self.engine.config.current)
        self.engine.config.subscribe(lambda old, new: self._apply_config(new))
        for job in self.store.load():
            self._recover(job)
            self.jobs[job.job_id] = job
        self._thread = threading.Thread(target=self._schedule_loop, name="job scheduler", daemon=True)
        self._thread.start()
        log.info("BITS client started: %d jobs", len(self.jobs))

    def stop(self) -> None:
        with self.lock:
            self._stopping = True
            transfers = list(self.transfers.values())
            for t in transfers:
                t.valid = False
                t.stop()
            self._notify()
        for t in transfers:
            t.join()
        if self._thread is not None:
            self._thread.join(5)
        with self.lock:
            if self.store is not None:
                for job in self.jobs.values():
                    self.store.save(job)  # the last progress of the stopped transfers
                self.store.close()
                self.store = None

    def status(self) -> dict[str, Any]:
        with self.lock:
            states: dict[str, int] = {}
            for job in self.jobs.values():
                states[job.state.name] = states.get(job.state.name, 0) + 1
            return {
                "jobs": len(self.jobs),
                "states": states,
                "transfers": len(self.transfers),
                "backgroundSlots": self.slots,
                "bandwidthLimit": self.global_bucket.rate,
            }

    def _apply_config(self, config: Any) -> None:
        with self.lock:
            self.slots = config.client.background_slots
            if self.global_bucket.rate != config.client.bandwidth_limit:
                self.global_bucket.set_rate(config.client.bandwidth_limit)
            self._notify()

    def _recover(self, job: Job) -> None:
        """Bring a job loaded from jobs.db back to a consistent state after a stop or a crash."""
        for f in job.files:
            if f.committed:
                continue
            try:
                size = os.stat(f.temporary_name).st_size
            except OSError:
                size = -1
            if f.completed and size != f.bytes_transferred:
                f.completed = False  # the finished temp file is gone or damaged: fetch it again
            if not f.completed:
                if size < f.bytes_transferred:
                    f.bytes_transferred = 0  # shorter than the checkpoint: the prefix is not trusted
                    if size > 0:
                        self._truncate(f.temporary_name, 0)
                elif size > f.bytes_transferred:
                    self._truncate(f.temporary_name, f.bytes_transferred)  # bytes after the checkpoint
        if job.state in RUNNING:
            job.move("yield")
        elif job.state is JobState.TransientError and job.retry_at is None:
            job.retry_at = time.monotonic()  # a record of an older engine, without its retry time
        if job.state in ACTION_STATES:
            job.active_since = time.monotonic()
        assert self.store is not None
        self.store.save(job)

    @staticmethod
    def _truncate(path: str, size: int) -> None:
        with contextlib.suppress(OSError):
            os.truncate(path, size)

    # --- scheduler ----------------------------------------------------------------------------------
    def _schedule_loop(self) -> None:
        with self.lock:
            while not self._stopping:
                try:
                    self._tick()
                except Exception:
                    log.exception("scheduler tick failed")
                self.reschedule.wait(self._next_look())

    def _next_look(self) -> float | None:
        """Seconds until the scheduler must look again on its own (None: at the next state change).

        Jobs have timers (retries, timeouts, time slices), so they are looked at every
        ``CLIENT_SCHEDULER_TICK``; without jobs only the tombstones expire, and an idle engine sleeps.
        """
        if self.jobs:
            return tunables.CLIENT_SCHEDULER_TICK
        ends = [j.final_at for j in self.tombstones.values() if j.final_at is not None]
        if not ends:
            return None
        return max(0.0, min(ends) + tunables.CLIENT_TOMBSTONE_SECONDS - time.monotonic()) + 0.01

    def _tick(self) -> None:
        now = time.monotonic()
        for job_id, job in list(self.tombstones.items()):
            if job.final_at is not None and now - job.final_at > tunables.CLIENT_TOMBSTONE_SECONDS:
                del self.tombstones[job_id]
        for job in list(self.jobs.values()):
            if job.job_id in self.busy:
                continue
            if job.state is JobState.TransientError:
                timeout = job.settings["noProgressTimeout"]
                since = job.no_progress_since
                if since is not None and now - since >= timeout:
                    self._to_error(job, None)  # keeps the last transient error
                elif job.retry_at is not None and now >= job.retry_at:
                    job.move("retry")
                    job.retry_at = None
                    self._save(job)
            if job.state in ACTION_STATES and job.active_time() > job.settings["maxDownloadTime"]:
                self._to_error(
                    job,
                    JobError.from_exception(
                        MaxDownloadTimeoutError(noun="Job"), ErrorContext.GeneralQueueManager, None
                    ),
                )
        candidates = [
            j
            for j in self.jobs.values()
            if j.state in SCHEDULABLE and j.job_id not in self.busy and j.transfer_type is JobType.Download
        ]
        chosen = [j for j in candidates if j.priority is Priority.Foreground]
        background = [j for j in candidates if j.priority is not Priority.Foreground]

        slice_seconds = _time_slice()

        def turn_key(j: Job) -> tuple[int, int, float]:
            in_slice = j.state in RUNNING and now - j.last_started < slice_seconds
            return (int(j.priority), 0 if in_slice else 1, j.last_started)

        background.sort(key=turn_key)
        chosen += background[: self.slots]
        for j in background[self.slots :]:
            if j.state in RUNNING:
                self._stop_transfer(j)
                j.move("yield")
                self._save(j)
        for j in chosen:
            if j.state is JobState.Queued and j.job_id not in self.transfers:
                j.move("connect")
                j.last_started = now
                self._save(j)
                transfer = Transfer(self, j, self.global_bucket)
                self.transfers[j.job_id] = transfer
                transfer.start()
            elif j.state in RUNNING and now - j.last_started >= slice_seconds:
                j.last_started = now  # nobody else wants the slot: a new slice

    def _stop_transfer(self, job: Job) -> Transfer | None:
        transfer = self.transfers.get(job.job_id)
        if transfer is not None and transfer.valid:
            transfer.valid = False
            transfer.stop()
        return transfer

    def _to_error(self, job: Job, error: JobError | None) -> None:
        self._stop_transfer(job)
        job.move("fatal_error")
        if error is not None:
            job.error = error
        elif job.error is not None:
            job.error.transient = False
        job.retry_at = None
        self._save(job)

    def _notify(self) -> None:
        self.changed.notify_all()
        self.reschedule.notify_all()

    def _save(self, job: Job) -> None:
        """Persist and wake the scheduler and the waiters (call with the lock held)."""
        if self.store is not None and job.state not in FINAL_STATES:
            self.store.save(job)
        self._notify()

    # --- callbacks of Transfer (each ignores a transfer that was stopped) ----------------------------
    def transfer_open(self, t: Transfer, index: int) -> tuple[int, int] | None:
        """Open the temp file of a file (created under the lock, so Cancel cannot miss it).

        Raises:
            OSError: the temp file cannot be opened (folder gone, access denied, ...).
        """
        with self.lock:
            if not t.valid:
                return None
            f = t.job.files[index]
            fd = os.open(f.temporary_name, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
            _hide(f.temporary_name)
            size = os.fstat(fd).st_size
            offset = f.bytes_transferred
            if size < offset:
                offset = 0
            if size != offset:
                os.ftruncate(fd, offset)
            if offset != f.bytes_transferred:
                f.bytes_transferred = offset
                self._save(t.job)
            return fd, offset

    def transfer_receive(self, t: Transfer) -> None:
        with self.lock:
            if t.valid and t.job.state is JobState.Connecting:
                t.job.move("receive")
                t.job.error = None  # the error object lives until the transfer restarts
                self._save(t.job)

    def transfer_file_info(
        self, t: Transfer, index: int, total: int | None, last_modified: str | None
    ) -> None:
        with self.lock:
            if not t.valid:
                return
            f = t.job.files[index]
            changed = False
            if total is not None and f.bytes_total < 0:
                f.bytes_total, changed = total, True
            if last_modified is not None and f.last_modified is None:
                f.last_modified, changed = last_modified, True
            if changed:
                t.job.touch()
                self._save(t.job)

    def transfer_restart_file(
        self, t: Transfer, index: int, total: int | None, last_modified: str | None
    ) -> None:
        with self.lock:
            if not t.valid:
                return
            f = t.job.files[index]
            f.bytes_transferred = 0
            f.bytes_total = total if total is not None else -1
            f.last_modified = last_modified
            t.job.touch()
            self._save(t.job)

    def transfer_redirected(self, t: Transfer, index: int, url: str) -> None:
        with self.lock:
            if t.valid:
                t.job.files[index].remote_url = url
                t.job.touch()
                self._save(t.job)

    def transfer_progress(self, t: Transfer, index: int, offset: int, persist: bool) -> None:
        with self.lock:
            if not t.valid:
                return
            job = t.job
            job.files[index].bytes_transferred = offset
            job.no_progress_since = None
            now = time.monotonic()
            if persist and self.store is not None:
                self.store.save(job)
            if now - self._last_notify.get(job.job_id, 0.0) >= tunables.CLIENT_PROGRESS_INTERVAL:
                self._last_notify[job.job_id] = now
                job.change_count += 1
                self.changed.notify_all()  # progress does not concern the scheduler

    def transfer_file_done(self, t: Transfer, index: int, size: int, dynamic: bool) -> None:
        with self.lock:
            if not t.valid:
                return
            f = t.job.files[index]
            f.bytes_transferred = size
            if dynamic or f.bytes_total < 0:
                f.bytes_total = size
            f.completed = True
            t.job.touch()
            self._save(t.job)

    def transfer_finished(self, t: Transfer) -> None:
        with self.lock:
            if not t.valid:
                return
            job = t.job
            if any(not f.completed for f in job.files):
                return  # a file was added at the last moment: the next turn takes it
            job.move("finish")
            job.error = None
            job.no_progress_since = None
            job.transfer_completion_time = time.time()
            self._save(job)

    def transfer_failed(self, t: Transfer, exc: BcsError, context: ErrorContext, index: int | None) -> None:
        with self.lock:
            if not t.valid:
                return
            job = t.job
            error = JobError.from_exception(exc, context, index)
            log.info(
                "job %s: %s error %s: %s",
                job.job_id,
                "transient" if error.transient else "fatal",
                error.name,
                error.description,
            )
            now = time.monotonic()
            delay = job.settings["minimumRetryDelay"]
            timeout = job.settings["noProgressTimeout"]
            if job.no_progress_since is None:
                job.no_progress_since = now
            if error.transient and timeout > 0 and delay <= timeout and now - job.no_progress_since < timeout:
                job.move("transient_error")
                job.error = error
                job.transient_error_count += 1
                job.retry_at = now + delay
                self._save(job)
            else:
                if error.transient:
                    job.transient_error_count += 1
                error.transient = False
                job.move("fatal_error")
                job.error = error
                self._save(job)

    def transfer_exited(self, t: Transfer) -> None:
        with self.lock:
            if self.transfers.get(t.job.job_id) is t:
                del self.transfers[t.job.job_id]
            if (
                t.job.state in RUNNING
                and t.job.job_id not in self.busy
                and t.job.job_id not in self.transfers
            ):
                t.job.move("yield")  # the turn ended without a verdict: queue the job again
            self._save(t.job)

    # --- operations (RPC) ---------------------------------------------------------------------------
    def _find(self, job_id: str, caller: Caller) -> Job:
        """A live job or a recent final one (so calls on it answer BG_E_INVALID_STATE)."""
        key = normalize_job_id(job_id)
        job = self.jobs.get(key) or self.tombstones.get(key)
        if job is None or not caller.may_see(job):
            raise JobNotFoundError(f"job {key} was not found", noun="Job", target=key)
        return job

    def create(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        transfer_type = JobType[params.get("type") or "Download"]
        files = params.get("files") or []
        suspended = bool(params.get("suspended"))
        if transfer_type is not JobType.Download and len(files) > 1:
            raise TooManyFilesError("an upload job has exactly one file", noun="Job")
        if not suspended and not files:
            raise EmptyJobError("a job without files cannot start; pass files or suspended=true", noun="Job")
        if not suspended and transfer_type is not JobType.Download:
            raise NotImplError("upload jobs cannot run yet (the upload protocol lands later)", noun="Job")
        job = Job(job_id=new_job_id(), owner=caller.owner, transfer_type=transfer_type)
        _apply_settings(job, params)
        for spec in files:
            job.files.append(_new_file(job, spec["remoteUrl"], spec["localPath"]))
        with self.lock:
            assert self.store is not None
            self.store.insert(job)
            self.jobs[job.job_id] = job
            if not suspended:
                job.move("resume")
            self._save(job)
            return job.to_json()

    def add_file(self, caller: Caller, job_id: str, remote_url: str, local_path: str) -> dict[str, Any]:
        with self.lock:
            job = self._find(job_id, caller)
            transition(job.state, "add_file", job.job_id)
            if job.transfer_type is not JobType.Download and job.files:
                raise TooManyFilesError("an upload job has exactly one file", noun="Job", target=job.job_id)
            job.files.append(_new_file(job, remote_url, local_path))
            job.move("add_file")
            self._save(job)
            return job.to_json()

    def list(self, caller: Caller, name: str | None, all_users: bool) -> list[dict[str, Any]]:
        if all_users and not caller.admin:
            raise AccessDeniedError("only administrators may list the jobs of all users", noun="Job")
        with self.lock:
            jobs = [
                j
                for j in self.jobs.values()
                if (all_users or j.owner == caller.owner)
                and (name is None or fnmatch.fnmatchcase(j.settings["displayName"], name))
            ]
            jobs.sort(key=lambda j: j.seq)
            return [j.to_json() for j in jobs]

    def get(self, caller: Caller, job_id: str) -> dict[str, Any]:
        """A job in the queue; a completed or cancelled one has left it (BG_E_NOT_FOUND), as in BITS.

        ``job.wait`` and the operations still see a final job for a while (tombstones), so a waiter
        learns the final state and a late ``job.cancel`` answers BG_E_INVALID_STATE.
        """
        with self.lock:
            job = self._find(job_id, caller)
            if job.state in FINAL_STATES:
                raise JobNotFoundError(
                    f"job {job.job_id} was {job.state.name.lower()} and has left the queue",
                    noun="Job",
                    target=job.job_id,
                )
            return job.to_json()

    def set(self, caller: Caller, job_id: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            job = self._find(job_id, caller)
            transition(job.state, "set", job.job_id)
            _apply_settings(job, params)
            transfer = self.transfers.get(job.job_id)
            if transfer is not None:
                transfer.bucket.set_rate(job.settings["bandwidthLimit"])
            job.touch()
            self._save(job)
            return job.to_json()

    def suspend(self, caller: Caller, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._find(job_id, caller)
            transition(job.state, "suspend", job.job_id)
            self._stop_transfer(job)
            job.move("suspend")
            job.retry_at = None
            self._save(job)
            return job.to_json()

    def resume(self, caller: Caller, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._find(job_id, caller)
            transition(job.state, "resume", job.job_id)
            if not job.files:
                raise EmptyJobError(noun="Job", target=job.job_id)
            if job.transfer_type is not JobType.Download:
                raise NotImplError("upload jobs cannot run yet", noun="Job", target=job.job_id)
            if job.state is JobState.Transferred and all(f.completed for f in job.files):
                return job.to_json()  # nothing left to transfer
            if job.state not in SCHEDULABLE:
                job.move("resume")
                job.error = None
                job.retry_at = None
                job.no_progress_since = None
                self._save(job)
            return job.to_json()

    def complete(self, caller: Caller, job_id: str) -> dict[str, Any]:
        with self._exclusive(caller, job_id, "complete") as job:
            if job.transfer_type is not JobType.Download and job.state is not JobState.Transferred:
                raise InvalidStateError(
                    "an upload job can be completed only when Transferred", noun="Job", target=job.job_id
                )
            partial = False
            for f in job.files:
                if f.committed:
                    continue
                if f.completed:
                    try:
                        _commit(f)
                    except OSError as exc:
                        job.touch()
                        self._save(job)  # the files renamed so far stay committed
                        err = local_error(exc, f.local_path)
                        err.message = f"cannot commit {f.local_path}: {err.message}"
                        raise err from None
                else:
                    partial = True
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f.temporary_name)
            job.move("complete")
            return self._retire(job, partial)

    def cancel(self, caller: Caller, job_id: str) -> dict[str, Any]:
        with self._exclusive(caller, job_id, "cancel") as job:
            unable = False
            for f in job.files:
                if f.committed:
                    continue
                try:
                    os.unlink(f.temporary_name)
                except FileNotFoundError:
                    pass
                except OSError:
                    unable = True
            job.move("cancel")
            result = self._retire(job, False)
            if unable:
                result["completeResult"] = "BG_S_UNABLE_TO_DELETE_FILES"
            return result

    @contextlib.contextmanager
    def _exclusive(self, caller: Caller, job_id: str, event: str) -> Iterator[Job]:
        """Stop the job's transfer and wait for its thread, then run the body under the lock."""
        with self.lock:
            job = self._find(job_id, caller)
            transition(job.state, event, job.job_id)
            if job.job_id in self.busy:
                raise InvalidStateError(
                    "the job is being completed or cancelled", noun="Job", target=job.job_id
                )
            self.busy.add(job.job_id)
            transfer = self._stop_transfer(job)
        try:
            if transfer is not None:
                transfer.join()
            with self.lock:
                yield job
        finally:
            with self.lock:
                self.busy.discard(job.job_id)
                if job.state in RUNNING and job.job_id not in self.transfers:
                    job.move("yield")  # Complete failed after its transfer was stopped: queue it again
                    self._save(job)
                self._notify()

    def _retire(self, job: Job, partial: bool) -> dict[str, Any]:
        assert self.store is not None
        self.store.delete(job.job_id)
        self.jobs.pop(job.job_id, None)
        self.tombstones[job.job_id] = job
        while len(self.tombstones) > tunables.CLIENT_TOMBSTONE_MAX:
            del self.tombstones[next(iter(self.tombstones))]  # the oldest final job
        self._last_notify.pop(job.job_id, None)
        self._notify()
        result = job.to_json()
        result["completeResult"] = "BG_S_PARTIAL_COMPLETE" if partial else "S_OK"
        return result

    def wait(self, caller: Caller, job_id: str, change_count: int, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.lock:
            job = self._find(job_id, caller)
            while change_count and job.change_count == change_count and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(left)
            return job.to_json()


class Caller:
    """Who calls: the owner name for new jobs and whether they may see everyone's jobs."""

    def __init__(self, uid: int | None, name: str | None) -> None:
        self.owner = owner_name(uid, name)
        engine_uid = os.geteuid() if hasattr(os, "geteuid") else None
        self.admin = uid is None or uid == 0 or uid == engine_uid

    def may_see(self, job: Job) -> bool:
        return self.admin or job.owner == self.owner


# --- helpers ------------------------------------------------------------------------------------------
def _time_slice() -> float:
    """CLIENT_TIME_SLICE; the test-only variable BCS_TEST_TIME_SLICE shortens it for round-robin tests."""
    override = os.environ.get("BCS_TEST_TIME_SLICE")
    return float(override) if override else tunables.CLIENT_TIME_SLICE


_SNAKE_TO_SETTING = {
    "display_name": "displayName",
    "description": "description",
    "priority": "priority",
    "minimum_retry_delay": "minimumRetryDelay",
    "no_progress_timeout": "noProgressTimeout",
    "max_download_time": "maxDownloadTime",
    "custom_headers": "customHeaders",
    "proxy_usage": "proxyUsage",
    "proxy_list": "proxyList",
    "proxy_bypass": "proxyBypass",
    "security_flags": "securityFlags",
    "ca_bundle": "caBundle",
    "client_certificate": "clientCertificate",
    "bandwidth_limit": "bandwidthLimit",
    "dynamic": "dynamic",
}


def _apply_settings(job: Job, params: dict[str, Any]) -> None:
    """Validate and apply settable properties given as handler keywords (None = unchanged).

    Raises:
        BcsError: the value is not acceptable (nothing is changed then).
    """
    new = dict(job.settings)
    for key, name in _SNAKE_TO_SETTING.items():
        value = params.get(key)
        if value is not None:
            new[name] = value
    if new["minimumRetryDelay"] < tunables.MINIMUM_RETRY_DELAY_FLOOR:
        raise InvalidArgumentError(
            f"minimumRetryDelay must be at least {tunables.MINIMUM_RETRY_DELAY_FLOOR} s", noun="Job"
        )
    for header in new["customHeaders"]:
        name, sep, _ = header.partition(":")
        if not sep or not name.strip() or any(c in header for c in "\r\n"):
            raise InvalidArgumentError(f"custom header must be 'Name: value', got {header!r}", noun="Job")
    if len(" ".join(new["proxyList"])) > PROXY_LIST_MAX:
        raise ProxyListTooLargeError(noun="Job")
    if len(" ".join(new["proxyBypass"])) > PROXY_LIST_MAX:
        raise ProxyBypassListTooLargeError(noun="Job")
    for entry in new["proxyList"]:
        parse_proxy(entry)
    if new["proxyUsage"] == "Override" and not new["proxyList"]:
        raise InvalidProxyInfoError("proxyUsage Override needs a proxyList", noun="Job")
    for key in ("caBundle", "clientCertificate"):
        path = new[key]
        if path and not os.path.isfile(path):
            raise InvalidArgumentError(f"{key}: no such file: {path}", noun="Job", target=path)
    creds = params.get("credentials")
    credentials = list(job.credentials)
    for c in creds or []:
        scheme, target = c["scheme"], c["target"] or "Server"
        if scheme == "Digest":
            raise NotImplError("Digest authentication is not supported", noun="Job")
        if scheme == "Basic" and not (c["userName"] and c["password"]):
            raise InvalidArgumentError("Basic credentials need a user name and a password", noun="Job")
        if target == "Proxy" and scheme != "Basic":
            raise NotImplError("proxy authentication supports Basic only", noun="Job")
        credentials = [x for x in credentials if (x.target, x.scheme) != (target, scheme)]
        credentials.append(Credential(target, scheme, c["userName"] or "", c["password"] or ""))
    for key in SETTABLE_DEFAULTS:
        job.settings[key] = new[key]
    job.credentials = credentials


def _new_file(job: Job, remote_url: str, local_path: str) -> JobFile:
    """Validate a (remote URL, local path) pair and give it a temporary name.

    Raises:
        BcsError: bad URL, relative path, missing folder, or too many files.
    """
    parts = urlsplit(remote_url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidArgumentError(
            f"remoteUrl must be an http(s) URL: {remote_url!r}", noun="Job", target=remote_url
        )
    if not os.path.isabs(local_path):
        raise InvalidArgumentError(
            f"localPath must be absolute: {local_path!r}", noun="Job", target=local_path
        )
    if len(job.files) >= tunables.MAX_FILES_PER_JOB:
        raise TooManyFilesInJobError(noun="Job", target=job.job_id)
    path = os.path.normpath(local_path)
    if any(os.path.normpath(f.local_path) == path for f in job.files):
        raise InvalidArgumentError(f"{path} is already a file of this job", noun="Job", target=path)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise PathNotFoundError(f"the folder of {path} does not exist", noun="Job", target=path)
    temp = os.path.join(folder, f".BIT{uuid.uuid4().hex[:8].upper()}.tmp")
    return JobFile(remote_url=remote_url, local_path=path, temporary_name=temp)


def _commit(f: JobFile) -> None:
    """fsync the finished temp file, rename it over the destination, fsync the folder."""
    fd = os.open(f.temporary_name, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(f.temporary_name, f.local_path)
    _unhide(f.local_path)
    if sys.platform != "win32":
        dfd = os.open(os.path.dirname(f.local_path), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    f.committed = True


def _hide(path: str) -> None:
    """Windows: the hidden attribute (the dot prefix hides it on Unix)."""
    if sys.platform == "win32":
        import ctypes

        ctypes.windll.kernel32.SetFileAttributesW(path, 0x2)  # type: ignore[attr-defined]


def _unhide(path: str) -> None:
    if sys.platform == "win32":
        import ctypes

        ctypes.windll.kernel32.SetFileAttributesW(path, 0x80)  # type: ignore[attr-defined]
