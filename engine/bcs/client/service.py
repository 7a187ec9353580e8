"""The BITS client service: the jobs in memory and in ``jobs.db``, the scheduler, the transfers.

One lock (``JobService.lock``) guards every job; one condition on it wakes the scheduler and the
``job.wait`` long-polls. State changes go through ``Job.move`` (the transition table in
``bcs.client.job``) and are persisted before the caller is answered.

What runs when is decided by the pure functions of ``bcs.client.scheduler`` (``due``, ``plan``);
this module applies their answers. A turn of a job runs in a ``Transfer`` thread, which reports
its events to ``on_transfer``, the one place where a turn changes its job. A global token bucket
(``client.bandwidthLimit``) and one per job (``bandwidthLimit``) cap the rate.

Crash safety: data only ever goes to hidden temporary files beside the destinations
(``bcs.client.staging``); ``Complete`` fsyncs and renames them, so a destination is either
untouched or complete. Upload jobs (``bcs.client.upload``) keep their session with the job and
never write the local file; their ``Complete`` and ``Cancel`` send Close-Session and
Cancel-Session to the server outside the lock, while the job is held in ``busy``. Progress is checkpointed every ``CLIENT_CHECKPOINT_BYTES`` and on every
state change; on start, jobs that were active resume from the persisted offset once the
temporary file's size confirms it.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fnmatch
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bcs import tunables
from bcs.bandwidth import TokenBucket
from bcs.client import scheduler, staging
from bcs.client.job import (
    ACTION_STATES,
    FINAL_STATES,
    ErrorContext,
    Job,
    JobError,
    JobEvent,
    JobFile,
    JobState,
    JobType,
    Reply,
    UploadState,
    new_job_id,
    normalize_job_id,
    transition,
)
from bcs.client.scheduler import RUNNING, SCHEDULABLE, Due
from bcs.client.settings import changed_credentials
from bcs.client.store import JobStore
from bcs.client.transfer import (
    Exited,
    Failed,
    FileDone,
    FileInfo,
    FileRestarted,
    Finished,
    Opened,
    Progress,
    Receiving,
    Redirected,
    ReplyUpdated,
    Transfer,
    TransferEvent,
    UploadUpdated,
    local_error,
)
from bcs.client.upload import UploadTransfer, end_session, new_reply, reply_file_name
from bcs.errors import (
    BG_E_EMPTY,
    BG_E_MAXDOWNLOAD_TIMEOUT,
    BG_E_NOT_FOUND,
    BG_E_SESSION_NOT_FOUND,
    BG_E_TOO_MANY_FILES,
    BG_E_TOO_MANY_FILES_IN_JOB,
    ERROR_PATH_NOT_FOUND,
    AccessDeniedError,
    BcsError,
    InvalidArgumentError,
    InvalidStateError,
    file_error,
    shown,
)
from bcs.http.bits import PacketType

__all__ = ["JobService"]

log = logging.getLogger("bcs.client")

E = JobEvent


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
        self.global_bucket = TokenBucket(burst=tunables.CLIENT_BUCKET_BURST)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_notify: dict[str, float] = {}
        self.bytes_moved = 0  # bytes transferred by every job since the engine started (metrics)

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
            self._thread.join(tunables.THREAD_JOIN_TIMEOUT)
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
                "bytesTransferred": self.bytes_moved,  # by every job since the engine started
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
        """Bring a job loaded from jobs.db back to a consistent state after a stop or a crash.

        An upload's progress is what the server acknowledged (its next Ack says where it is); only
        a download's temporary files and an upload reply's are checked against the disk.
        """
        if job.transfer_type is JobType.Download:
            for f in job.files:
                staging.recover(f)
        if job.reply is not None:
            _recover_reply(job.reply)
        if job.state in RUNNING:
            job.move(E.YIELD)
        elif job.state is JobState.TransientError and job.retry_at is None:
            job.retry_at = time.monotonic()  # a record of an older engine, without its retry time
        if job.state in ACTION_STATES:
            job.active_since = time.monotonic()
        assert self.store is not None
        self.store.save(job)

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
        for job, timer in scheduler.due(self.jobs.values(), now, self.busy):
            if timer is Due.NO_PROGRESS:
                self._to_error(job, None)  # keeps the last transient error
            elif timer is Due.RETRY:
                job.move(E.RETRY)
                self._save(job)
            else:
                error = BcsError(BG_E_MAXDOWNLOAD_TIMEOUT, noun="Job")
                self._to_error(job, JobError.from_exception(error, ErrorContext.GeneralQueueManager, None))
        plan = scheduler.plan(self.jobs.values(), now, self.slots, _time_slice(), self.busy, self.transfers)
        for j in plan.preempt:
            self._stop_transfer(j)
            j.move(E.YIELD)
            self._save(j)
        for j in plan.start:
            j.move(E.CONNECT)
            j.last_started = now
            self._save(j)
            kind = Transfer if j.transfer_type is JobType.Download else UploadTransfer
            transfer = kind(j, self.lock, self.on_transfer, self.global_bucket)
            self.transfers[j.job_id] = transfer
            transfer.start()
        for j in plan.renew:
            j.last_started = now  # nobody else wants the slot: a new slice

    def _stop_transfer(self, job: Job) -> Transfer | None:
        transfer = self.transfers.get(job.job_id)
        if transfer is not None and transfer.valid:
            transfer.valid = False
            transfer.stop()
        return transfer

    def _to_error(self, job: Job, error: JobError | None) -> None:
        self._stop_transfer(job)
        job.move(E.FATAL_ERROR, error=error)
        self._save(job)

    def _notify(self) -> None:
        self.changed.notify_all()
        self.reschedule.notify_all()

    def _save(self, job: Job) -> None:
        """Persist and wake the scheduler and the waiters (call with the lock held)."""
        if self.store is not None and job.state not in FINAL_STATES:
            self.store.save(job)
        self._notify()

    # --- the events of the transfers ----------------------------------------------------------------
    def on_transfer(self, t: Transfer, event: TransferEvent) -> None:
        """Apply an event of a turn to its job (ignored once the turn was stopped), then save."""
        with self.lock:
            if isinstance(event, Exited):
                self._transfer_exited(t)
                return
            if not t.valid:
                return
            job = t.job
            match event:
                case Progress(index, offset, persist):
                    self._progress(job, index, offset, persist)
                    return  # saved at checkpoints only; waiters are woken by _progress
                case Opened(index, offset):
                    f = job.files[index]
                    if f.bytes_transferred == offset:
                        return
                    f.bytes_transferred = offset  # the temp file was shorter than the checkpoint
                case Receiving():
                    if job.state is not JobState.Connecting:
                        return
                    job.move(E.RECEIVE)
                case FileInfo(index, total, last_modified):
                    f = job.files[index]
                    changed = False
                    if total is not None and f.bytes_total < 0:
                        f.bytes_total, changed = total, True
                    if last_modified is not None and f.last_modified is None:
                        f.last_modified, changed = last_modified, True
                    if not changed:
                        return
                    job.touch()
                case FileRestarted(index, total, last_modified):
                    f = job.files[index]
                    f.bytes_transferred = 0
                    f.bytes_total = total if total is not None else -1
                    f.last_modified = last_modified
                    job.touch()
                case Redirected(index, url):
                    job.files[index].remote_url = url
                    job.touch()
                case FileDone(index, size, dynamic):
                    f = job.files[index]
                    f.bytes_transferred = size
                    if dynamic or f.bytes_total < 0:
                        f.bytes_total = size
                    f.completed = True
                    job.touch()
                case UploadUpdated(index, state):
                    job.files[index].upload = state
                    job.touch()
                case ReplyUpdated(reply, persist):
                    job.reply = reply
                    if not persist:
                        job.change_count += 1
                        self.changed.notify_all()
                        return
                    job.touch()
                case Finished():
                    if any(not f.completed for f in job.files):
                        return  # a file was added at the last moment: the next turn takes it
                    if job.reply is not None and not job.reply.completed:
                        return  # an UploadReply job is Transferred once its reply is here too
                    job.move(E.FINISH)
                case Failed(error, context, index):
                    self._failed(job, JobError.from_exception(error, context, index))
            self._save(job)

    def _progress(self, job: Job, index: int, offset: int, persist: bool) -> None:
        moved = offset - job.files[index].bytes_transferred
        if moved > 0:  # a resync backwards (a shorter temp file) moved nothing
            self.bytes_moved += moved
        job.files[index].bytes_transferred = offset
        job.no_progress_since = None
        if persist and self.store is not None:
            self.store.save(job)
        now = time.monotonic()
        if now - self._last_notify.get(job.job_id, 0.0) >= tunables.CLIENT_PROGRESS_INTERVAL:
            self._last_notify[job.job_id] = now
            job.change_count += 1
            self.changed.notify_all()  # progress does not concern the scheduler

    def _failed(self, job: Job, error: JobError) -> None:
        """A transient error is retried after minimumRetryDelay while noProgressTimeout allows."""
        log.info(
            "job %s: %s error %s: %s",
            job.job_id,
            "transient" if error.transient else "fatal",
            error.name,
            error.description,
        )
        now = time.monotonic()
        delay = job.settings.minimum_retry_delay
        timeout = job.settings.no_progress_timeout
        if job.no_progress_since is None:
            job.no_progress_since = now
        if error.transient and timeout > 0 and delay <= timeout and now - job.no_progress_since < timeout:
            job.move(E.TRANSIENT_ERROR, error=error, retry_at=now + delay)
        else:
            job.move(E.FATAL_ERROR, error=error)

    def _transfer_exited(self, t: Transfer) -> None:
        if self.transfers.get(t.job.job_id) is t:
            del self.transfers[t.job.job_id]
        if t.job.state in RUNNING and t.job.job_id not in self.busy and t.job.job_id not in self.transfers:
            t.job.move(E.YIELD)  # the turn ended without a verdict: queue the job again
        self._save(t.job)

    # --- operations (RPC) ---------------------------------------------------------------------------
    def _find(self, job_id: str, caller: Caller) -> Job:
        """A live job or a recent final one (so calls on it answer BG_E_INVALID_STATE)."""
        key = normalize_job_id(job_id)
        job = self.jobs.get(key) or self.tombstones.get(key)
        if job is None or not caller.may_see(job):
            raise BcsError(BG_E_NOT_FOUND, f"job {key} was not found", noun="Job", target=key)
        return job

    def create(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        transfer_type = JobType[params.get("type") or "Download"]
        files = params.get("files") or []
        suspended = bool(params.get("suspended"))
        if transfer_type is not JobType.Download and len(files) > 1:
            raise BcsError(
                BG_E_TOO_MANY_FILES,
                f"an {transfer_type.name} job has exactly one file, not {len(files)}",
                noun="Job",
            )
        if not suspended and not files:
            raise BcsError(
                BG_E_EMPTY, "a job without files cannot start; pass files or suspended=true", noun="Job"
            )
        job = Job(job_id=new_job_id(), owner=caller.owner, transfer_type=transfer_type)
        _apply_settings(job, params)
        reply_name = params.get("reply_file_name")
        if reply_name is not None:
            if transfer_type is not JobType.UploadReply:
                raise InvalidArgumentError(
                    "replyFileName is for UploadReply jobs only", noun="Job", target=reply_name
                )
            job.reply = new_reply(_reply_path(reply_name))
        for spec in files:
            job.files.append(_new_file(job, spec["remoteUrl"], spec["localPath"], spec.get("sha256") or ""))
        _give_reply_a_name(job)
        with self.lock:
            assert self.store is not None
            self.store.insert(job)
            self.jobs[job.job_id] = job
            if not suspended:
                job.move(E.RESUME)
            self._save(job)
            return job.to_json()

    def add_file(
        self, caller: Caller, job_id: str, remote_url: str, local_path: str, sha256: str = ""
    ) -> dict[str, Any]:
        with self.lock:
            job = self._find(job_id, caller)
            transition(job.state, E.ADD_FILE, job.job_id)
            if job.transfer_type is not JobType.Download and job.files:
                raise BcsError(
                    BG_E_TOO_MANY_FILES,
                    f"an {job.transfer_type.name} job has exactly one file",
                    noun="Job",
                    target=job.job_id,
                )
            job.files.append(_new_file(job, remote_url, local_path, sha256))
            _give_reply_a_name(job)
            job.move(E.ADD_FILE)
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
                and (name is None or fnmatch.fnmatchcase(j.settings.display_name, name))
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
                raise BcsError(
                    BG_E_NOT_FOUND,
                    f"job {job.job_id} was {job.state.name.lower()} and has left the queue",
                    noun="Job",
                    target=job.job_id,
                )
            result = job.to_json()
            if job.reply is not None:
                result["replyData"] = _reply_data(job.reply)
            return result

    def set(self, caller: Caller, job_id: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            job = self._find(job_id, caller)
            transition(job.state, E.SET, job.job_id)
            _apply_settings(job, params)
            transfer = self.transfers.get(job.job_id)
            if transfer is not None:
                transfer.bucket.set_rate(job.settings.bandwidth_limit)
            job.touch()
            self._save(job)
            return job.to_json()

    def suspend(self, caller: Caller, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._find(job_id, caller)
            transition(job.state, E.SUSPEND, job.job_id)
            self._stop_transfer(job)
            job.move(E.SUSPEND)
            self._save(job)
            return job.to_json()

    def resume(self, caller: Caller, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._find(job_id, caller)
            transition(job.state, E.RESUME, job.job_id)
            if not job.files:
                raise BcsError(BG_E_EMPTY, noun="Job", target=job.job_id)
            if job.state is JobState.Transferred and all(f.completed for f in job.files):
                return job.to_json()  # nothing left to transfer
            if job.state not in SCHEDULABLE:
                job.move(E.RESUME)
                self._save(job)
            return job.to_json()

    def complete(self, caller: Caller, job_id: str) -> dict[str, Any]:
        with self.lock:
            upload = self._find(job_id, caller).transfer_type is not JobType.Download
        if upload:
            return self._complete_upload(caller, job_id)
        with self._exclusive(caller, job_id, E.COMPLETE) as job:
            partial = False
            for f in job.files:
                if f.committed:
                    continue
                if f.completed:
                    try:
                        staging.commit(f)
                    except OSError as exc:
                        job.touch()
                        self._save(job)  # the files renamed so far stay committed
                        err = local_error(exc, f.local_path)
                        err.message = f"cannot commit {f.local_path}: {err.message}"
                        raise err from None
                else:
                    partial = True
                    staging.discard(f)
            job.move(E.COMPLETE)
            return self._retire(job, partial)

    def _complete_upload(self, caller: Caller, job_id: str) -> dict[str, Any]:
        """Close-Session (the server places the file), then the reply file appears; Acknowledged.

        The upload is Transferred once the server acknowledged the last byte, but our server
        places the file at Close-Session (its README), so Complete talks to the server, outside
        the service lock. A refused or failed Close leaves the job Transferred (call again, or
        cancel it); a server that lost the session makes the job upload the file again.
        """
        with self._claimed(caller, job_id, E.COMPLETE) as job:
            with self.lock:
                if job.state is not JobState.Transferred:
                    raise InvalidStateError(
                        f"an {job.transfer_type.name} job can be completed only when Transferred, "
                        f"not {job.state.name}",
                        noun="Job",
                        target=job.job_id,
                    )
                f = job.files[0]
                settings, credentials = job.settings, list(job.credentials)
                session = dataclasses.replace(f) if f.upload and f.upload.session_id else None
            if session is not None:
                try:
                    end_session(settings, credentials, session, PacketType.CLOSE_SESSION)
                except BcsError as exc:
                    if exc.kind is BG_E_SESSION_NOT_FOUND:
                        self._upload_again(job, exc)
                    exc.target = job.job_id
                    raise
            with self.lock:
                if job.reply is not None:
                    try:
                        _commit_reply(job.reply)
                    except OSError as exc:
                        err = local_error(exc, job.reply.file_name)
                        err.message = f"cannot commit the reply {job.reply.file_name}: {err.message}"
                        raise err from None
                job.move(E.COMPLETE)
                return self._retire(job, False)

    def _upload_again(self, job: Job, exc: BcsError) -> None:
        """The server lost the session of a finished upload: queue the job to send it again."""
        with self.lock:
            f = job.files[0]
            log.warning("job %s: %s; uploading the file again", job.job_id, exc.message)
            f.upload = UploadState()
            f.bytes_transferred, f.completed = 0, False
            if job.reply is not None:
                _discard_reply(job.reply)
                job.reply = new_reply(job.reply.file_name)
            job.move(E.RESUME)
            self._save(job)
        exc.message += "; the job uploads the file again (Queued)"

    def cancel(self, caller: Caller, job_id: str) -> dict[str, Any]:
        with self._claimed(caller, job_id, E.CANCEL) as job:
            with self.lock:
                upload = job.files[0] if job.files and job.transfer_type is not JobType.Download else None
                settings, credentials = job.settings, list(job.credentials)
                session = (
                    dataclasses.replace(upload)
                    if upload and upload.upload and upload.upload.session_id
                    else None
                )
            cancelled_session: bool | None = None
            if session is not None:
                # Best effort: the job is cancelled anyway; the server's session times out otherwise.
                try:
                    end_session(settings, credentials, session, PacketType.CANCEL_SESSION)
                    cancelled_session = True
                except BcsError as exc:
                    cancelled_session = exc.kind is BG_E_SESSION_NOT_FOUND
                    if not cancelled_session:
                        log.warning("job %s: Cancel-Session failed: %s", job.job_id, exc.message)
            with self.lock:
                transition(job.state, E.CANCEL, job.job_id)
                unable = False
                if job.transfer_type is JobType.Download:
                    for f in job.files:
                        unable = not staging.discard(f) or unable
                if job.reply is not None:
                    unable = not _discard_reply(job.reply) or unable
                job.move(E.CANCEL)
                result = self._retire(job, False)
                if unable:
                    result["completeResult"] = "BG_S_UNABLE_TO_DELETE_FILES"
                if cancelled_session is not None:
                    result["sessionCancelled"] = cancelled_session
                return result

    @contextlib.contextmanager
    def _exclusive(self, caller: Caller, job_id: str, event: JobEvent) -> Iterator[Job]:
        """Stop the job's transfer and wait for its thread, then run the body under the lock."""
        with self._claimed(caller, job_id, event) as job, self.lock:
            yield job

    @contextlib.contextmanager
    def _claimed(self, caller: Caller, job_id: str, event: JobEvent) -> Iterator[Job]:
        """Stop the job's transfer and wait for its thread; the scheduler leaves the job alone
        while the body runs (it takes the lock itself, so it may talk to a server meanwhile)."""
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
            yield job
        finally:
            with self.lock:
                self.busy.discard(job.job_id)
                if job.state in RUNNING and job.job_id not in self.transfers:
                    job.move(E.YIELD)  # Complete failed after its transfer was stopped: queue it again
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
    return tunables.tuned("TIME_SLICE", tunables.CLIENT_TIME_SLICE)


