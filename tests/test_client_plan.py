"""The scheduling rules and the job state machine as pure functions: no engine, no threads, no sleeps."""

from __future__ import annotations

import dataclasses

import pytest

from bcs.client.job import ErrorContext, Job, JobError, JobEvent, JobState, JobType
from bcs.client.scheduler import Due, due, plan
from bcs.client.settings import JobSettings
from bcs.errors import InvalidArgumentError

E = JobEvent
NOW = 1000.0


def job(
    name: str, state: JobState, priority: str = "Normal", last_started: float = 0.0, **settings: object
) -> Job:
    j = Job(job_id=name, owner="o", transfer_type=JobType.Download, state=state)
    j.settings = dataclasses.replace(JobSettings(), priority=priority, **settings)  # type: ignore[arg-type]
    j.last_started = last_started
    return j


def names(jobs: list[Job]) -> list[str]:
    return [j.job_id for j in jobs]


def test_foreground_jobs_all_run_and_background_jobs_share_the_slots_by_priority() -> None:
    jobs = [
        job("fg1", JobState.Queued, "Foreground"),
        job("fg2", JobState.Queued, "Foreground"),
        job("low", JobState.Queued, "Low"),
        job("high", JobState.Queued, "High"),
        job("normal", JobState.Queued, "Normal"),
    ]
    p = plan(jobs, NOW, slots=2, slice_seconds=60)
    assert names(p.start) == ["fg1", "fg2", "high", "normal"]
    assert p.preempt == [] and p.renew == []


def test_a_higher_priority_job_preempts_a_running_lower_one_at_once() -> None:
    running = job("low", JobState.Transferring, "Low", last_started=NOW - 1)
    waiting = job("high", JobState.Queued, "High")
    p = plan([running, waiting], NOW, slots=1, slice_seconds=60)
    assert names(p.start) == ["high"] and names(p.preempt) == ["low"]


def test_same_priority_jobs_take_turns_when_the_slice_ends() -> None:
    running = job("a", JobState.Transferring, last_started=NOW - 10)
    waiting = job("b", JobState.Queued, last_started=NOW - 100)
    assert names(plan([running, waiting], NOW, 1, slice_seconds=60).start) == []  # a's slice goes on
    p = plan([running, waiting], NOW, 1, slice_seconds=5)
    assert names(p.start) == ["b"] and names(p.preempt) == ["a"]


def test_a_job_alone_gets_a_new_slice_and_busy_or_transferring_jobs_are_left_alone() -> None:
    alone = job("a", JobState.Transferring, last_started=NOW - 100)
    assert names(plan([alone], NOW, 1, slice_seconds=60).renew) == ["a"]
    queued = job("q", JobState.Queued)
    assert plan([queued], NOW, 1, 60, busy={"q"}).start == []
    assert plan([queued], NOW, 1, 60, transferring={"q"}).start == []  # its old turn is still ending


def test_upload_jobs_are_scheduled_as_downloads() -> None:
    upload = job("u", JobState.Queued, "Foreground")
    upload.transfer_type = JobType.Upload
    assert names(plan([upload], NOW, 1, 60).start) == ["u"]


def test_timers_retry_then_out_of_time_and_no_progress() -> None:
    retry = job("retry", JobState.TransientError)
    retry.retry_at = NOW - 1
    retry.no_progress_since = NOW - 5
    waiting = job("wait", JobState.TransientError)
    waiting.retry_at = NOW + 1
    stuck = job("stuck", JobState.TransientError, no_progress_timeout=10)
    stuck.retry_at = NOW - 1
    stuck.no_progress_since = NOW - 10
    overdue = job("overdue", JobState.TransientError, max_download_time=60)
    overdue.retry_at = NOW - 1
    overdue.active_seconds = 61
    assert [(j.job_id, d) for j, d in due([retry, waiting, stuck, overdue], NOW)] == [
        ("retry", Due.RETRY),
        ("stuck", Due.NO_PROGRESS),  # out of progress time: Error, not one more retry
        ("overdue", Due.RETRY),
        ("overdue", Due.MAX_DOWNLOAD_TIME),
    ]
    assert due([retry], NOW, busy={"retry"}) == []


def error(transient: bool) -> JobError:
    return JobError(ErrorContext.RemoteFile, 0x801901F7, "BG_E_HTTP_ERROR_503", "503", 0, transient)


def test_move_keeps_the_fields_that_travel_with_a_state_change() -> None:
    j = job("j", JobState.Transferring)
    j.move(E.TRANSIENT_ERROR, error=error(True), retry_at=NOW + 600)
    assert j.state is JobState.TransientError and j.retry_at == NOW + 600
    assert j.transient_error_count == 1 and j.error is not None and j.error.transient
    j.no_progress_since = NOW
    j.move(E.RETRY)
    assert j.retry_at is None and j.error is None and j.no_progress_since == NOW  # the period goes on
    j.move(E.CONNECT)
    j.move(E.FATAL_ERROR, error=error(True))  # a transient error that may not be retried any more
    assert j.transient_error_count == 2 and j.error is not None and not j.error.transient
    j.move(E.RESUME)
    assert j.error is None and j.no_progress_since is None and j.retry_at is None
    j.move(E.CONNECT)
    j.move(E.FINISH)
    assert j.state is JobState.Transferred and j.transfer_completion_time is not None


def test_fatal_error_without_an_error_makes_the_last_transient_error_final() -> None:
    j = job("j", JobState.Connecting)
    j.move(E.TRANSIENT_ERROR, error=error(True), retry_at=NOW)
    j.move(E.FATAL_ERROR)  # the no-progress timeout
    assert j.state is JobState.Error and j.error is not None and not j.error.transient
    assert j.transient_error_count == 1 and j.retry_at is None


def test_settings_round_trip_through_the_stored_record_and_validate() -> None:
    s = JobSettings().changed({"priority": "High", "custom_headers": ["X-A: 1"], "proxy_list": None})
    assert s.priority == "High" and s.custom_headers == ("X-A: 1",)
    record = s.to_record()
    assert record["customHeaders"] == ["X-A: 1"] and record["minimumRetryDelay"] == 600
    assert JobSettings.from_record({**record, "unknownKey": 1}) == s
    with pytest.raises(InvalidArgumentError):
        s.changed({"custom_headers": ["no colon"]})
    with pytest.raises(InvalidArgumentError):
        s.changed({"minimum_retry_delay": 1})
