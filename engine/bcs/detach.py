"""``bcs serve --detach``: start the engine in the background, wait until it answers, report once.

Why the engine starts itself rather than being started by ``Start-Process``: a process started by
pwsh stays in pwsh's process group (Ctrl+C on a synchronous ``Start-BcsJob`` also killed the
engine) with its output piped through pwsh (closing the terminal stopped it). Here the engine gets
a session of its own (``setsid`` on Unix; a detached process in a new process group on Windows),
reads the null device and writes straight to ``engine-<pipe>.out``/``.err``; the launcher waits
until ``server.status`` answers, prints ONE JSON line and exits, so a script reads one answer:

    {"status": {...server.status...}}                       exit 0
    {"error": {"message", "hresult", "name", "category", "errorId"}}   exit 1

``wait_for_exit`` is the other half: ``bcs stop`` and ``Stop-BcsServer`` return only once the
engine process is gone (listeners, jobs.db and the state-directory lock closed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bcs.errors import E_FAIL, ERROR_ALREADY_EXISTS, ERROR_TIMEOUT, Code, format_hresult
from bcs.rpc.client import RpcClient

__all__ = ["engine_log_paths", "process_exists", "start_detached", "wait_for_exit"]

_WINDOWS = sys.platform == "win32"
# Windows creation flags: no console, and not in the caller's process group (Ctrl+C stays there).
_DETACHED_PROCESS = 0x00000008
_CREATE_NEW_PROCESS_GROUP = 0x00000200


def engine_log_paths(log_dir: Path, pipe_name: str) -> tuple[Path, Path]:
    """``engine-<pipe>.out`` and ``.err`` in ``log_dir`` (characters a file name cannot hold become _)."""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", pipe_name)
    return log_dir / f"engine-{safe}.out", log_dir / f"engine-{safe}.err"


def _error(kind: Code, error_id: str, category: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "hresult": format_hresult(kind.hresult),
            "name": kind.name,
            "category": category,
            "errorId": error_id,
        }
    }


def _status(pipe_name: str) -> dict[str, Any] | None:
    """``server.status`` of the engine on ``pipe_name``; None when nothing answers."""
    try:
        with RpcClient(pipe_name, timeout=5) as client:
            result: dict[str, Any] = client.call("server.status")
            return result
    except Exception:
        return None


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def start_detached(command: list[str], pipe_name: str, log_dir: Path, timeout: float) -> tuple[int, str]:
    """Run ``command`` (a foreground ``bcs serve``) detached; wait until it answers on ``pipe_name``.

    Returns:
        The exit code for the launcher (0 ready, 1 not) and the one JSON line to print.
    """
    if _status(pipe_name) is not None:
        return 1, json.dumps(
            _error(
                ERROR_ALREADY_EXISTS,
                "Bcs.Server.AlreadyRunning",
                "ResourceExists",
                f"an engine already answers on pipe {pipe_name!r}; stop it or choose another pipe name",
            )
        )
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = engine_log_paths(log_dir, pipe_name)
    kwargs: dict[str, Any] = {}
    if _WINDOWS:
        kwargs["creationflags"] = _DETACHED_PROCESS | _CREATE_NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    with open(out_path, "ab") as out, open(err_path, "ab") as err:
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, close_fds=True, **kwargs
            )
        except OSError as exc:
            return 1, json.dumps(
                _error(E_FAIL, "Bcs.Server.StartFailed", "OpenError", f"cannot run {command[0]}: {exc}")
            )
    deadline = time.monotonic() + timeout
    while True:
        code = process.poll()
        if code is not None:
            detail = _tail(err_path)
            return 1, json.dumps(
                _error(
                    E_FAIL,
                    "Bcs.Server.StartFailed",
                    "OpenError",
                    f"the engine exited with code {code} while starting: {detail or '(no output)'}",
                )
            )
        # Not compared with process.pid: on Windows a venv's python.exe runs the engine as its child.
        status = _status(pipe_name)
        if status is not None:
            return 0, json.dumps(
                {"status": status}
            )  # ASCII: Windows PowerShell 5.1 reads native output in the OEM code page
        if time.monotonic() > deadline:
            return 1, json.dumps(
                _error(
                    ERROR_TIMEOUT,
                    "Bcs.Server.StartTimeout",
                    "OperationTimeout",
                    f"the engine (process {process.pid}) did not answer on pipe {pipe_name!r} within "
                    f"{timeout:g} s; see {err_path}",
                )
            )
        time.sleep(0.1)


def process_exists(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, exited but not yet reaped, counts as gone)."""
    if _WINDOWS:
        return _windows_process_exists(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill() said it exists


def _windows_process_exists(pid: int) -> bool:
    import ctypes

    synchronize, wait_timeout = 0x00100000, 0x102
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined,unused-ignore]
    handle = kernel32.OpenProcess(synchronize, False, pid)
    if not handle:
        return False
    try:
        return bool(kernel32.WaitForSingleObject(handle, 0) == wait_timeout)
    finally:
        kernel32.CloseHandle(handle)


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until process ``pid`` has exited; False when it still runs after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while process_exists(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