def _apply_settings(job: Job, params: dict[str, Any]) -> None:
    """Validate and apply settable properties and credentials given as handler keywords.

    Raises:
        BcsError: a value is not acceptable (nothing is changed then).
    """
    settings = job.settings.changed(params)
    credentials = changed_credentials(job.credentials, params.get("credentials"))
    job.settings = settings
    job.credentials = credentials


def _new_file(job: Job, remote_url: str, local_path: str, sha256: str = "") -> JobFile:
    """Validate a (remote URL, local path) pair and give it a temporary name (downloads) or
    record the local file's size and time (uploads: it must exist and be readable).

    Raises:
        BcsError: bad URL, relative path, missing folder or upload file, or too many files.
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
        raise BcsError(BG_E_TOO_MANY_FILES_IN_JOB, noun="Job", target=job.job_id)
    path = os.path.normpath(local_path)
    if any(os.path.normpath(f.local_path) == path for f in job.files):
        raise InvalidArgumentError(f"{path} is already a file of this job", noun="Job", target=path)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise BcsError(ERROR_PATH_NOT_FOUND, f"the folder of {path} does not exist", noun="Job", target=path)
    if sha256:
        if job.transfer_type is not JobType.Download:
            raise InvalidArgumentError(
                "sha256 is checked on downloaded files only; an upload job sends its local file as it is",
                noun="Job",
                target=path,
            )
        if len(sha256) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha256):
            raise InvalidArgumentError(
                f"sha256 must be 64 hexadecimal digits, not {shown(sha256)}", noun="Job", target=path
            )
    if job.transfer_type is JobType.Download:
        return JobFile(
            remote_url=remote_url,
            local_path=path,
            temporary_name=staging.temp_name(path),
            sha256=sha256.lower(),
        )
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise file_error(exc, f"the file to upload {path}", noun="Job", target=path) from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        raise InvalidArgumentError(
            f"the file to upload {path} is not a regular file", noun="Job", target=path
        )
    upload = UploadState(local_size=st.st_size, local_mtime_ns=st.st_mtime_ns)
    return JobFile(remote_url, path, "", bytes_total=st.st_size, upload=upload)


def _reply_path(name: str) -> str:
    """A replyFileName checked: absolute, in an existing folder, not a folder itself.

    Raises:
        BcsError: E_INVALIDARG or ERROR_PATH_NOT_FOUND, naming it.
    """
    if not os.path.isabs(name):
        raise InvalidArgumentError(f"replyFileName must be absolute: {name!r}", noun="Job", target=name)
    path = os.path.normpath(name)
    if os.path.isdir(path):
        raise InvalidArgumentError(f"replyFileName {path} is a folder", noun="Job", target=path)
    if not os.path.isdir(os.path.dirname(path)):
        raise BcsError(ERROR_PATH_NOT_FOUND, f"the folder of {path} does not exist", noun="Job", target=path)
    return path


def _give_reply_a_name(job: Job) -> None:
    """An UploadReply job without replyFileName gets one beside its file (as BITS generates one)."""
    if job.transfer_type is JobType.UploadReply and job.reply is None and job.files:
        job.reply = new_reply(reply_file_name(job.files[0].local_path, job.job_id))


def _reply_data(reply: Reply) -> str | None:
    """GetReplyData: the reply (base64) once it is here and at most CLIENT_REPLY_DATA_MAX bytes."""
    if not reply.completed or reply.bytes_transferred > tunables.CLIENT_REPLY_DATA_MAX:
        return None
    try:
        with open(reply.file_name if reply.committed else reply.temporary_name, "rb") as fh:
            data = fh.read(tunables.CLIENT_REPLY_DATA_MAX + 1)
    except OSError:
        return None
    if len(data) > tunables.CLIENT_REPLY_DATA_MAX:
        return None
    return base64.b64encode(data).decode("ascii")


def _recover_reply(reply: Reply) -> None:
    """A reply is fetched whole in one turn: an unfinished one starts again from 0."""
    if reply.committed:
        return
    try:
        size = os.stat(reply.temporary_name).st_size
    except OSError:
        size = -1
    if reply.completed and size == reply.bytes_transferred:
        return
    reply.completed = False
    reply.bytes_transferred = 0
    if size >= 0:
        _discard_reply(reply)


def _commit_reply(reply: Reply) -> None:
    """Rename the fetched reply to replyFileName (fsynced, atomic), as a download's file.

    Raises:
        OSError: it cannot be renamed.
    """
    if reply.committed or not reply.completed:
        return
    f = JobFile("", reply.file_name, reply.temporary_name)
    staging.commit(f)
    reply.committed = True


def _discard_reply(reply: Reply) -> bool:
    return staging.discard(JobFile("", reply.file_name, reply.temporary_name))
