"""A Python replay of ``pester/ScheduledTask.Tests.ps1`` (Register-/Unregister-BcsScheduledTask).

Task Scheduler exists only on Windows and PowerShell cannot run here, so this replays what can be:
the task's command line is read from the cmdlet's syntax tree (the ``$arguments`` it builds for
the bound parameters, joined and quoted as the cmdlet joins them) and run the way Task Scheduler
runs an action (a process of its own, no console input): the engine must answer on its pipe with
the state directory and pipe name given, and exit 0 when Stop-BcsServer's ``server.stop`` comes,
so the task ends as succeeded instead of being restarted. The task's trigger, settings and
principal, and the not-supported error off Windows, are checked on the syntax tree; the Pester
file asserts the same on Windows (registered task) and Linux (the error). Keep both in step.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import tree_sitter

import powershell_static as ps
from bcs.detach import wait_for_exit
from bcs.rpc.client import RpcClient

FUNCTIONS = ps.module_functions()
REGISTER = FUNCTIONS["Register-BcsScheduledTask"]
UNREGISTER = FUNCTIONS["Unregister-BcsScheduledTask"]
PESTER = ps.ROOT / "pester" / "ScheduledTask.Tests.ps1"


def _condition(f: ps.Function, node: tree_sitter.Node) -> str | None:
    """The variable of the nearest enclosing ``if ($Var)``, if any."""
    n = node.parent
    while n is not None and n is not f.node:
        if n.type == "if_statement":
            cond = next((c for c in n.children if c.type == "pipeline"), None)
            m = re.fullmatch(r"\$(\w+)", ps.text(f.source, cond).strip()) if cond is not None else None
            assert m, f"{f.line_of(n)}: the condition around $arguments must be one variable"
            return m.group(1)
        n = n.parent
    return None


def task_arguments(values: dict[str, Any]) -> list[str]:
    """The words Register-BcsScheduledTask puts in ``$arguments`` for these variable values."""
    words: list[str] = []
    for n in ps.walk(REGISTER.node):
        if n.type != "assignment_expression":
            continue
        left, op, value = n.children[0], n.children[1], n.children[-1]
        if ps.text(REGISTER.source, left).strip() != "$arguments":
            continue
        guard = _condition(REGISTER, n)
        if guard is not None and not values.get(guard):
            continue
        items = re.findall(r"'([^']*)'|\$(\w+)", ps.text(REGISTER.source, value))
        new = [literal if not var else str(values[var]) for literal, var in items]
        words = new if ps.text(REGISTER.source, op) == "=" else words + new
    return words


def task_command_line(values: dict[str, Any]) -> str:
    """``-Argument`` of New-ScheduledTaskAction: words with blanks in double quotes, as the cmdlet does."""
    return " ".join(f'"{w}"' if re.search(r"\s", w) else w for w in task_arguments(values))


def _wait_status(pipe: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"the task's engine exited with {proc.returncode}")
        try:
            with RpcClient(pipe, timeout=5) as client:
                status: dict[str, Any] = client.call("server.status")
                return status
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_pester_file_exists_and_names_what_this_replays() -> None:
    text = PESTER.read_text()
    for needed in (
        "Bcs.ScheduledTask.NotSupported",
        "bcs service install --systemd",
        "MSFT_TaskBootTrigger",
        "ExecutionTimeLimit",
        "Stop-BcsServer",
        "LastTaskResult",
        "Unregister-BcsScheduledTask",
    ):
        assert needed in text, needed


@pytest.mark.skipif(sys.platform == "win32", reason="the replay runs the engine the Unix way")
@pytest.mark.parametrize("state_name", ["task-state", "task state"])
def test_the_task_action_runs_the_engine_in_the_foreground_and_it_exits_0_on_stop(
    tmp_path: Path, state_name: str
) -> None:
    pipe = f"bcs-task-{uuid.uuid4().hex[:10]}"
    state = tmp_path / state_name
    values = {
        "PipeName": pipe,
        "StateDirectory": str(state),
        "stateDirectoryArgument": str(state),
        "NoDemo": True,
    }
    line = task_command_line(values)
    # It 'registers a startup task ...': the Arguments Pester expects of the registered task.
    quoted = f'"{state}"' if " " in str(state) else str(state)
    assert line == f"-m bcs --pipe-name {pipe} serve --state-dir {quoted} --no-demo"
    assert "--detach" not in line, "the task's process must be the engine itself"
    # It 'starts the engine ... and ends the task when Stop-BcsServer stops it'.
    proc = subprocess.Popen(
        [sys.executable, *shlex.split(line)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not in this test's process group, as a task is not in pwsh's
    )
    try:
        status = _wait_status(pipe, proc)
        assert (status["stateDir"], status["pipeName"], status["urlGroupCount"]) == (str(state), pipe, 0)
        with RpcClient(pipe, timeout=10) as client:
            pid = client.call("server.stop")["pid"]
        assert pid == proc.pid
        assert wait_for_exit(pid, 30)
        assert proc.wait(30) == 0  # LastTaskResult 0: Task Scheduler does not restart it
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_without_a_state_directory_or_no_demo_the_engine_defaults_apply() -> None:
    assert task_arguments({"PipeName": "BitsCompactServer"}) == [
        "-m",
        "bcs",
        "--pipe-name",
        "BitsCompactServer",
        "serve",
    ]


def _calls(f: ps.Function, name: str) -> list[dict[str, str]]:
    out = []
    for n in ps.walk(f.node):
        if n.type == "command" and f._command_name(n) == name:
            out.append({k: ps.text(f.source, v) for k, v in ps._command_arguments(f.source, n).items()})
    return out


def test_the_task_starts_at_boot_without_a_time_limit_as_a_service_account_by_default() -> None:
    # It 'registers a startup task running the engine in the foreground as SYSTEM with no time limit'.
    (trigger,) = _calls(REGISTER, "New-ScheduledTaskTrigger")
    assert set(trigger) == {"-atstartup"}
    (settings,) = _calls(REGISTER, "New-ScheduledTaskSettingsSet")
    assert settings["-executiontimelimit"] == "([System.TimeSpan]::Zero)"  # PT0S: Task Scheduler's 72 h off
    assert settings["-multipleinstances"] == "IgnoreNew"
    (principal,) = _calls(REGISTER, "New-ScheduledTaskPrincipal")
    assert principal == {"-userid": "$account", "-logontype": "$logonType", "-runlevel": "$RunLevel"}
    user = REGISTER.parameter("User")
    assert user is not None and user.default == "'SYSTEM'"
    source = REGISTER.source.decode()
    assert "$logonType = 'ServiceAccount'" in source and "$RunLevel = 'Highest'" in source
    (action,) = _calls(REGISTER, "New-ScheduledTaskAction")
    assert action == {"-execute": "$python.Path", "-argument": "$argumentLine"}


def test_off_windows_both_cmdlets_stop_first_with_not_supported_pointing_to_systemd() -> None:
    # Describe 'Register-BcsScheduledTask off Windows'.
    helper = FUNCTIONS["Assert-BcsScheduledTaskSupported"]
    source = helper.source.decode()
    assert "-ErrorId 'Bcs.ScheduledTask.NotSupported' -Category 'NotImplemented'" in source
    assert "use 'bcs service install --systemd'" in source
    assert "$Cmdlet.ThrowTerminatingError($record)" in source and "Test-BcsWindows" in source
    for f in (REGISTER, UNREGISTER):
        first = next(name for name, _ in f.commands())
        assert first == "Assert-BcsScheduledTaskSupported", f"{f.name} must check the platform first"
    # Nothing changes before ShouldProcess approves (Register returns early when it does not).
    for name, node in UNREGISTER.commands():
        if name == "Unregister-ScheduledTask":
            assert ps._inside_should_process(UNREGISTER, node), UNREGISTER.line_of(node)
    approved = REGISTER.source.index(
        b"if (-not $PSCmdlet.ShouldProcess($TaskName, $action)) {\n        return\n    }"
    )
    changing = [
        n for name, n in REGISTER.commands() if name in ("Register-ScheduledTask", "Start-ScheduledTask")
    ]
    assert len(changing) == 2 and all(approved < n.start_byte for n in changing)
