"""Scheduling and timers: background slots, priorities, round-robin, bandwidth caps, retry timers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_client_support import Nginx, random_file, wait_job, wait_until

MIB = 1024 * 1024
ACTIVE = ("Connecting", "Transferring")


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    www = tmp_path / "www"
    www.mkdir()
    random_file(www / "big.bin", 48 * MIB)
    random_file(www / "three.bin", 3 * MIB)
    server = Nginx(tmp_path / "nginx", www).start()
    yield server
    server.stop()


def states(engine: Any, jobs: list[dict[str, Any]]) -> list[str]:
    return [engine.call("job.get", jobId=j["jobId"])["jobState"] for j in jobs]


def slow_job(engine: Any, nginx: Nginx, dest: Path, name: str, priority: str) -> dict[str, Any]:
    job: dict[str, Any] = engine.call(
        "job.create",
        displayName=name,
        files=[{"remoteUrl": nginx.url("slow/big.bin"), "localPath": str(dest / name)}],
        priority=priority,
    )
    return job


def test_background_jobs_share_slots_round_robin_and_higher_priority_preempts(
    engine_factory: Any, nginx: Nginx, tmp_path: Path
) -> None:
    engine = engine_factory().start(env={"BCS_TEST_TIME_SLICE": "1"})
    engine.call("server.set", backgroundJobSlots=1)
    a = slow_job(engine, nginx, tmp_path, "a", "Normal")
    b = slow_job(engine, nginx, tmp_path, "b", "Normal")
    # One slot: never both active; with 1 s slices both make progress.
    for _ in range(40):
        assert states(engine, [a, b]).count("Transferring") <= 1
        time.sleep(0.1)
    wait_until(
        lambda: all(engine.call("job.get", jobId=j["jobId"])["bytesTransferred"] > 0 for j in (a, b)),
        timeout=10,
        what="both Normal jobs progressing",
    )
    # A High job takes the slot at once and keeps it (no round-robin with lower priorities).
    high = slow_job(engine, nginx, tmp_path, "high", "High")
    wait_job(engine, high["jobId"], ("Transferring",), timeout=10)
    time.sleep(2.5)
    assert states(engine, [high, a, b]) == ["Transferring", "Queued", "Queued"]
    # Two slots: the High job and one Normal job.
    engine.call("server.set", backgroundJobSlots=2)
    wait_until(lambda: states(engine, [high, a, b]).count("Transferring") == 2, timeout=10, what="two active")
    assert engine.call("server.status")["backgroundJobSlots"] == 2
    # Foreground jobs do not need a slot.
    fg = slow_job(engine, nginx, tmp_path, "fg", "Foreground")
    wait_job(engine, fg["jobId"], ("Transferring",), timeout=10)
    assert states(engine, [high, a, b]).count("Transferring") == 2
    for j in (a, b, high, fg):
        engine.call("job.cancel", jobId=j["jobId"])


def test_global_job_bandwidth_limit_caps_all_jobs(engine: Any, nginx: Nginx, tmp_path: Path) -> None:
    engine.call("server.set", jobBandwidthLimit=MIB)
    started = time.monotonic()
    job = engine.call(
        "job.create",
        files=[{"remoteUrl": nginx.url("three.bin"), "localPath": str(tmp_path / "three.bin")}],
        priority="Foreground",
    )
    assert wait_job(engine, job["jobId"])["jobState"] == "Transferred"
    assert 2.0 <= time.monotonic() - started <= 6.0
    engine.call("server.set", jobBandwidthLimit=0)


def test_no_progress_timeout_turns_transient_errors_into_error(
    engine: Any, nginx: Nginx, tmp_path: Path
) -> None:
    job = engine.call(
        "job.create",
        files=[{"remoteUrl": nginx.url("status503/n"), "localPath": str(tmp_path / "n")}],
        priority="Foreground",
        minimumRetryDelay=5,
        noProgressTimeout=7,
    )
    first = wait_job(engine, job["jobId"], ("TransientError",), timeout=10)
    assert first["transientErrorCount"] == 1
    failed = wait_job(engine, job["jobId"], ("Error",), timeout=20)
    assert failed["errorCode"] == "0x801901F7"  # the last transient error, now fatal
    assert failed["transientErrorCount"] == 2


def test_zero_no_progress_timeout_or_retry_delay_above_it_makes_every_error_fatal(
    engine: Any, nginx: Nginx, tmp_path: Path
) -> None:
    for n, params in enumerate(
        ({"noProgressTimeout": 0}, {"minimumRetryDelay": 60, "noProgressTimeout": 30})
    ):
        job = engine.call(
            "job.create",
            files=[{"remoteUrl": nginx.url("status503/z"), "localPath": str(tmp_path / f"z{n}")}],
            priority="Foreground",
            **params,
        )
        failed = wait_job(engine, job["jobId"], ("Error", "TransientError"), timeout=10)
        assert failed["jobState"] == "Error" and failed["errorCode"] == "0x801901F7", params


def test_max_download_time_puts_a_job_that_never_finishes_in_error(engine: Any, tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        port = silent.getsockname()[1]
        job = engine.call(
            "job.create",
            files=[{"remoteUrl": f"http://127.0.0.1:{port}/x", "localPath": str(tmp_path / "x")}],
            priority="Foreground",
            maxDownloadTime=1,
        )
        failed = wait_job(engine, job["jobId"], ("Error",), timeout=10)
        assert failed["errorCode"] == "0x80200054"
        assert failed["errorName"] == "BG_E_MAXDOWNLOAD_TIMEOUT"
    finally:
        silent.close()


def test_connection_refused_is_a_transient_transport_error(engine: Any, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    job = engine.call(
        "job.create",
        files=[{"remoteUrl": f"http://127.0.0.1:{port}/x", "localPath": str(tmp_path / "x")}],
        priority="Foreground",
    )
    failed = wait_job(engine, job["jobId"], ("TransientError", "Error"), timeout=10)
    assert failed["jobState"] == "TransientError"
    assert failed["errorCode"] == "0x80072EFD"
    assert (failed["errorContext"], failed["errorContextValue"]) == ("GeneralTransport", 6)
