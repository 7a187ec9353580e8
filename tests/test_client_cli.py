"""The ``bcs job ...`` command line against a real engine and nginx."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_client_support import Nginx, random_file, sha256

MIB = 1024 * 1024


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    www = tmp_path / "www"
    www.mkdir()
    random_file(www / "c.bin", 6 * MIB)
    server = Nginx(tmp_path / "nginx", www).start()
    yield server
    server.stop()


def bcs(engine: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bcs", "--pipe-name", engine.pipe_name, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_job_create_with_url_pairs_waits_with_a_progress_bar_and_completes(
    engine: Any, nginx: Nginx, tmp_path: Path
) -> None:
    target = tmp_path / "c.bin"
    done = bcs(
        engine,
        "--json",
        "job",
        "create",
        "--remote-url",
        nginx.url("slow/c.bin"),
        "--local-path",
        str(target),
        "--priority",
        "Foreground",
        "--display-name",
        "cli",
        "--wait",
        "--complete",
    )
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["jobState"] == "Acknowledged" and job["displayName"] == "cli"
    assert sha256(target) == sha256(tmp_path / "www" / "c.bin")
    assert "Transferring" in done.stderr and "100.0%" in done.stderr and "MiB/s" in done.stderr


def test_job_wait_on_a_failing_job_exits_1_with_the_hresult(
    engine: Any, nginx: Nginx, tmp_path: Path
) -> None:
    created = bcs(
        engine,
        "--json",
        "job",
        "create",
        "--remote-url",
        nginx.url("nothing-here"),
        "--local-path",
        str(tmp_path / "x"),
        "--priority",
        "Foreground",
    )
    assert created.returncode == 0, created.stderr
    job_id = json.loads(created.stdout)["jobId"]
    waited = bcs(engine, "job", "wait", "--job-id", job_id, "--timeout", "20")
    assert waited.returncode == 1
    assert "0x80190194" in waited.stderr
    listed = bcs(engine, "job", "list")
    assert listed.returncode == 0 and job_id in listed.stdout and "Error" in listed.stdout
    assert bcs(engine, "job", "suspend", "--job-id", job_id).returncode == 0
    cancelled = bcs(engine, "--json", "job", "cancel", "--job-id", job_id)
    assert json.loads(cancelled.stdout)["jobState"] == "Cancelled"
    again = bcs(engine, "job", "resume", "--job-id", job_id)
    assert again.returncode == 1 and "BG_E_INVALID_STATE" in again.stderr
