"""Download jobs end to end against real nginx and ``python -m http.server`` on loopback."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bcs.rpc.client import RpcError
from test_client_support import (
    Nginx,
    PlainHttpServer,
    random_file,
    sha256,
    wait_job,
    wait_until,
)

MIB = 1024 * 1024


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    return root


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    d = tmp_path / "dest"
    d.mkdir()
    return d


@pytest.fixture
def nginx(tmp_path: Path, www: Path) -> Iterator[Nginx]:
    server = Nginx(tmp_path / "nginx", www).start()
    yield server
    server.stop()


def create(engine: Any, files: list[tuple[str, Path]], **params: Any) -> dict[str, Any]:
    params.setdefault("priority", "Foreground")
    job: dict[str, Any] = engine.call(
        "job.create",
        files=[{"remoteUrl": u, "localPath": str(p)} for u, p in files],
        **params,
    )
    return job


def hidden_temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".BIT") and p.name.endswith(".tmp"))


def test_multi_file_job_downloads_every_file_and_complete_commits_them(
    engine: Any, nginx: Nginx, www: Path, dest: Path
) -> None:
    sizes = {"a.bin": 3 * MIB + 17, "b.bin": 1, "c.bin": 0, "d.bin": 5 * MIB}
    for name, size in sizes.items():
        random_file(www / name, size)
    job = create(engine, [(nginx.url(n), dest / n) for n in sizes], displayName="multi")
    assert job["jobState"] in ("Queued", "Connecting", "Transferring")
    done = wait_job(engine, job["jobId"])
    assert done["jobState"] == "Transferred", done
    assert done["bytesTotal"] == done["bytesTransferred"] == sum(sizes.values())
    assert done["filesTransferred"] == done["filesTotal"] == 4
    assert done["transferCompletionTime"] is not None
    assert not any((dest / n).exists() for n in sizes), "destinations appear only on Complete"
    assert len(hidden_temps(dest)) == 4
    result = engine.call("job.complete", jobId=job["jobId"])
    assert result["jobState"] == "Acknowledged" and result["completeResult"] == "S_OK"
    for name in sizes:
        assert sha256(dest / name) == sha256(www / name)
    assert hidden_temps(dest) == []
    assert engine.call("job.list") == []
    # Multi-file jobs learn every size first (HEAD), then GET in order over one connection.
    methods = [(m, u) for m, u, *_ in nginx.log()]
    assert methods[:4] == [("HEAD", f"/{n}") for n in sizes]
    assert methods[4:] == [("GET", f"/{n}") for n in sizes]
    assert len(set(nginx.connections())) == 1, "one keep-alive connection for the whole job"


def test_404_puts_the_job_in_error_with_0x80190194_and_remote_file_context(
    engine: Any, nginx: Nginx, dest: Path
) -> None:
    job = create(engine, [(nginx.url("missing.bin"), dest / "m.bin")])
    done = wait_job(engine, job["jobId"])
    assert done["jobState"] == "Error"
    assert done["jobStateValue"] == 4
    assert done["errorCode"] == "0x80190194"
    assert done["errorName"] == "BG_E_HTTP_ERROR_404"
    assert (done["errorCategory"], done["errorId"]) == ("ProtocolError", "Bcs.Job.HttpError")
    assert done["errorContext"] == "RemoteFile" and done["errorContextValue"] == 5
    assert done["errorFileIndex"] == 0
    assert done["transientErrorCount"] == 0


def test_503_is_a_transient_error_retried_after_the_minimum_retry_delay(
    engine: Any, nginx: Nginx, dest: Path
) -> None:
    job = create(engine, [(nginx.url("status503/x.bin"), dest / "x.bin")], minimumRetryDelay=5)
    first = wait_job(engine, job["jobId"], ("TransientError",), timeout=20)
    assert first["errorCode"] == "0x801901F7"
    assert first["errorContext"] == "RemoteFile"
    assert first["transientErrorCount"] == 1
    assert 0 < first["retryInSeconds"] <= 5
    started = time.monotonic()
    wait_until(
        lambda: engine.call("job.get", jobId=job["jobId"])["transientErrorCount"] >= 2,
        timeout=20,
        what="a retry",
    )
    assert time.monotonic() - started >= 3.5  # not before the delay
    assert len([r for r in nginx.log() if r[1].startswith("/status503/")]) >= 2
    engine.call("job.cancel", jobId=job["jobId"])


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_retry_timer_of_a_transient_error_survives_an_engine_restart(
    engine: Any, nginx: Nginx, dest: Path, how: str
) -> None:
    job = create(engine, [(nginx.url("status503/x.bin"), dest / "x.bin")], minimumRetryDelay=60)
    first = wait_job(engine, job["jobId"], ("TransientError",), timeout=20)
    assert first["transientErrorCount"] == 1 and 55 <= first["retryInSeconds"] <= 60
    requests = len(nginx.log())
    if how == "kill":
        engine.kill()  # the record saved with the transient error is all there is
        engine.start()
    else:
        engine.restart()
    time.sleep(1.5)  # a retry at once (the old behaviour) would have happened by now
    again = engine.call("job.get", jobId=job["jobId"])
    assert again["jobState"] == "TransientError"
    assert again["transientErrorCount"] == 1
    assert 50 <= again["retryInSeconds"] <= 59, again["retryInSeconds"]
    assert len(nginx.log()) == requests, "the job retried at once after the restart"
    engine.call("job.cancel", jobId=job["jobId"])


def test_server_stopped_mid_transfer_gives_transient_error_then_resumes_without_refetching(
    engine: Any, nginx: Nginx, www: Path, dest: Path
) -> None:
    size = 12 * MIB
    random_file(www / "big.bin", size)
    job = create(engine, [(nginx.url("slow/big.bin"), dest / "big.bin")], minimumRetryDelay=5)
    wait_until(
        lambda: engine.call("job.get", jobId=job["jobId"])["bytesTransferred"] > 3 * MIB,
        what="3 MiB transferred",
    )
    nginx.stop()
    broken = wait_job(engine, job["jobId"], ("TransientError",), timeout=20)
    assert broken["errorContext"] == "GeneralTransport"
    assert broken["errorCode"] in ("0x80072EFE", "0x80072EFD")
    got_before = broken["bytesTransferred"]
    assert 0 < got_before < size
    nginx.start()  # same port, same access log
    done = wait_job(engine, job["jobId"], timeout=60)
    assert done["jobState"] == "Transferred", done
    engine.call("job.complete", jobId=job["jobId"])
    assert sha256(dest / "big.bin") == sha256(www / "big.bin")
    resumed = [r for r in nginx.log() if r[0] == "GET" and r[2]]
    assert resumed, nginx.log()
    first_byte = int(resumed[-1][2].removeprefix("bytes=").split("-")[0])
    assert first_byte >= got_before
    assert resumed[-1][3] == 206 and resumed[-1][4] == size - first_byte


def test_remote_file_replaced_mid_download_restarts_that_file_from_zero(
    engine: Any, nginx: Nginx, www: Path, dest: Path
) -> None:
    random_file(www / "first.bin", 64 * 1024)
    random_file(www / "f.bin", 8 * MIB)
    job = create(
        engine,
        [(nginx.url("first.bin"), dest / "first.bin"), (nginx.url("slow/f.bin"), dest / "f.bin")],
    )
    wait_until(lambda: engine.call("job.get", jobId=job["jobId"])["files"][1]["bytesTransferred"] > MIB)
    engine.call("job.suspend", jobId=job["jobId"])
    replacement = random_file(www / "f.new", 6 * MIB)
    os.utime(replacement, (time.time() + 100, time.time() + 100))
    os.replace(replacement, www / "f.bin")
    engine.call("job.resume", jobId=job["jobId"])
    done = wait_job(engine, job["jobId"])
    assert done["jobState"] == "Transferred", done
    assert done["files"][1]["bytesTotal"] == 6 * MIB
    engine.call("job.complete", jobId=job["jobId"])
    assert sha256(dest / "f.bin") == sha256(www / "f.bin")
    assert sha256(dest / "first.bin") == sha256(www / "first.bin")
    gets = [r for r in nginx.log() if r[0] == "GET"]
    assert [r[1] for r in gets].count("/first.bin") == 1, "the finished file is kept"
    # Ranged request after resume -> changed Last-Modified -> the whole new file from 0.
    assert gets[-2][2].startswith("bytes=") and gets[-1][2] == "" and gets[-1][4] == 6 * MIB


def test_server_without_range_support_downloads_whole_files(engine: Any, www: Path, dest: Path) -> None:
    random_file(www / "one.bin", 2 * MIB)
    random_file(www / "two.bin", 1000)
    server = PlainHttpServer(www).start()
    try:
        job = create(
            engine, [(server.url("one.bin"), dest / "one.bin"), (server.url("two.bin"), dest / "two.bin")]
        )
        done = wait_job(engine, job["jobId"])
        assert done["jobState"] == "Transferred", done
        engine.call("job.complete", jobId=job["jobId"])
        assert sha256(dest / "one.bin") == sha256(www / "one.bin")
        assert sha256(dest / "two.bin") == sha256(www / "two.bin")
    finally:
        server.stop()


def test_server_ignoring_range_on_resume_is_bg_e_insufficient_range_support_unless_dynamic(
    engine: Any, www: Path, dest: Path
) -> None:
    random_file(www / "r.bin", 4 * MIB)
    server = PlainHttpServer(www).start()
    try:
        results = {}
        for dynamic in (False, True):
            target = dest / f"r-{dynamic}.bin"
            job = create(engine, [(server.url("r.bin"), target)], bandwidthLimit=1 * MIB, dynamic=dynamic)
            wait_until(lambda j=job: engine.call("job.get", jobId=j["jobId"])["bytesTransferred"] > 0)
            engine.call("job.suspend", jobId=job["jobId"])
            engine.call("job.set", jobId=job["jobId"], bandwidthLimit=0)
            engine.call("job.resume", jobId=job["jobId"])
            results[dynamic] = wait_job(engine, job["jobId"])
            if dynamic:
                engine.call("job.complete", jobId=job["jobId"])
                assert sha256(target) == sha256(www / "r.bin")
            else:
                engine.call("job.cancel", jobId=job["jobId"])
        assert results[False]["jobState"] == "Error"
        assert results[False]["errorCode"] == "0x80200013"
        assert results[False]["errorName"] == "BG_E_INSUFFICIENT_RANGE_SUPPORT"
        assert results[True]["jobState"] == "Transferred"
    finally:
        server.stop()


def test_engine_killed_mid_transfer_resumes_from_checkpoint_and_never_shows_a_partial_file(
    engine_factory: Any, nginx: Nginx, www: Path, dest: Path
) -> None:
    size = 16 * MIB
    random_file(www / "k.bin", size)
    engine = engine_factory().start()
    job = create(engine, [(nginx.url("slow/k.bin"), dest / "k.bin")])
    wait_until(lambda: engine.call("job.get", jobId=job["jobId"])["bytesTransferred"] > 6 * MIB, what="6 MiB")
    assert not (dest / "k.bin").exists()
    engine.kill()
    assert not (dest / "k.bin").exists()
    engine.start()
    seen_partial = False
    deadline = time.monotonic() + 60
    state = engine.call("job.get", jobId=job["jobId"])
    while state["jobState"] != "Transferred" and time.monotonic() < deadline:
        seen_partial |= (dest / "k.bin").exists()
        time.sleep(0.05)
        state = engine.call("job.get", jobId=job["jobId"])
    assert state["jobState"] == "Transferred", state
    assert not seen_partial and not (dest / "k.bin").exists()
    engine.call("job.complete", jobId=job["jobId"])
    assert sha256(dest / "k.bin") == sha256(www / "k.bin")
    gets = [r for r in nginx.log() if r[0] == "GET"]
    resumed_from = int(gets[-1][2].removeprefix("bytes=").split("-")[0])
    assert resumed_from >= 4 * MIB, gets  # the checkpoint (every 4 MiB or 2 s) survived the kill
    assert gets[-1][4] == size - resumed_from


def test_redirect_is_followed_silently_by_default_and_refused_with_disallow_flag(
    engine: Any, nginx: Nginx, www: Path, dest: Path
) -> None:
    random_file(www / "t.bin", 1000)
    ok = wait_job(engine, create(engine, [(nginx.url("redirect/t.bin"), dest / "t.bin")])["jobId"])
    assert ok["jobState"] == "Transferred"
    assert ok["files"][0]["remoteUrl"].endswith("/redirect/t.bin")
    report = create(engine, [(nginx.url("redirect/t.bin"), dest / "t2.bin")], securityFlags=0x0100)
    reported = wait_job(engine, report["jobId"])
    assert reported["files"][0]["remoteUrl"] == nginx.url("t.bin")
    refused = wait_job(
        engine,
        create(engine, [(nginx.url("redirect/t.bin"), dest / "t3.bin")], securityFlags=0x0200)["jobId"],
    )
    assert refused["jobState"] == "Error"
    assert refused["errorCode"] == "0x8007012E"  # HRESULT_FROM_WIN32(302)


def test_job_wait_long_poll_returns_on_change_and_on_timeout(
    engine: Any, nginx: Nginx, www: Path, dest: Path
) -> None:
    random_file(www / "w.bin", 10)
    job = engine.call(
        "job.create",
        files=[{"remoteUrl": nginx.url("w.bin"), "localPath": str(dest / "w.bin")}],
        suspended=True,
    )
    started = time.monotonic()
    same = engine.call("job.wait", jobId=job["jobId"], changeCount=job["changeCount"], timeout=0.5)
    assert time.monotonic() - started >= 0.45 and same["changeCount"] == job["changeCount"]
    assert engine.call("job.wait", jobId=job["jobId"], changeCount=0)["jobId"] == job["jobId"]
    engine.call("job.set", jobId=job["jobId"], priority="Foreground")
    changed = engine.call("job.wait", jobId=job["jobId"], changeCount=job["changeCount"], timeout=10)
    assert changed["changeCount"] > job["changeCount"]


def test_per_job_bandwidth_limit_paces_the_download(engine: Any, nginx: Nginx, www: Path, dest: Path) -> None:
    random_file(www / "p.bin", 3 * MIB)
    started = time.monotonic()
    job = create(engine, [(nginx.url("p.bin"), dest / "p.bin")], bandwidthLimit=MIB)
    wait_job(engine, job["jobId"])
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed <= 6.0, elapsed


def test_unknown_job_id_is_bg_e_not_found(engine: Any) -> None:
    with pytest.raises(RpcError) as info:
        engine.call("job.get", jobId="{00000000-0000-0000-0000-000000000001}")
    assert info.value.data["name"] == "BG_E_NOT_FOUND"


@pytest.mark.parametrize("op", ["job.cancel", "job.complete"])
def test_a_cancelled_or_acknowledged_job_has_left_the_queue_as_in_bits(
    engine: Any, nginx: Nginx, dest: Path, op: str
) -> None:
    job = create(engine, [(nginx.url("status503/y.bin"), dest / "y.bin")], suspended=True)
    final = engine.call(op, jobId=job["jobId"])
    assert final["jobState"] in ("Cancelled", "Acknowledged")
    with pytest.raises(RpcError) as info:
        engine.call("job.get", jobId=job["jobId"])
    assert info.value.data["name"] == "BG_E_NOT_FOUND"
    assert info.value.data["errorId"] == "Bcs.Job.NotFound"
    assert info.value.data["category"] == "ObjectNotFound"
    assert job["jobId"] not in [j["jobId"] for j in engine.call("job.list")]
    # A waiter still learns the final state, and a late operation says why it cannot run.
    assert (
        engine.call("job.wait", jobId=job["jobId"], changeCount=0, timeout=0)["jobState"] == final["jobState"]
    )
    with pytest.raises(RpcError) as late:
        engine.call("job.cancel", jobId=job["jobId"])
    assert late.value.data["name"] == "BG_E_INVALID_STATE"


def test_engine_stopped_gracefully_mid_transfer_resumes_exactly_where_it_stopped(
    engine_factory: Any, nginx: Nginx, www: Path, dest: Path
) -> None:
    size = 12 * MIB
    random_file(www / "g.bin", size)
    engine = engine_factory().start()
    job = create(engine, [(nginx.url("slow/g.bin"), dest / "g.bin")])
    wait_until(lambda: engine.call("job.get", jobId=job["jobId"])["bytesTransferred"] > 3 * MIB, what="3 MiB")
    before_stop = engine.call("job.get", jobId=job["jobId"])["bytesTransferred"]
    assert engine.stop() == 0
    engine.start()
    done = wait_job(engine, job["jobId"])
    assert done["jobState"] == "Transferred", done
    engine.call("job.complete", jobId=job["jobId"])
    assert sha256(dest / "g.bin") == sha256(www / "g.bin")
    resumed = [r for r in nginx.log() if r[0] == "GET"][-1]
    resumed_from = int(resumed[2].removeprefix("bytes=").rstrip("-"))
    assert resumed_from >= before_stop  # the stop persisted the exact progress, not a 4 MiB checkpoint
    assert resumed[4] == size - resumed_from


def test_file_added_to_a_transferred_job_is_fetched_after_resume(
    engine: Any, nginx: Nginx, www: Path, dest: Path
) -> None:
    random_file(www / "1.bin", 1000)
    random_file(www / "2.bin", 2000)
    job = create(engine, [(nginx.url("1.bin"), dest / "1.bin")])
    assert wait_job(engine, job["jobId"])["jobState"] == "Transferred"
    added = engine.call(
        "job.addFile", jobId=job["jobId"], remoteUrl=nginx.url("2.bin"), localPath=str(dest / "2.bin")
    )
    assert (added["jobState"], added["filesTotal"], added["filesTransferred"]) == ("Transferred", 2, 1)
    assert engine.call("job.resume", jobId=job["jobId"])["jobState"] == "Queued"
    done = wait_job(engine, job["jobId"])
    assert (done["jobState"], done["filesTransferred"]) == ("Transferred", 2)
    engine.call("job.complete", jobId=job["jobId"])
    assert sha256(dest / "2.bin") == sha256(www / "2.bin")
    assert [r[1] for r in nginx.log() if r[0] == "GET"].count("/1.bin") == 1
