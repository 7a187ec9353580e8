"""Local-file failures of download jobs: a full disk, a destination folder that vanishes."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bcs.rpc.client import RpcError
from test_client_support import Nginx, random_file, wait_job, wait_until

MIB = 1024 * 1024


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    www = tmp_path / "www"
    www.mkdir()
    random_file(www / "four.bin", 4 * MIB)
    random_file(www / "big.bin", 32 * MIB)
    server = Nginx(tmp_path / "nginx", www).start()
    yield server
    server.stop()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (we are root); skipped where mounting is not allowed."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mnt
    if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_is_a_transient_error_with_disk_full_hresult_and_local_file_context(
    engine: Any, nginx: Nginx, tiny_disk: Path
) -> None:
    job = engine.call(
        "job.create",
        files=[{"remoteUrl": nginx.url("four.bin"), "localPath": str(tiny_disk / "four.bin")}],
        priority="Foreground",
        minimumRetryDelay=5,
    )
    failed = wait_job(engine, job["jobId"], ("TransientError", "Error"), timeout=20)
    assert failed["jobState"] == "TransientError"
    assert failed["errorCode"] == "0x80070070"
    assert failed["errorName"] == "ERROR_DISK_FULL"
    assert (failed["errorContext"], failed["errorContextValue"]) == ("LocalFile", 4)
    assert failed["errorFileIndex"] == 0
    assert 0 < failed["bytesTransferred"] < 4 * MIB
    assert not (tiny_disk / "four.bin").exists()
    engine.call("job.cancel", jobId=job["jobId"])
    assert list(tiny_disk.iterdir()) == []  # Cancel removed the temporary file


def test_destination_folder_deleted_mid_transfer_puts_the_job_in_error_with_path_not_found(
    engine: Any, nginx: Nginx, tmp_path: Path
) -> None:
    folder = tmp_path / "vanishing"
    folder.mkdir()
    job = engine.call(
        "job.create",
        files=[{"remoteUrl": nginx.url("slow/big.bin"), "localPath": str(folder / "big.bin")}],
        priority="Foreground",
    )
    wait_until(lambda: engine.call("job.get", jobId=job["jobId"])["bytesTransferred"] > MIB)
    shutil.rmtree(folder)
    failed = wait_job(engine, job["jobId"], ("Error", "TransientError"), timeout=20)
    assert failed["jobState"] == "Error"
    assert failed["errorCode"] == "0x80070003"
    assert failed["errorContext"] == "LocalFile"
    # Recreate the folder and resume: the file starts again from 0 in a new temporary file.
    folder.mkdir()
    engine.call("job.resume", jobId=job["jobId"])
    running = wait_job(engine, job["jobId"], ("Transferring",), timeout=20)
    assert running["errorCode"] is None
    wait_until(lambda: Path(running["files"][0]["temporaryName"]).exists())
    assert Path(running["files"][0]["temporaryName"]).stat().st_size < failed["bytesTransferred"] + MIB
    engine.call("job.cancel", jobId=job["jobId"])
    assert list(folder.iterdir()) == []


def test_complete_into_a_vanished_folder_fails_and_leaves_the_job_transferred(
    engine: Any, nginx: Nginx, tmp_path: Path
) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    job = engine.call(
        "job.create",
        files=[{"remoteUrl": nginx.url("four.bin"), "localPath": str(folder / "four.bin")}],
        priority="Foreground",
    )
    assert wait_job(engine, job["jobId"])["jobState"] == "Transferred"
    shutil.rmtree(folder)
    with pytest.raises(RpcError) as info:
        engine.call("job.complete", jobId=job["jobId"])
    assert info.value.data["hresult"] in ("0x80070003", "0x80070002")
    assert engine.call("job.get", jobId=job["jobId"])["jobState"] == "Transferred"
    engine.call("job.cancel", jobId=job["jobId"])
