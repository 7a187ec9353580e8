"""Which jobs run: the BITS scheduling rules as pure functions of the jobs and the clock.

bits-protocol.md 3.3: foreground jobs all run at once; background jobs (High, Normal, Low) share
``slots`` slots, higher priority first (a higher-priority job takes a slot from a lower one at
once), and jobs of one priority take turns by time slices. Files of a job go strictly in order
(the transfer loop's business, not this module's).

Nothing here changes a job or reads a clock: ``due`` and ``plan`` take ``now`` and return what
should happen, and ``JobService`` applies it under its lock. So the rules are unit-tested without
an engine, threads or sleeps.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from bcs.client.job import ACTION_STATES, Job, JobState, Priority

__all__ = ["RUNNING", "SCHEDULABLE", "Due", "Plan", "due", "plan"]

RUNNING = frozenset({JobState.Connecting, JobState.Transferring})
SCHEDULABLE = frozenset({JobState.Queued, *RUNNING})


class Due(enum.Enum):
    """A job timer that has run out."""

    NO_PROGRESS = "no_progress"  # TransientError for noProgressTimeout: Error with the last error
    RETRY = "retry"  # TransientError whose retry time came: Queued
    MAX_DOWNLOAD_TIME = "max_download_time"  # maxDownloadTime spent in the action states: Error


def due(jobs: Iterable[Job], now: float, busy: Collection[str] = ()) -> list[tuple[Job, Due]]:
    """The timers of ``jobs`` that have run out at ``now`` (monotonic), in the order to apply them.

    A job may appear twice (retried, then out of download time). Jobs in ``busy`` (being completed
    or cancelled) are left alone.
    """
    out: list[tuple[Job, Due]] = []
    for job in jobs:
        if job.job_id in busy:
            continue
        failed = False
        if job.state is JobState.TransientError:
            since = job.no_progress_since
            if since is not None and now - since >= job.settings.no_progress_timeout:
                out.append((job, Due.NO_PROGRESS))
                failed = True
            elif job.retry_at is not None and now >= job.retry_at:
                out.append((job, Due.RETRY))
        if not failed and job.state in ACTION_STATES and job.active_time() > job.settings.max_download_time:
            out.append((job, Due.MAX_DOWNLOAD_TIME))
    return out


@dataclass
class Plan:
    """What the scheduler does in one look."""

    start: list[Job] = field(default_factory=list)  # Queued, no transfer: connect and start one
    preempt: list[Job] = field(default_factory=list)  # running background jobs that lose their slot
    renew: list[Job] = field(default_factory=list)  # running, slice over, nobody waits: a new slice


def plan(
    jobs: Iterable[Job],
    now: float,
    slots: int,
    slice_seconds: float,
    busy: Collection[str] = (),
    transferring: Collection[str] = (),
) -> Plan:
    """Choose the jobs that run at ``now``.

    Args:
        jobs: every live job.
        now: monotonic time.
        slots: background jobs that may transfer at once (``client.backgroundSlots``).
        slice_seconds: a background job's turn before others of its priority get theirs.
        busy: ids of jobs being completed or cancelled (never scheduled).
        transferring: ids of jobs whose transfer thread still runs.
    """
    candidates = [j for j in jobs if j.state in SCHEDULABLE and j.job_id not in busy]
    chosen = [j for j in candidates if j.priority is Priority.Foreground]
    background = [j for j in candidates if j.priority is not Priority.Foreground]

    def turn_key(j: Job) -> tuple[int, int, float]:
        in_slice = j.state in RUNNING and now - j.last_started < slice_seconds
        return (int(j.priority), 0 if in_slice else 1, j.last_started)

    background.sort(key=turn_key)
    chosen += background[:slots]
    result = Plan(preempt=[j for j in background[slots:] if j.state in RUNNING])
    for j in chosen:
        if j.state is JobState.Queued and j.job_id not in transferring:
            result.start.append(j)
        elif j.state in RUNNING and now - j.last_started >= slice_seconds:
            result.renew.append(j)
    return result
