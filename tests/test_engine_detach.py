"""``bcs serve --detach`` (what Start-BcsServer runs) and ``bcs stop`` waiting for the process.

The engine must not live in its starter's process group (Ctrl+C in pwsh killed it) nor write
through its starter's pipes (closing the terminal stopped it); ``bcs stop`` must return only once
the engine has closed its listeners, jobs.db and the state-directory lock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bcs.detach import process_exists, wait_for_exit

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="process groups and sessions are Unix")


def bcs(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bcs", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def pipe_name() -> Iterator[str]:
    name = f"bcs-detach-{uuid.uuid4().hex[:10]}"
    yield name
    # Whatever a test left running: stop it (and never leave an engine behind).
    stopped = bcs("--pipe-name", name, "stop", "--timeout", "20")
    if stopped.returncode not in (0, 3):
        raise AssertionError(stopped.stderr)


def started(pipe_name: str, state: Path) -> dict[str, Any]:
    """The status of a detached engine that must have started."""
    code, answer = detach(pipe_name, state)
    assert code == 0, answer
    status: dict[str, Any] = answer["status"]
    return status


def detach(pipe_name: str, state: Path, *extra: str, new_group: bool = False) -> tuple[int, dict[str, Any]]:
    """Run the launcher (optionally in a process group of its own, as pwsh would be); its JSON line."""
    command = [sys.executable, "-m", "bcs", "--pipe-name", pipe_name, "serve", "--state-dir", str(state)]
    proc = subprocess.run(
        [*command, "--detach", "--no-demo", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        start_new_session=new_group,
    )
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout + proc.stderr
    return proc.returncode, json.loads(lines[0])


def test_detached_engine_has_its_own_session_and_writes_its_own_log_files(
    pipe_name: str, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    status = started(pipe_name, state)
    pid = status["pid"]
    assert status["pipeName"] == pipe_name and status["urlGroupCount"] == 0
    assert os.getsid(pid) == pid, "the engine leads a session of its own"
    assert os.getpgid(pid) != os.getpgid(0)
    assert (state / f"engine-{pipe_name}.out").exists()
    assert "engine ready" in (state / f"engine-{pipe_name}.err").read_text()
    # Its standard input is the null device and its output the files, not the launcher's pipes.
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{pid}/fd/2") == str(state / f"engine-{pipe_name}.err")


def test_ctrl_c_in_the_starting_shell_does_not_reach_the_engine(pipe_name: str, tmp_path: Path) -> None:
    # The launcher runs in a process group of its own, as a pwsh session would; SIGINT to that group
    # (Ctrl+C on a synchronous Start-BcsJob) and SIGHUP (the terminal closes) must leave the engine.
    shell = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            f"subprocess.run([sys.executable, '-m', 'bcs', '--pipe-name', {pipe_name!r}, 'serve', "
            f"'--state-dir', {str(tmp_path / 'state')!r}, '--detach', '--no-demo'], check=True); "
            "print('started', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert shell.stdout is not None
        assert "status" in json.loads(shell.stdout.readline())  # the launcher's one line
        assert shell.stdout.readline().strip() == "started"
        pid = json.loads(bcs("--pipe-name", pipe_name, "--json", "status").stdout)["pid"]
        os.killpg(shell.pid, signal.SIGINT)
        os.killpg(shell.pid, signal.SIGHUP)
        shell.wait(10)
        time.sleep(0.5)
        assert process_exists(pid)
        assert bcs("--pipe-name", pipe_name, "status").returncode == 0
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait()
        if shell.stdout is not None:
            shell.stdout.close()


def test_stop_returns_once_the_process_has_exited_and_the_state_dir_is_free(
    pipe_name: str, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    pid = started(pipe_name, state)["pid"]
    stopped = bcs("--pipe-name", pipe_name, "--json", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout) == {"stopping": True, "pid": pid}
    assert not process_exists(pid)
    # Listeners, jobs.db and the lock are closed: a new engine takes the same state directory at once.
    assert started(pipe_name, state)["pid"] != pid


def test_a_second_detached_engine_on_the_same_pipe_is_reported_as_already_running(
    pipe_name: str, tmp_path: Path
) -> None:
    started(pipe_name, tmp_path / "one")
    code, answer = detach(pipe_name, tmp_path / "two")
    assert code == 1
    assert answer["error"]["errorId"] == "Bcs.Server.AlreadyRunning"
    assert answer["error"]["hresult"] == "0x800700B7"
    assert not (tmp_path / "two").exists(), "nothing started"


def test_an_engine_that_cannot_start_is_reported_with_its_error(pipe_name: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "config.yaml").write_text("version: 1\nurlGroups:\n- urlGroup: 12\n")
    code, answer = detach(pipe_name, state)
    assert code == 1
    error = answer["error"]
    assert error["errorId"] == "Bcs.Server.StartFailed" and error["category"] == "OpenError"
    assert "urlGroups[0].urlGroup" in error["message"]


def test_wait_for_exit_sees_a_zombie_as_gone(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    stat = Path(f"/proc/{child.pid}/stat")
    while time.monotonic() < deadline and stat.read_text().split(")")[1].split()[0] != "Z":
        time.sleep(0.02)
    assert wait_for_exit(child.pid, 2)  # exited, not yet reaped by its parent
    child.wait()
    assert not process_exists(child.pid)
