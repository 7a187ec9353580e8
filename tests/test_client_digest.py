"""Integrity in the client (issue 16): files[].sha256 of a download job is checked before it is done.

A real engine hosts the files and runs the jobs. A matching digest completes as usual; another
content puts the job in Error with CRYPT_E_HASH_VALUE (context RemoteFile), keeps nothing (the
temporary file starts again) and can never be committed; the expected digest survives a restart.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from bcs.rpc.client import RpcError
from conftest import EngineProcess, free_port
from test_client_support import wait_job

CRYPT_E_HASH_VALUE = 0x80091007


@pytest.fixture
def hosted(engine: EngineProcess, tmp_path: Path) -> dict[str, Any]:
    port = free_port()
    www = tmp_path / "www"
    www.mkdir()
    data = os.urandom(3 * 1024 * 1024 + 5)
    (www / "a.bin").write_bytes(data)
    prefix = f"http://+:{port}/H/"
    engine.call("urlgroup.create", urlGroup=prefix)
    engine.call("url.create", urlGroup=prefix, urlSuffix="a.bin", sourcePath=str(www / "a.bin"), sha256=True)
    dest = tmp_path / "dest"
    dest.mkdir()
    return {
        "url": f"http://127.0.0.1:{port}/H/a.bin",
        "data": data,
        "sha256": hashlib.sha256(data).hexdigest(),
        "dest": dest,
    }


def test_a_matching_digest_completes(engine: EngineProcess, hosted: dict[str, Any]) -> None:
    target = hosted["dest"] / "a.bin"
    job = engine.call(
        "job.create",
        files=[{"remoteUrl": hosted["url"], "localPath": str(target), "sha256": hosted["sha256"].upper()}],
    )
    assert job["files"][0]["sha256"] == hosted["sha256"]  # kept in lower case
    wait_job(engine, job["jobId"], ("Transferred",))
    engine.call("job.complete", jobId=job["jobId"])
    assert target.read_bytes() == hosted["data"]


def test_other_content_fails_the_job_and_is_never_committed(
    engine: EngineProcess, hosted: dict[str, Any]
) -> None:
    target = hosted["dest"] / "a.bin"
    wrong = hashlib.sha256(b"something else").hexdigest()
    job = engine.call(
        "job.create", files=[{"remoteUrl": hosted["url"], "localPath": str(target), "sha256": wrong}]
    )
    failed = wait_job(engine, job["jobId"], ("Error",))
    assert int(failed["errorCode"], 16) == CRYPT_E_HASH_VALUE, failed
    assert failed["errorName"] == "CRYPT_E_HASH_VALUE" and failed["errorCategory"] == "InvalidData"
    assert failed["errorContext"] == "RemoteFile"
    assert wrong in failed["errorDescription"] and hosted["sha256"] in failed["errorDescription"]
    assert failed["files"][0]["bytesTransferred"] == 0  # nothing kept
    assert not target.exists()
    # Resume downloads it again and fails again: the content is still not the one asked for.
    engine.call("job.resume", jobId=job["jobId"])
    again = wait_job(engine, job["jobId"], ("Error",))
    assert int(again["errorCode"], 16) == CRYPT_E_HASH_VALUE
    # Complete in Error (as BITS allows) commits only files that passed: none here.
    done = engine.call("job.complete", jobId=job["jobId"])
    assert done["completeResult"] == "BG_S_PARTIAL_COMPLETE"
    assert list(hosted["dest"].iterdir()) == []  # no destination, no temporary file


def test_add_file_bad_input_and_persistence(
    engine: EngineProcess, hosted: dict[str, Any], tmp_path: Path
) -> None:
    job = engine.call("job.create", suspended=True)
    with pytest.raises(RpcError) as info:
        engine.call(
            "job.addFile",
            jobId=job["jobId"],
            remoteUrl=hosted["url"],
            localPath=str(hosted["dest"] / "x"),
            sha256="abc",
        )
    assert info.value.code == 0x80070057 and "64 hexadecimal digits" in info.value.message
    engine.call(
        "job.addFile",
        jobId=job["jobId"],
        remoteUrl=hosted["url"],
        localPath=str(hosted["dest"] / "a.bin"),
        sha256=hosted["sha256"],
    )
    engine.restart()
    got = engine.call("job.get", jobId=job["jobId"])
    assert got["files"][0]["sha256"] == hosted["sha256"]
    engine.call("job.resume", jobId=job["jobId"])
    wait_job(engine, job["jobId"], ("Transferred",))
    engine.call("job.complete", jobId=job["jobId"])
    assert (hosted["dest"] / "a.bin").read_bytes() == hosted["data"]
    # an upload job sends its file as it is: no expected digest there
    local = tmp_path / "up.bin"
    local.write_bytes(b"x")
    with pytest.raises(RpcError) as info:
        engine.call(
            "job.create",
            type="Upload",
            suspended=True,
            files=[{"remoteUrl": hosted["url"], "localPath": str(local), "sha256": hosted["sha256"]}],
        )
    assert "downloaded files only" in info.value.message
