"""The job model and lifecycle over RPC: states, the transition table, limits, persistence."""

from __future__ import annotations

import os
import socket
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bcs.client.job import TRANSITIONS, JobEvent, JobState, transition
from bcs.errors import InvalidStateError
from bcs.rpc.client import RpcError
from conftest import EngineProcess
from test_client_support import Nginx, random_file, wait_job, wait_until

MIB = 1024 * 1024


def rpc_error(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(RpcError) as info:
        call()
    data: dict[str, Any] = info.value.data
    return data


# --- the table itself ------------------------------------------------------------------------------


def test_transition_table_uses_the_bits_state_numbers() -> None:
    assert [(s.name, int(s)) for s in JobState] == [
        ("Queued", 0),
        ("Connecting", 1),
        ("Transferring", 2),
        ("Suspended", 3),
        ("Error", 4),
        ("TransientError", 5),
        ("Transferred", 6),
        ("Acknowledged", 7),
        ("Cancelled", 8),
    ]


def test_final_states_accept_no_event_and_raise_bg_e_invalid_state() -> None:
    events = {event for _, event in TRANSITIONS}
    for state in (JobState.Acknowledged, JobState.Cancelled):
        for event in events:
            with pytest.raises(InvalidStateError) as info:
                transition(state, event, "{X}")
            assert (
                info.value.code_name == "BG_E_INVALID_STATE" and info.value.error_id == "Bcs.Job.InvalidState"
            )


def test_scheduler_events_are_illegal_outside_the_action_states() -> None:
    with pytest.raises(InvalidStateError):
        transition(JobState.Suspended, JobEvent.CONNECT)
    with pytest.raises(InvalidStateError):
        transition(JobState.Error, JobEvent.FINISH)
    assert transition(JobState.TransientError, JobEvent.RETRY) is JobState.Queued


# --- a module engine and the servers that put jobs into each state ---------------------------------


class Silent:
    """A TCP listener that never answers: requests to it stay Connecting."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(200)
        self.port = self.sock.getsockname()[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("jobs")
    www = base / "www"
    www.mkdir()
    random_file(www / "small.bin", 1000)
    random_file(www / "big.bin", 64 * MIB)
    nginx = Nginx(base / "nginx", www).start()
    engine = EngineProcess(base / "state").start()
    silent = Silent()
    dest = base / "dest"
    dest.mkdir()
    # One High job that never gets an answer holds the only background slot: Normal jobs stay Queued.
    blocker = engine.call(
        "job.create",
        files=[{"remoteUrl": silent.url("block"), "localPath": str(dest / "block")}],
        priority="High",
    )
    try:
        yield {"engine": engine, "nginx": nginx, "silent": silent, "dest": dest, "blocker": blocker}
    finally:
        engine.stop()
        nginx.stop()
        silent.sock.close()


_counter = iter(range(10**6))


def job_in(world: dict[str, Any], state: str) -> dict[str, Any]:
    """A fresh job in ``state``."""
    engine: EngineProcess = world["engine"]
    nginx: Nginx = world["nginx"]
    n = next(_counter)
    dest: Path = world["dest"]

    def make(url: str, **params: Any) -> dict[str, Any]:
        params.setdefault("priority", "Foreground")
        job: dict[str, Any] = engine.call(
            "job.create", files=[{"remoteUrl": url, "localPath": str(dest / f"f{n}")}], **params
        )
        return job

    if state == "Suspended":
        return make(nginx.url("small.bin"), suspended=True)
    if state == "Queued":
        job = make(nginx.url("small.bin"), priority="Normal")
        time.sleep(0.2)
    elif state == "Connecting":
        job = make(world["silent"].url(f"c{n}"))
    elif state == "Transferring":
        job = make(nginx.url("slow/big.bin"))
        wait_until(lambda: engine.call("job.get", jobId=job["jobId"])["bytesTransferred"] > 0)
    elif state == "TransientError":
        job = make(nginx.url("status503/x"))
    elif state == "Error":
        job = make(nginx.url("missing"))
    elif state == "Transferred":
        job = make(nginx.url("small.bin"))
    elif state in ("Acknowledged", "Cancelled"):
        job = make(nginx.url("small.bin"), suspended=True)
        engine.call("job.complete" if state == "Acknowledged" else "job.cancel", jobId=job["jobId"])
        return job
    else:
        raise AssertionError(state)
    got = wait_job(engine, job["jobId"], (state,), timeout=20)
    time.sleep(0.1)
    assert engine.call("job.get", jobId=job["jobId"])["jobState"] == state
    return got


# state -> expected result of (suspend, resume, cancel, complete): a state name or an HRESULT name.
MATRIX = {
    "Suspended": ("Suspended", "Queued", "Cancelled", "Acknowledged"),
    "Queued": ("Suspended", "Queued", "Cancelled", "Acknowledged"),
    "Connecting": ("Suspended", "Connecting", "Cancelled", "Acknowledged"),
    "Transferring": ("Suspended", "Transferring", "Cancelled", "Acknowledged"),
    "TransientError": ("Suspended", "Queued", "Cancelled", "Acknowledged"),
    "Error": ("Suspended", "Queued", "Cancelled", "Acknowledged"),
    "Transferred": ("Suspended", "Transferred", "Cancelled", "Acknowledged"),
    "Acknowledged": ("BG_E_INVALID_STATE",) * 4,
    "Cancelled": ("BG_E_INVALID_STATE",) * 4,
}
OPS = ("suspend", "resume", "cancel", "complete")


@pytest.mark.parametrize("state", list(MATRIX))
def test_suspend_resume_cancel_complete_in_every_state(world: dict[str, Any], state: str) -> None:
    engine: EngineProcess = world["engine"]
    for op, expected in zip(OPS, MATRIX[state], strict=True):
        job = job_in(world, state)
        if expected.startswith("BG_E_"):
            data = rpc_error(lambda op=op, job=job: engine.call(f"job.{op}", jobId=job["jobId"]))
            assert data["name"] == expected, (state, op)
            assert data["hresult"] == "0x80200002"
            continue
        result = engine.call(f"job.{op}", jobId=job["jobId"])
        assert result["jobState"] == expected, (state, op, result)
        if state in ("Error", "TransientError"):
            assert job["errorCode"] is not None
        if expected not in ("Error", "TransientError"):
            assert result["errorCode"] is None, "the error object exists only in Error/TransientError"
        if op == "complete":
            partial = state != "Transferred"
            assert result["completeResult"] == ("BG_S_PARTIAL_COMPLETE" if partial else "S_OK")
            assert Path(result["files"][0]["localPath"]).exists() is (not partial)
        if op in ("cancel", "complete"):
            assert not Path(result["files"][0]["temporaryName"]).exists()
            assert job["jobId"] not in [j["jobId"] for j in engine.call("job.list")]
        if op not in ("cancel", "complete"):
            engine.call("job.cancel", jobId=job["jobId"])


def test_set_and_add_file_on_a_final_job_are_bg_e_invalid_state(world: dict[str, Any]) -> None:
    engine: EngineProcess = world["engine"]
    job = job_in(world, "Cancelled")
    assert engine.call("job.wait", jobId=job["jobId"], changeCount=0, timeout=0)["jobState"] == "Cancelled"
    assert (
        rpc_error(lambda: engine.call("job.set", jobId=job["jobId"], priority="Low"))["name"]
        == "BG_E_INVALID_STATE"
    )
    data = rpc_error(
        lambda: engine.call(
            "job.addFile", jobId=job["jobId"], remoteUrl="http://127.0.0.1/x", localPath="/tmp/x"
        )
    )
    assert data["name"] == "BG_E_INVALID_STATE"


def test_queued_jobs_run_by_priority_when_the_slot_frees(world: dict[str, Any]) -> None:
    engine: EngineProcess = world["engine"]
    low = job_in(world, "Queued")
    engine.call("job.set", jobId=low["jobId"], priority="Low")
    normal = job_in(world, "Queued")
    engine.call("job.suspend", jobId=world["blocker"]["jobId"])
    first = wait_job(engine, normal["jobId"], ("Transferred",), timeout=20)
    assert engine.call("job.get", jobId=low["jobId"])["jobState"] in (
        "Queued",
        "Connecting",
        "Transferring",
        "Transferred",
    )
    wait_job(engine, low["jobId"], ("Transferred",), timeout=20)
    assert (
        first["transferCompletionTime"]
        <= engine.call("job.get", jobId=low["jobId"])["transferCompletionTime"]
    )
    engine.call("job.resume", jobId=world["blocker"]["jobId"])
    for j in (low, normal):
        engine.call("job.cancel", jobId=j["jobId"])


# --- creation, limits, properties --------------------------------------------------------------------


def test_created_job_carries_the_bits_fields_and_a_braced_upper_case_id(
    engine: EngineProcess, tmp_path: Path
) -> None:
    job = engine.call(
        "job.create",
        displayName="named",
        description="d" * 1024,
        files=[{"remoteUrl": "http://127.0.0.1:9/a", "localPath": str(tmp_path / "a")}],
        suspended=True,
        customHeaders=["X-Test: 1"],
    )
    assert (
        job["jobId"].startswith("{") and job["jobId"].endswith("}") and job["jobId"] == job["jobId"].upper()
    )
    assert (job["jobState"], job["jobStateValue"]) == ("Suspended", 3)
    assert (job["transferType"], job["priority"], job["owner"]) == ("Download", "Normal", "root")
    assert (job["bytesTotal"], job["bytesTransferred"], job["filesTotal"], job["filesTransferred"]) == (
        -1,
        0,
        1,
        0,
    )
    assert (job["minimumRetryDelay"], job["noProgressTimeout"], job["maxDownloadTime"]) == (
        600,
        1209600,
        7776000,
    )
    assert job["errorCode"] is None and job["transientErrorCount"] == 0
    temp = job["files"][0]["temporaryName"]
    assert os.path.dirname(temp) == str(tmp_path) and os.path.basename(temp).startswith(".BIT")
    # The plain GUID form finds the same job.
    assert engine.call("job.get", jobId=job["jobId"].strip("{}").lower())["jobId"] == job["jobId"]


def test_limits_display_name_description_retry_floor_and_empty_resume(
    engine: EngineProcess, tmp_path: Path
) -> None:
    too_long = rpc_error(lambda: engine.call("job.create", displayName="x" * 257, suspended=True))
    assert too_long["name"] == "E_INVALIDARG"
    assert (
        rpc_error(lambda: engine.call("job.create", description="x" * 1025, suspended=True))["name"]
        == "E_INVALIDARG"
    )
    assert (
        rpc_error(lambda: engine.call("job.create", minimumRetryDelay=4, suspended=True))["name"]
        == "E_INVALIDARG"
    )
    job = engine.call("job.create", suspended=True, minimumRetryDelay=5)
    assert job["minimumRetryDelay"] == 5
    assert rpc_error(lambda: engine.call("job.resume", jobId=job["jobId"]))["name"] == "BG_E_EMPTY"
    assert engine.call("job.get", jobId=job["jobId"])["jobState"] == "Suspended"
    assert rpc_error(lambda: engine.call("job.create", files=[]))["name"] == "BG_E_EMPTY"
    bad_url = rpc_error(
        lambda: engine.call(
            "job.addFile", jobId=job["jobId"], remoteUrl="ftp://x/y", localPath=str(tmp_path / "y")
        )
    )
    assert bad_url["name"] == "E_INVALIDARG"
    relative = rpc_error(
        lambda: engine.call("job.addFile", jobId=job["jobId"], remoteUrl="http://127.0.0.1/y", localPath="y")
    )
    assert relative["name"] == "E_INVALIDARG"
    no_folder = rpc_error(
        lambda: engine.call(
            "job.addFile",
            jobId=job["jobId"],
            remoteUrl="http://127.0.0.1/y",
            localPath=str(tmp_path / "no" / "y"),
        )
    )
    assert no_folder["hresult"] == "0x80070003"


def test_upload_jobs_take_exactly_one_existing_file_and_are_stored(
    engine: EngineProcess, tmp_path: Path
) -> None:
    source = tmp_path / "u"
    missing = rpc_error(
        lambda: engine.call(
            "job.create",
            type="Upload",
            files=[{"remoteUrl": "http://127.0.0.1:9/up", "localPath": str(source)}],
            suspended=True,
        )
    )
    assert missing["name"] == "ERROR_FILE_NOT_FOUND"
    source.write_bytes(b"x" * 1000)
    two = rpc_error(
        lambda: engine.call(
            "job.create",
            type="Upload",
            files=[
                {"remoteUrl": "http://127.0.0.1:9/up", "localPath": str(source)},
                {"remoteUrl": "http://127.0.0.1:9/up2", "localPath": str(source)},
            ],
        )
    )
    assert two["name"] == "BG_E_TOO_MANY_FILES"
    reply_on_upload = rpc_error(
        lambda: engine.call(
            "job.create",
            type="Upload",
            files=[{"remoteUrl": "http://127.0.0.1:9/up", "localPath": str(source)}],
            replyFileName=str(tmp_path / "reply"),
            suspended=True,
        )
    )
    assert reply_on_upload["name"] == "E_INVALIDARG"
    job = engine.call(
        "job.create",
        type="Upload",
        files=[{"remoteUrl": "http://127.0.0.1:9/up", "localPath": str(source)}],
        suspended=True,
    )
    assert (job["transferType"], job["transferTypeValue"]) == ("Upload", 1)
    assert (job["bytesTotal"], job["bytesTransferred"], job["replyFileName"]) == (1000, 0, None)
    data = rpc_error(
        lambda: engine.call(
            "job.addFile", jobId=job["jobId"], remoteUrl="http://127.0.0.1:9/2", localPath=str(tmp_path / "v")
        )
    )
    assert data["name"] == "BG_E_TOO_MANY_FILES"
    assert rpc_error(lambda: engine.call("job.complete", jobId=job["jobId"]))["name"] == "BG_E_INVALID_STATE"
    reply = engine.call(
        "job.create",
        type="UploadReply",
        files=[{"remoteUrl": "http://127.0.0.1:9/up", "localPath": str(source)}],
        suspended=True,
    )
    assert reply["replyFileName"] == f"{source}.{reply['jobId'][1:9]}.reply"
    assert reply["replyBytesTotal"] == -1
    engine.restart()
    assert engine.call("job.get", jobId=job["jobId"])["transferType"] == "Upload"
    again = engine.call("job.get", jobId=reply["jobId"])
    assert (again["transferType"], again["replyFileName"], again["replyData"]) == (
        "UploadReply",
        reply["replyFileName"],
        None,
    )


def test_passwords_are_never_returned_and_jobs_db_is_private(engine: EngineProcess, tmp_path: Path) -> None:
    job = engine.call(
        "job.create",
        suspended=True,
        credentials=[{"scheme": "Basic", "userName": "alice", "password": "s3cret-pw"}],
    )
    assert job["credentials"] == [{"target": "Server", "scheme": "Basic", "userName": "alice"}]
    assert "s3cret-pw" not in repr(engine.call("job.list"))
    assert "s3cret-pw" not in engine.output()
    db = engine.state_dir / "jobs.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for side in ("jobs.db-wal", "jobs.db-shm"):  # SQLite gives its side files the database's mode
        if (engine.state_dir / side).exists():
            assert stat.S_IMODE((engine.state_dir / side).stat().st_mode) == 0o600, side
    data = rpc_error(
        lambda: engine.call("job.set", jobId=job["jobId"], credentials=[{"scheme": "Basic", "userName": "a"}])
    )
    assert data["name"] == "E_INVALIDARG"


def test_jobs_and_their_settings_survive_an_engine_restart(engine: EngineProcess, tmp_path: Path) -> None:
    job = engine.call(
        "job.create",
        displayName="persist",
        files=[{"remoteUrl": "http://127.0.0.1:9/p", "localPath": str(tmp_path / "p")}],
        suspended=True,
        priority="Low",
        minimumRetryDelay=42,
        proxyUsage="Override",
        proxyList=["http://127.0.0.1:3128"],
        proxyBypass=["<local>"],
    )
    engine.restart()
    again = engine.call("job.get", jobId=job["jobId"])
    for key in (
        "displayName",
        "priority",
        "minimumRetryDelay",
        "proxyUsage",
        "proxyList",
        "proxyBypass",
        "files",
        "creationTime",
    ):
        assert again[key] == job[key], key
    assert again["jobState"] == "Suspended"
    assert [j["jobId"] for j in engine.call("job.list", name="pers*")] == [job["jobId"]]
    assert engine.call("job.list", name="other*") == []


def test_proxy_settings_are_validated(engine: EngineProcess) -> None:
    assert (
        rpc_error(lambda: engine.call("job.create", suspended=True, proxyUsage="Override"))["name"]
        == "BG_E_INVALID_PROXY_INFO"
    )
    bad = rpc_error(
        lambda: engine.call("job.create", suspended=True, proxyUsage="Override", proxyList=["ftp://x:1"])
    )
    assert bad["name"] == "BG_E_INVALID_PROXY_INFO"
    huge = rpc_error(lambda: engine.call("job.create", suspended=True, proxyList=["h:1"] * 9000))
    assert huge["name"] == "BG_E_PROXY_LIST_TOO_LARGE"
