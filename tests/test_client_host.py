"""The BITS client against our own file host: one engine publishes files and downloads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import free_port
from test_client_support import random_file, sha256, wait_job, wait_until

MIB = 1024 * 1024


def publish(engine: Any, files: list[Path]) -> dict[str, str]:
    group = f"http://127.0.0.1:{free_port()}/Files/"
    engine.call("urlgroup.create", urlGroup=group)
    urls = {}
    for f in files:
        urls[f.name] = engine.call("url.create", urlGroup=group, urlSuffix=f.name, sourcePath=str(f))["url"]
    return urls


def test_multi_file_job_from_our_own_host_is_byte_identical(engine: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    files = [
        random_file(src / n, s) for n, s in (("one.bin", 2 * MIB + 3), ("two.bin", 10), ("three.bin", 0))
    ]
    urls = publish(engine, files)
    dest = tmp_path / "dest"
    dest.mkdir()
    job = engine.call(
        "job.create",
        files=[{"remoteUrl": urls[f.name], "localPath": str(dest / f.name)} for f in files],
        priority="Foreground",
    )
    done = wait_job(engine, job["jobId"])
    assert done["jobState"] == "Transferred", done
    engine.call("job.complete", jobId=job["jobId"])
    for f in files:
        assert sha256(dest / f.name) == sha256(f)


def test_suspended_download_from_our_host_resumes_with_a_range_request(engine: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    big = random_file(src / "big.bin", 6 * MIB)
    urls = publish(engine, [big])
    job = engine.call(
        "job.create",
        files=[{"remoteUrl": urls["big.bin"], "localPath": str(tmp_path / "big.bin")}],
        priority="Foreground",
        bandwidthLimit=2 * MIB,
    )
    wait_until(lambda: engine.call("job.get", jobId=job["jobId"])["bytesTransferred"] > MIB)
    paused = engine.call("job.suspend", jobId=job["jobId"])
    engine.call("job.set", jobId=job["jobId"], bandwidthLimit=0)
    engine.call("job.resume", jobId=job["jobId"])
    done = wait_job(engine, job["jobId"])
    assert done["jobState"] == "Transferred", done  # a 200 to the Range request would be Error 0x80200013
    assert paused["bytesTransferred"] > 0
    engine.call("job.complete", jobId=job["jobId"])
    assert sha256(tmp_path / "big.bin") == sha256(big)
